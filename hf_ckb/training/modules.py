"""What the Trainer trains: one CKB and several networks with interfaces, with every network's loss in one forward.

Import (Eq. 13-18): hosts frozen, CKB + interfaces train, losses summed over networks.
Export (Eq. 19-21): CKB + interfaces frozen, each target network's function trains to imitate its interface.
Computing all networks' losses inside one `forward` lets DDP see a single pass per step.
"""

import functools

import torch
from torch import nn
from torch.utils.data import Dataset

from ..ckb import CKBModel
from ..interface import InterfaceModel
from ..interface.layer import LookupInterfaceLayer, Record
from .cache import TeacherCache
from .losses import imitation_loss
from .trainable_checkpoint import load_trainable_state_dict, save_trainable_state_dict, trainable_state_dict


class CKBTrainingModule(nn.Module):
    """A CKB and named `InterfaceModel`s that share it, run in 'import' or 'export' mode.

    Args:
        ckb: the shared CKB (the same object every interface model reads).
        networks: name -> InterfaceModel. In export mode each host is the *target* network whose function learns.
        mode: 'import' or 'export'.
        loss: the Δ of `hf_ckb.training.losses.LOSSES`.
    """

    def __init__(self, ckb: CKBModel, networks: dict[str, InterfaceModel], mode: str = "import", loss: str = "nmse"):
        super().__init__()
        if mode not in ("import", "export"):
            raise ValueError(f"mode must be 'import' or 'export', got {mode!r}.")
        for name, net in networks.items():
            if net.ckb is not ckb:
                raise ValueError(f"Network {name!r} reads another CKB: all networks must share one CKBModel.")
        self.ckb = ckb
        self.networks = nn.ModuleDict(networks)
        self.mode = mode
        self.loss = loss
        imitation_loss(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1), None, loss)  # fail early on a bad name
        self.set_trainable()
        self.teacher_cache: TeacherCache | None = None
        self._cache_hooks: dict = {}
        self._storing: tuple[str, list[int]] | None = None  # (network, example indices) of the batch being run
        self._cache_dtypes: dict[str, torch.dtype] = {}  # the dtype each host's function input had

    def set_trainable(self) -> None:
        """Import: only the CKB and the interfaces. Export: only each target network's imitated function, and the
        host parameters `prepare_export` could not copy from the source. Parameters are told apart by the module
        they belong to (`InterfaceModel.named_parameters_by_role`), so a PEFT-wrapped host is classified right."""
        trains = ("ckb", "interface") if self.mode == "import" else ("function",)
        for net in self.networks.values():
            copied = getattr(net, "copied_from_source", None)
            for role, params in net.named_parameters_by_role().items():
                for name, param in params.items():
                    # export: embeddings/head that could not be copied from the source train with the function
                    uncopied = (self.mode == "export" and role == "host" and copied is not None
                                and name.removeprefix("base_model.") not in copied)
                    param.requires_grad = role in trains or uncopied

    def train(self, mode: bool = True):
        """Only what learns leaves eval mode: frozen hosts must give the same targets every pass (no dropout)."""
        super().train(False)
        self.training = mode  # the module as a whole is "training"; its frozen parts are not
        if mode:
            for net in self.networks.values():
                for layer in net.interface_layers():
                    (layer.interfaces if self.mode == "import" else layer.base_layer).train()
        return self

    def forward(self, **batch) -> dict[str, torch.Tensor]:
        """`batch` maps each network's name to its own batch (`input_ids`, `attention_mask`). Returns the summed
        loss (Eq. 18) and each network's part as `loss_<name>`."""
        unknown = set(batch) - set(self.networks)
        if unknown:
            raise ValueError(f"Batch has networks {sorted(unknown)} this module does not know.")
        parts = {}
        for name, inputs in batch.items():
            net = self.networks[name]
            indices = inputs.get("index")
            indices = None if indices is None or name not in self._cache_hooks else indices.tolist()
            if indices is not None and self.teacher_cache.lookup(name, indices):
                self._cached_forward(name, indices)  # the host is skipped
            else:
                self._storing = (name, indices) if indices is not None else None
                try:
                    with net.mode(self.mode):
                        net(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"))
                finally:
                    self._storing = None
            parts[f"loss_{name}"] = sum(imitation_loss(r.prediction, r.target, r.mask, self.loss) for r in net.records)
        return {"loss": sum(parts.values()), **parts}

    def compile_interfaces(self, **options) -> None:
        """`torch.compile`s every interface block in place (dynamic shapes; weights and names unchanged). Off by
        default: on 2 CPU cores it made an interface step ~20% faster after about a minute of compiling per block
        (benchmarks/perf)."""
        for net in self.networks.values():
            for layer in net.interface_layers():
                for block in layer.interfaces.values():
                    block.compile(**{"dynamic": True, **options})

    # --------------------------------------------------------------------------------------------- teacher cache
    def enable_teacher_cache(self, max_bytes: int, dtype: torch.dtype | str = torch.bfloat16) -> TeacherCache:
        """Caches each frozen host function's (input, output) per example (batches carry `index`, see
        `JointDataset`): a batch whose examples are all cached skips the host and runs only the interface.

        Import mode only, with frozen hosts. A network whose interfaces sit in several wrappers is not cached."""
        assert self.mode == "import", "The teacher cache is only valid in import mode (the host must be fixed)."
        for name, net in self.networks.items():
            frozen = all(not p.requires_grad for n, p in net.named_parameters() if ".base_layer." in n)
            assert frozen, f"Network {name!r} has trainable host parameters: its outputs cannot be cached."
        self.disable_teacher_cache()
        self.teacher_cache = TeacherCache(max_bytes, dtype)
        for name, net in self.networks.items():
            wrappers = [w for w in net.interface_layers() if w.active_interface is not None]
            # a lookup's input is token ids (not rows a float cache keeps) and its host function is one gather
            if len(wrappers) == 1 and not isinstance(wrappers[0], LookupInterfaceLayer):
                hook = functools.partial(self._store_teacher, name, net)
                self._cache_hooks[name] = (wrappers[0], wrappers[0].register_forward_hook(hook, with_kwargs=True))
        return self.teacher_cache

    def disable_teacher_cache(self) -> None:
        for _, handle in self._cache_hooks.values():
            handle.remove()
        self._cache_hooks.clear()
        self.teacher_cache = None

    def _store_teacher(self, name, net, wrapper, args, kwargs, out):
        if self._storing is None or self._storing[0] != name or net.context.mode != "import":
            return
        x = wrapper.function_input(args, kwargs)
        self._cache_dtypes[name] = x.dtype
        self.teacher_cache.put_batch(name, self._storing[1], x, wrapper.target_of(out), net.context.attention_mask)

    def _cached_forward(self, name: str, indices: list[int]) -> None:
        """What 'import' mode records, from the cached function input and output: (prediction, target, mask)."""
        net = self.networks[name]
        wrapper = self._cache_hooks[name][0]
        x, target, mask = self.teacher_cache.get_batch(name, indices, self.ckb.low_level.device,
                                                       self._cache_dtypes.get(name, torch.float32))
        context = net.context
        context.records, context.attention_mask = [], mask
        with net.mode("import"):
            prediction = wrapper.parallel_forward((x,), {}, target)
        context.records.append(Record(wrapper.active_interface, prediction, target, wrapper.positions_mask(target)))

    # --------------------------------------------------------------------------------------------- checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """A copy of what trains (and what a checkpoint holds)."""
        return trainable_state_dict(self)

    def save_checkpoint(self, directory: str) -> None:
        """What a checkpoint needs to resume: the trainable weights (CKB + interfaces on import, the target
        functions on export). The usable result is the bundle the run writes at its end (`hf_ckb.bundle`)."""
        save_trainable_state_dict(self, directory, metadata={"mode": self.mode})

    def load_checkpoint(self, directory: str) -> None:
        load_trainable_state_dict(self, directory)


class JointDataset(Dataset):
    """Zips several networks' datasets: item i is `{name: dataset_name[i mod len]}`; the longest sets the length.

    Each network keeps its own inputs and tokenizer (Eq. 16-18 train each network on its own data). Each network's
    item also carries `index` (`i mod len`), the key of the teacher cache.
    """

    def __init__(self, datasets: dict[str, Dataset], columns=("input_ids", "attention_mask")):
        empty = [name for name, ds in datasets.items() if len(ds) == 0]
        if not datasets or empty:
            raise ValueError(f"Every network needs a non-empty dataset; empty: {empty or 'no datasets given'}.")
        self.datasets = datasets
        self.columns = columns

    def __len__(self) -> int:
        return max(len(ds) for ds in self.datasets.values())

    def __getitem__(self, index: int) -> dict:
        out = {}
        for name, ds in self.datasets.items():
            item = ds[index % len(ds)]
            out[name] = {**{c: item[c] for c in self.columns if c in item}, "index": index % len(ds)}
        return out


class JointCollator:
    """Pads each network's examples with its own tokenizer's collator: `{name: padded batch}`; example indices
    (`index`, from `JointDataset`) pass through as a `(B,)` tensor."""

    def __init__(self, collators: dict):
        self.collators = collators

    def __call__(self, examples: list[dict]) -> dict:
        out = {}
        for name, collate in self.collators.items():
            items = [ex[name] for ex in examples]
            indices = [item.get("index") for item in items]
            batch = collate([{k: v for k, v in item.items() if k != "index"} for item in items])
            if all(i is not None for i in indices):
                batch["index"] = torch.tensor(indices)
            out[name] = batch
        return out
