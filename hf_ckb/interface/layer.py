"""Modules that wrap a host's function and route it through an interface (PEFT's `layer.py` role).

Every wrapper runs in one of four modes, set on the shared `InterfaceContext`:

- `host`: the original function only (interfaces disabled);
- `interface`: the active interface replaces the function (a recurrent one runs on its own states);
- `import`: both run on the same input; the pair (interface output, function output) is recorded with the
  function's side detached, and the host continues with its own output (so everything after the function is
  teacher-forced, and a recurrent cell is trained on all time steps in parallel);
- `export`: the same, but the interface side is detached: the function learns to imitate the interface.
"""

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .attention import CKBAttention
from .reads import SlotReads

MODES = ("host", "interface", "import", "export")


@dataclass
class Record:
    """One (prediction, target) pair from a forward in import/export mode; `mask` marks real positions."""

    name: str
    prediction: torch.Tensor  # (B, T, out)
    target: torch.Tensor  # (B, T, out)
    mask: torch.Tensor | None  # (B, T)


@dataclass
class InterfaceContext:
    """State shared by an `InterfaceModel` and all of its wrappers for one forward."""

    mode: str = "interface"
    attention_mask: torch.Tensor | None = None  # the host's (B, T) mask, captured by a pre-hook
    causal: bool = False
    records: list[Record] = field(default_factory=list)
    attention: dict[str, torch.Tensor] = field(default_factory=dict)
    keep_attention: bool = False
    # {interface name: SlotReads}: when set, import-mode forwards add what each interface reads in the CKB (teacher-
    # forced, real positions only: import packs padded rows out), see `hf_ckb.interface.reads`
    reads: dict[str, SlotReads] | None = None


class StackModule(nn.Module):
    """A `ModuleList` of layers run in sequence, so a whole decoder/encoder stack is one function to imitate."""

    def __init__(self, layers: nn.ModuleList):
        super().__init__()
        self.layers = layers

    def forward(self, hidden_states, *args, **kwargs):
        out = hidden_states
        for layer in self.layers:
            out = layer(hidden_states, *args, **kwargs)
            hidden_states = out[0] if isinstance(out, tuple) else out
        return out


def first_tensor(out) -> torch.Tensor:
    """The hidden states inside a module's output: a tensor, a tuple's first item or a ModelOutput's first field."""
    if isinstance(out, torch.Tensor):
        return out
    return out[0]


class InterfaceLayer(nn.Module):
    """Base wrapper: holds the original module and one `CKBAttention` block per named interface."""

    def __init__(self, base_layer: nn.Module, ckb: nn.Module, context: InterfaceContext):
        super().__init__()
        self.base_layer = base_layer
        self.interfaces = nn.ModuleDict()
        self.active_interface: str | None = None
        # Shared objects, not submodules: the CKB is owned (and saved) once by the InterfaceModel.
        self.__dict__["ckb"] = ckb
        self.__dict__["context"] = context

    def add_interface(self, name: str, block: CKBAttention) -> None:
        self.interfaces[name] = block
        self.active_interface = name

    def block_forward(self, x: torch.Tensor, mask=None, causal=False, memory=None, pack=False) -> torch.Tensor:
        """The active interface on rows `x` `(N, T, in)`; keeps its high-level attention if asked. `pack`: compute
        only real rows' queries (padded positions of the result are zeros), see `CKBAttention.forward`."""
        block = self.interfaces[self.active_interface]
        low, high = self.ckb.low_level, self.ckb.high_level
        if self.context.reads is not None and self.context.mode == "import":
            reads = self.context.reads.setdefault(self.active_interface, SlotReads())
            return block(x, low, high, mask=mask, causal=causal, memory=memory, pack=pack, reads=reads)
        if not self.context.keep_attention:
            return block(x, low, high, mask=mask, causal=causal, memory=memory, pack=pack)
        y, probs = block(x, low, high, mask=mask, causal=causal, return_attention=True, memory=memory)
        self.context.attention[self.active_interface] = probs.detach()
        return y

    def forward(self, *args, **kwargs):
        mode = self.context.mode
        if mode == "host" or self.active_interface is None:
            return self.base_layer(*args, **kwargs)
        if mode == "interface":
            return self.interface_forward(args, kwargs)
        training_interface = mode == "import"
        with torch.set_grad_enabled(torch.is_grad_enabled() and not training_interface):
            out = self.base_layer(*args, **kwargs)
        with torch.set_grad_enabled(torch.is_grad_enabled() and training_interface):
            prediction = self.parallel_forward(args, kwargs, out)
        target = self.target_of(out)
        if training_interface:
            target = target.detach()
        else:
            prediction, target = target, prediction.detach()
        self.context.records.append(Record(self.active_interface, prediction, target, self.positions_mask(target)))
        return out

    def rows_forward(self, rows: torch.Tensor) -> torch.Tensor:
        """A local interface on every position's row: `(B, T, in)` -> `(B, T, out)`, each row a query of its own.

        Only real positions are computed (padded rows are packed out, no loop): padding is often half of a batch and
        nothing reads those rows (the losses and the host mask them). Padded positions of the result are zeros."""
        B, T = rows.shape[:2]
        mask = self.positions_mask(rows)
        if mask is None or bool(mask.all()):
            return self.block_forward(rows.flatten(0, 1)[:, None]).view(B, T, -1)  # (B * T, 1, in) -> (B, T, out)
        keep = mask.bool()
        real = self.block_forward(rows[keep][:, None])[:, 0]  # (R, out), R real positions
        return real.new_zeros(B, T, real.shape[-1]).index_put((keep,), real)

    def positions_mask(self, y: torch.Tensor) -> torch.Tensor | None:
        mask = self.context.attention_mask
        if mask is not None and tuple(mask.shape) == tuple(y.shape[:2]):
            return mask
        return None

    def target_of(self, out) -> torch.Tensor:
        return first_tensor(out)

    @staticmethod
    def function_input(args, kwargs) -> torch.Tensor:
        """The `(B, T, in)` rows the host passed to its function (what `parallel_forward((x,), {}, target)` reads):
        the first argument, or `hidden_states=` as Transformer layers are also called."""
        return args[0] if args else kwargs["hidden_states"]

    # Subclasses: widths(args, kwargs, out) -> (in, out); parallel_forward; interface_forward.


class SequenceInterfaceLayer(InterfaceLayer):
    """A function `(B, T, in) -> (B, T, out)` such as a Transformer layer or stack; masks follow the host."""

    output_template = None  # how the base layer returns its result, recorded whenever it runs

    def widths(self, args, kwargs, out):
        return self.function_input(args, kwargs).shape[-1], first_tensor(out).shape[-1]

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        if self.context.mode != "interface":
            self.output_template = out
        return out

    def parallel_forward(self, args, kwargs, out=None):
        x = self.function_input(args, kwargs)
        # import/export only read real positions (the losses are masked): padded queries are skipped there
        pack = self.context.mode in ("import", "export")
        return self.block_forward(x, self.positions_mask(x), self.context.causal, pack=pack)

    def interface_forward(self, args, kwargs):
        y = self.parallel_forward(args, kwargs)
        template = self.output_template
        if template is None or isinstance(template, torch.Tensor):
            return y
        if isinstance(template, tuple):
            return (y,) + (None,) * (len(template) - 1)
        return type(template)(**{next(iter(template.keys())): y})  # a ModelOutput


class RecurrentInterfaceLayer(InterfaceLayer):
    """A batch-first `nn.GRU`-like module `x -> (states, h_n)`, imitated by its cell `(x_t, h_{t-1}) -> h_t`.

    Trained teacher-forced (all t in parallel, fed the host's own `h_{t-1}`); run recurrently on its own states.
    """

    def widths(self, args, kwargs, out):
        return self.function_input(args, kwargs).shape[-1] + first_tensor(out).shape[-1], first_tensor(out).shape[-1]

    def parallel_forward(self, args, kwargs, out):
        x, states = self.function_input(args, kwargs), first_tensor(out)  # (B, T, E), (B, T, H)
        previous = F.pad(states[:, :-1], (0, 0, 1, 0))  # h_{t-1}, with h_0 = 0
        return self.rows_forward(torch.cat([x, previous], dim=-1))  # rows (B, T, E + H)

    def interface_forward(self, args, kwargs):
        x = self.function_input(args, kwargs)  # (B, T, E)
        block = self.interfaces[self.active_interface]
        h = x.new_zeros(x.shape[0], block.out_proj.out_features)
        memory = block.project_memory(self.ckb.low_level, self.ckb.high_level)  # the same for every step
        bound = self.state_bound()
        states = []
        for t in range(x.shape[1]):  # recurrence: each step needs the previous output
            h = self.block_forward(torch.cat([x[:, t], h], dim=-1)[:, None], memory=memory)[:, 0]
            if bound is not None:
                h = h.clamp(-bound, bound)
            states.append(h)
        return torch.stack(states, dim=1), h[None]

    def state_bound(self) -> float | None:
        """The range of the host's states where it is known: a GRU's (or tanh RNN's) lie in [-1, 1]. Running on its
        own states, the interface's small errors feed back; unbounded, a rare input drove them to inf (NaN logits),
        so the fed-back state is kept in the range the host's own states have."""
        layer = self.base_layer
        if isinstance(layer, nn.GRU) or (isinstance(layer, nn.RNN) and layer.nonlinearity == "tanh"):
            return 1.0
        return None


class WindowInterfaceLayer(InterfaceLayer):
    """A per-position function of the window `x[t : t + w]` (end-padded with zeros): a CNN's convolutions."""

    def __init__(self, base_layer, ckb, context, window_size: int):
        super().__init__(base_layer, ckb, context)
        self.window_size = window_size

    def widths(self, args, kwargs, out):
        return self.function_input(args, kwargs).shape[-1] * self.window_size, first_tensor(out).shape[-1]

    def parallel_forward(self, args, kwargs, out=None):
        x = self.function_input(args, kwargs)  # (B, T, E)
        windows = F.pad(x, (0, 0, 0, self.window_size - 1)).unfold(1, self.window_size, 1)  # (B, T, E, w)
        return self.rows_forward(windows.transpose(-1, -2).flatten(-2))  # rows (B, T, w * E), in window order

    def interface_forward(self, args, kwargs):
        return self.parallel_forward(args, kwargs)


class LookupInterfaceLayer(InterfaceLayer):
    """An embedding table `ids (B, T) -> rows (B, T, out)` (`nn.Embedding`), imitated row by row from a fixed code of
    each token id: the interface reads the store at addresses that depend on the token alone.

    Why: the word embeddings are where much of a small network's knowledge sits (a newcomer given a trained host's
    embeddings learns from a tenth of the labels about as well as the host, `benchmarks/knowledge`), and every
    network that shares a tokenizer can address a store by token id. The code is the same for every network and
    every process: `CODE_SEED`'s normal draw, one row of width `d` (the CKB width) per id, rebuilt, never saved."""

    CODE_SEED = 0

    def __init__(self, base_layer: nn.Module, ckb, context):
        super().__init__(base_layer, ckb, context)
        if not isinstance(base_layer, nn.Embedding):
            raise ValueError(f"A 'lookup' interface imitates an nn.Embedding, got {type(base_layer).__name__}.")
        generator = torch.Generator().manual_seed(self.CODE_SEED)
        codes = torch.randn(base_layer.num_embeddings, ckb.config.hidden_size, generator=generator)
        self.register_buffer("codes", codes.to(ckb.low_level.device), persistent=False)

    def widths(self, args, kwargs, out):
        return self.codes.shape[1], first_tensor(out).shape[-1]

    def parallel_forward(self, args, kwargs, out=None):
        ids = args[0] if args else kwargs["input"]
        return self.rows_forward(self.codes[ids])  # (B, T, d) codes -> (B, T, out)

    def interface_forward(self, args, kwargs):
        return self.parallel_forward(args, kwargs)


LAYER_CLASSES = {"sequence": SequenceInterfaceLayer, "recurrent": RecurrentInterfaceLayer,
                 "window": WindowInterfaceLayer, "lookup": LookupInterfaceLayer}
