"""`InterfaceModel`: a host model with interfaces to a shared CKB (PEFT's `PeftModel` role)."""

import contextlib
import os
import tempfile

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..ckb import CKBModel
from ..utils import atomic_file
from .attention import CKBAttention
from .config import INTERFACE_WEIGHTS_NAME, InterfaceConfig
from .hub_io import interface_folder, upload_folder_to_hub
from .memory import MemoryAttention
from .product_keys import ProductKeyAttention, check_store
from .layer import LAYER_CLASSES, MODES, InterfaceContext, InterfaceLayer, StackModule
from .targets import default_target

CAUSAL_MODEL_TYPES = {"gpt2", "gpt_neo", "gpt_neox", "gptj", "llama", "mistral", "qwen2", "qwen3", "phi", "phi3",
                      "gemma", "gemma2", "gemma3_text", "olmo", "olmo2", "falcon", "bloom", "opt", "smollm3"}
# What each parameter of an InterfaceModel is (see `InterfaceModel.named_parameters_by_role`).
PARAMETER_ROLES = ("interface", "function", "ckb", "host")


class CKBMismatchError(ValueError):
    """An interface was loaded against a CKB other than the one it was trained with."""


def is_causal(host: nn.Module) -> bool:
    config = getattr(host, "config", None)
    if config is None:
        return False
    return bool(getattr(config, "is_decoder", False)) or getattr(config, "model_type", None) in CAUSAL_MODEL_TYPES


def _probe_inputs(host: nn.Module) -> dict:
    vocab = getattr(getattr(host, "config", None), "vocab_size", None) or 100
    ids = torch.arange(1, 9).remainder(vocab - 1).add(1)[None].repeat(2, 1)  # (2, 8), no pad id 0
    device = next(host.parameters()).device
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}


class InterfaceModel(nn.Module):
    r"""
    A host model whose function(s) can be routed through interfaces to a shared [`CKBModel`].

    Use [`get_interface_model`] to build one. The host keeps its embeddings and head; only the target function
    is imitated. `model(**batch)` runs the host in the current mode (see `hf_ckb.interface.layer`).
    """

    def __init__(self, host: nn.Module, ckb: CKBModel, config: InterfaceConfig, interface_name: str = "default"):
        super().__init__()
        self.base_model = host
        self.ckb = ckb
        self.interface_configs: dict[str, InterfaceConfig] = {}
        self.context = InterfaceContext(causal=is_causal(host))
        self._hook = host.register_forward_pre_hook(self._capture_mask, with_kwargs=True)
        try:
            self.add_interface(interface_name, config)
        except Exception:
            self.unload()  # a failed attach must leave the host as it was (no wrapper, no hook)
            raise

    # ----------------------------------------------------------------------------------------------- building
    def _capture_mask(self, module, args, kwargs):
        self.context.attention_mask = kwargs.get("attention_mask")

    def _resolve(self, path: str) -> tuple[nn.Module, str, nn.Module]:
        parent_path, _, attr = path.rpartition(".")
        try:
            parent = self.base_model.get_submodule(parent_path) if parent_path else self.base_model
            module = getattr(parent, attr) if attr.isidentifier() else parent[int(attr)]
        except (AttributeError, IndexError, ValueError) as err:
            names = [n for n, _ in self.base_model.named_children()]
            raise ValueError(f"{type(self.base_model).__name__} has no module {path!r} "
                             f"(its top-level modules: {names}).") from err
        if not isinstance(module, nn.Module):
            raise ValueError(f"{path!r} in {type(self.base_model).__name__} is not a module.")
        return parent, attr, module

    def _wrap(self, config: InterfaceConfig) -> InterfaceLayer:
        parent, attr, module = self._resolve(config.target_module)
        if isinstance(module, InterfaceLayer):
            return module
        if isinstance(module, nn.ModuleList) and len(module) == 1 and isinstance(module[0], InterfaceLayer):
            return module[0]
        layer_cls = LAYER_CLASSES[config.function_kind]
        extra = {"window_size": config.window_size} if config.function_kind == "window" else {}
        if isinstance(module, nn.ModuleList):  # a whole stack: the host's loop now calls the wrapper once
            wrapper = layer_cls(StackModule(module), self.ckb, self.context, **extra)
            setattr(parent, attr, nn.ModuleList([wrapper]))
        else:
            wrapper = layer_cls(module, self.ckb, self.context, **extra)
            setattr(parent, attr, wrapper) if attr.isidentifier() else parent.__setitem__(int(attr), wrapper)
        return wrapper

    def _probe_widths(self, wrapper: InterfaceLayer) -> tuple[int, int]:
        seen = {}

        def hook(module, args, kwargs, out):
            seen["widths"] = wrapper.widths(args, kwargs, out)

        handle = wrapper.base_layer.register_forward_hook(hook, with_kwargs=True)
        try:
            with torch.no_grad(), self.mode("host"):
                self.base_model(**_probe_inputs(self.base_model))
        finally:
            handle.remove()
        if "widths" not in seen:
            raise ValueError("The target module was never called by the host's forward: wrong target_module?")
        return seen["widths"]

    def add_interface(self, name: str, config: InterfaceConfig) -> None:
        """Attaches a new interface `name` (trainable, randomly initialised) and makes it the active one. As
        PEFT's `add_adapter`, it freezes the host: only interfaces and the CKB are left trainable."""
        if name in self.interface_configs:
            raise ValueError(f"An interface named {name!r} already exists.")
        if config.target_module is None or config.function_kind is None:
            path, kind, window = default_target(self.base_model)
            config.target_module = config.target_module or path
            config.function_kind = config.function_kind or kind
            config.window_size = config.window_size or window
            config.__post_init__()
        wrapper = self._wrap(config)
        widths = self._probe_widths(wrapper)
        for given, found, what in zip((config.in_features, config.out_features), widths, ("input", "output")):
            if given is not None and given != found:
                raise ValueError(f"Interface {name!r}: {config.target_module!r} has {what} width {found}, "
                                 f"but the config says {given}.")
        config.in_features, config.out_features = widths
        if config.causal is None:
            config.causal = self.context.causal
        if config.intermediate_size is None:
            sequence = config.function_kind == "sequence" and config.design == "paper"  # the others have no FFN
            config.intermediate_size = 4 * self.ckb.config.hidden_size if sequence else 0
        config.ckb_hidden_size = self.ckb.config.hidden_size
        config.host_model_id = config.host_model_id or getattr(self.base_model, "name_or_path", None) or None
        sizes = (config.in_features, config.out_features, self.ckb.config.hidden_size, config.num_heads,
                 config.intermediate_size, config.dropout)
        carry = config.out_features if config.function_kind == "recurrent" else 0  # see hf_ckb.interface.memory
        if config.design == "memory":
            block = MemoryAttention(*sizes, carry=carry)
        elif config.design == "sparse":
            c = self.ckb.config
            check_store(c.num_low_level, c.low_level_size, c.high_level_size, c.hidden_size)
            block = ProductKeyAttention(*sizes, carry=carry, top_k=config.top_k)
        else:
            block = CKBAttention(*sizes)
        block.to(device=self.ckb.low_level.device)
        wrapper.add_interface(name, block)
        self.interface_configs[name] = config
        self.context.causal = config.causal
        self._freeze_host_parameters()

    def _freeze_host_parameters(self) -> None:
        """What `get_peft_model` does to the base model: every host parameter (its imitated functions included) is
        frozen; interfaces and the CKB keep their flags (a new interface's block is trainable)."""
        groups = self.named_parameters_by_role()
        for param in [*groups["host"].values(), *groups["function"].values()]:
            param.requires_grad = False

    # ----------------------------------------------------------------------------------------------- using
    def interface_layers(self) -> list[InterfaceLayer]:
        return [m for m in self.base_model.modules() if isinstance(m, InterfaceLayer)]

    def set_interface(self, name: str) -> None:
        """Makes `name` the active interface of the wrapper(s) that hold it."""
        if name not in self.interface_configs:
            raise ValueError(f"No interface {name!r}; have {sorted(self.interface_configs)}.")
        for layer in self.interface_layers():
            if name in layer.interfaces:
                layer.active_interface = name

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        self.context.mode = mode

    @contextlib.contextmanager
    def mode(self, mode: str):
        """Context manager: run in `mode` ('host', 'interface', 'import', 'export'), then restore."""
        previous = self.context.mode
        self.set_mode(mode)
        try:
            yield self
        finally:
            self.context.mode = previous

    def disable_interfaces(self):
        """Context manager in which the host runs with its original functions."""
        return self.mode("host")

    def forward(self, *args, **kwargs):
        self.context.records = []
        return self.base_model(*args, **kwargs)

    @property
    def records(self):
        """(prediction, target) pairs of the last forward in 'import' or 'export' mode."""
        return self.context.records

    def named_parameters_by_role(self) -> dict[str, dict[str, nn.Parameter]]:
        """Every parameter (named as in `named_parameters()`, each once) under its role, found by visiting the
        interface layers, never by name (a PEFT-wrapped host has `base_layer`s of its own): 'interface' (the
        `CKBAttention` blocks), 'function' (each wrapper's `base_layer`, the imitated function, which trains on
        export), 'ckb' (the shared CKB) and 'host' (the rest of the host: embeddings, head, LoRA weights...)."""
        layers = self.interface_layers()
        role_of = {}
        # later roles win: a block inside another wrapper's function is an interface, the CKB is never a function
        for role, modules in (("function", [layer.base_layer for layer in layers]),
                              ("interface", [layer.interfaces for layer in layers]), ("ckb", [self.ckb])):
            role_of.update((id(param), role) for module in modules for param in module.parameters())
        groups = {role: {} for role in PARAMETER_ROLES}
        for name, param in self.named_parameters():
            groups[role_of.get(id(param), "host")][name] = param
        return groups

    def freeze_host(self) -> None:
        """Import setting: the host is frozen, the CKB and every interface train."""
        for role, params in self.named_parameters_by_role().items():
            for param in params.values():
                param.requires_grad = role in ("ckb", "interface")

    def interface_blocks(self, name: str | None = None) -> list[CKBAttention]:
        """The `CKBAttention` blocks of interface `name` (of all interfaces if None)."""
        return [block for layer in self.interface_layers() for block_name, block in layer.interfaces.items()
                if name is None or block_name == name]

    def interface_parameters(self, name: str | None = None) -> dict[str, torch.Tensor]:
        """The parameters of interface `name` (all interfaces if None), keyed relative to their block."""
        out = {}
        for layer in self.interface_layers():
            for block_name, block in layer.interfaces.items():
                if name is None or block_name == name:
                    out.update({f"{block_name}.{k}": v for k, v in block.state_dict().items()})
        return out

    def get_nb_trainable_parameters(self) -> tuple[int, int]:
        """`(trainable, all)` parameter counts; a parameter shared by several modules (the CKB) counts once."""
        params = list(self.parameters())  # deduplicated by identity
        return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)

    def print_trainable_parameters(self) -> None:
        """Prints the trainable and total parameter counts, as PEFT's `print_trainable_parameters`."""
        trainable, total = self.get_nb_trainable_parameters()
        print(f"trainable params: {trainable:,d} || all params: {total:,d} || "
              f"trainable%: {100 * trainable / total:.4f}")

    def unload(self) -> nn.Module:
        """Removes every interface and hook, putting the original modules back; returns the plain host. As with
        PEFT's `unload`, the host's parameters keep their `requires_grad` flags (frozen when the interface was
        attached)."""
        restored = set()  # wrappers already taken out with their ModuleList (a wrapped stack)
        for name, module in list(self.base_model.named_modules()):
            if isinstance(module, nn.ModuleList) and len(module) == 1 and isinstance(module[0], InterfaceLayer):
                original = module[0].base_layer
                self._replace(name, original.layers if isinstance(original, StackModule) else original)
                restored.add(id(module[0]))
            elif isinstance(module, InterfaceLayer) and name and id(module) not in restored:
                self._replace(name, module.base_layer)
        self._hook.remove()
        self.interface_configs.clear()
        return self.base_model

    def _replace(self, path: str, module: nn.Module) -> None:
        parent_path, _, attr = path.rpartition(".")
        parent = self.base_model.get_submodule(parent_path) if parent_path else self.base_model
        setattr(parent, attr, module) if attr.isidentifier() else parent.__setitem__(int(attr), module)

    # ----------------------------------------------------------------------------------------------- saving
    def save_pretrained(self, save_directory: str, interface_names: list[str] | None = None) -> None:
        """Writes each interface as `interface_config.json` + `interface_model.safetensors` (the default one at the
        top, others in sub-folders), recording the host id, the CKB's fingerprint and, when the CKB came unchanged
        from the Hub, its commit sha (`ckb_revision`). Each file is written atomically."""
        fingerprint, revision = self.ckb.fingerprint(), ckb_revision(self.ckb)
        for name in interface_names or list(self.interface_configs):
            config = self.interface_configs[name]
            if config.ckb_fingerprint != fingerprint or revision:  # a known revision is only kept for the same CKB
                config.ckb_revision = revision
            config.ckb_fingerprint = fingerprint
            target = save_directory if name == "default" else os.path.join(save_directory, name)
            weights = {k.split(".", 1)[1]: v.detach().contiguous() for k, v in self.interface_parameters(name).items()}
            with atomic_file(os.path.join(target, INTERFACE_WEIGHTS_NAME)) as tmp:
                save_file(weights, tmp, metadata={"format": "pt"})
            config.save_pretrained(target)

    def push_to_hub(self, repo_id: str, interface_names: list[str] | None = None, *, subfolder: str | None = None,
                    revision: str | None = None, private: bool | None = None, token: str | None = None,
                    commit_message: str | None = None, create_pr: bool = False):
        """Pushes the interfaces (as `save_pretrained` writes them, not the host) to `repo_id`, under `subfolder`
        (e.g. `"interfaces/rnn"` in a bundle repo), creating the repo and the branch `revision` if needed. Returns
        the `CommitInfo`."""
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, interface_names)
            return upload_folder_to_hub(tmp, repo_id, path_in_repo=subfolder, revision=revision, private=private,
                                        token=token, create_pr=create_pr,
                                        commit_message=commit_message or "Upload hf_ckb interface")

    @classmethod
    def from_pretrained(cls, host: nn.Module, ckb: CKBModel, directory: str, interface_name: str = "default",
                        allow_ckb_mismatch: bool = False, *, is_trainable: bool = False,
                        subfolder: str | None = None, revision: str | None = None,
                        token: str | None = None) -> "InterfaceModel":
        """Attaches a saved interface to `host` against `ckb`; a CKB other than the recorded one is an error
        (`CKBMismatchError`) unless `allow_ckb_mismatch=True`. `directory` is a folder or a Hub repo id (only the
        interface's two files in `subfolder` are downloaded, at `revision`).

        As in PEFT, the host is frozen and the loaded interface is frozen and in eval mode, for inference, unless
        `is_trainable=True`. The CKB's flags are left as they are: it is shared with other interface models."""
        directory = interface_folder(directory, subfolder=subfolder, revision=revision, token=token)
        config = InterfaceConfig.from_pretrained(directory)
        check_ckb(config, ckb, directory, allow_ckb_mismatch)
        model = cls(host, ckb, config, interface_name)
        model._finish_loading(interface_name, directory, is_trainable)
        return model

    def load_interface(self, directory: str, interface_name: str, allow_ckb_mismatch: bool = False, *,
                       is_trainable: bool = False, subfolder: str | None = None, revision: str | None = None,
                       token: str | None = None) -> None:
        """Adds a saved interface (a folder or a Hub repo id, see `from_pretrained`) under `interface_name`; frozen,
        and the model put in eval mode, unless `is_trainable=True` (PEFT's `load_adapter`)."""
        directory = interface_folder(directory, subfolder=subfolder, revision=revision, token=token)
        config = InterfaceConfig.from_pretrained(directory)
        check_ckb(config, self.ckb, directory, allow_ckb_mismatch)
        self.add_interface(interface_name, config)
        self._finish_loading(interface_name, directory, is_trainable)

    def _finish_loading(self, name: str, directory: str, is_trainable: bool) -> None:
        self.load_interface_weights(name, directory)
        if not is_trainable:
            for block in self.interface_blocks(name):
                block.requires_grad_(False)
            self.eval()  # no dropout at inference, as PEFT's from_pretrained / load_adapter

    def load_interface_weights(self, name: str, directory: str) -> None:
        path = os.path.join(directory, INTERFACE_WEIGHTS_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No {INTERFACE_WEIGHTS_NAME} in {directory!r}.")
        try:
            state = load_file(path)
        except Exception as err:  # safetensors raises its own error types for truncated/corrupted files
            raise ValueError(f"Could not read {path}: the file is corrupted ({err}).") from err
        for layer in self.interface_layers():
            if name in layer.interfaces:
                try:
                    layer.interfaces[name].load_state_dict(state)
                except RuntimeError as err:
                    raise ValueError(f"The weights in {path} do not fit interface {name!r}: {err}") from err


def check_ckb(config: InterfaceConfig, ckb: CKBModel, directory: str, allow_mismatch: bool) -> None:
    """Raises `CKBMismatchError` when `ckb` is not the one `config` was trained against."""
    if config.ckb_hidden_size is not None and config.ckb_hidden_size != ckb.config.hidden_size:
        raise CKBMismatchError(f"The interface in {directory!r} needs a CKB of width {config.ckb_hidden_size}, "
                               f"this CKB has width {ckb.config.hidden_size}.")
    found = ckb.fingerprint()
    if config.ckb_fingerprint and config.ckb_fingerprint != found and not allow_mismatch:
        saved_at = f" (revision {config.ckb_revision} of its Hub repo)" if config.ckb_revision else ""
        raise CKBMismatchError(
            f"The interface in {directory!r} was trained with CKB {config.ckb_fingerprint}, but this CKB is "
            f"{found}. Load the CKB saved with it{saved_at}, or pass allow_ckb_mismatch=True to pair them anyway.")


def ckb_revision(ckb: CKBModel) -> str | None:
    """The Hub commit sha `ckb` was loaded from (transformers' `config._commit_hash`), if its weights have not changed
    since; else None."""
    sha = getattr(ckb.config, "_commit_hash", None)
    return sha if sha and ckb.config.fingerprint == ckb.fingerprint() else None


def get_interface_model(host: nn.Module, ckb: CKBModel | None = None, config: InterfaceConfig | None = None,
                        interface_name: str = "default") -> InterfaceModel:
    """Wraps `host` with a new interface to `ckb` (a fresh CKB with the paper's small sizes if None), freezing the
    host as `peft.get_peft_model` freezes its base model: the interface and the CKB are what trains (import). The
    argument order is that of `InterfaceModel(host, ckb, config)` and `InterfaceModel.from_pretrained(host, ckb,
    path)`."""
    if ckb is None:
        from ..ckb import CKBConfig

        ckb = CKBModel(CKBConfig())
    return InterfaceModel(host, ckb, config or InterfaceConfig(), interface_name)
