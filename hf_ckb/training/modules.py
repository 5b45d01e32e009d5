"""What the Trainer trains: one CKB and several networks with interfaces, with every network's loss in one forward.

Import (Eq. 13-18): hosts frozen, CKB + interfaces train, losses summed over networks.
Export (Eq. 19-21): CKB + interfaces frozen, each target network's function trains to imitate its interface.
Computing all networks' losses inside one `forward` lets DDP see a single pass per step.
"""

import os

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import Dataset

from ..ckb import CKBModel
from ..interface import InterfaceModel
from ..utils import atomic_file
from .losses import imitation_loss

TRAINABLE_WEIGHTS_NAME = "trainable.safetensors"


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

    def set_trainable(self) -> None:
        """Import: only the CKB and the interfaces. Export: only each target network's imitated function."""
        for net in self.networks.values():
            for name, param in net.named_parameters():
                in_function = ".base_layer." in name
                in_interface = ".interfaces." in name or name.startswith("ckb.")
                # export: the function trains; so do embeddings/head that could not be copied from the source
                copied = getattr(net, "copied_from_source", None)
                outside = not in_function and not in_interface and copied is not None and name.removeprefix(
                    "base_model.") not in copied
                param.requires_grad = in_interface if self.mode == "import" else (in_function or outside)

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
            with net.mode(self.mode):
                net(input_ids=inputs["input_ids"], attention_mask=inputs.get("attention_mask"))
            parts[f"loss_{name}"] = sum(imitation_loss(r.prediction, r.target, r.mask, self.loss) for r in net.records)
        return {"loss": sum(parts.values()), **parts}

    # --------------------------------------------------------------------------------------------- checkpoints
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return {n: p.detach().contiguous() for n, p in self.named_parameters() if p.requires_grad}

    def save_checkpoint(self, directory: str) -> None:
        """What a checkpoint needs to resume: the trainable weights (CKB + interfaces on import, the target
        functions on export); plus the usable folders of `save_pretrained`."""
        with atomic_file(os.path.join(directory, TRAINABLE_WEIGHTS_NAME)) as tmp:
            save_file(self.trainable_state_dict(), tmp, metadata={"format": "pt", "mode": self.mode})
        self.save_pretrained(directory)

    def load_checkpoint(self, directory: str) -> None:
        path = os.path.join(directory, TRAINABLE_WEIGHTS_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{directory!r} is not an hf_ckb checkpoint: no {TRAINABLE_WEIGHTS_NAME}.")
        state = load_file(path)
        expected = set(self.trainable_state_dict())
        if set(state) != expected:
            raise ValueError(f"The checkpoint in {directory!r} does not fit these networks: it has "
                             f"{len(set(state) - expected)} unknown and lacks {len(expected - set(state))} tensors.")
        self.load_state_dict(state, strict=False)

    def save_pretrained(self, directory: str) -> None:
        """`ckb/` and `interfaces/<name>/` (import), or `networks/<name>/` standalone target networks (export)."""
        if self.mode == "import":
            self.ckb.save_pretrained(os.path.join(directory, "ckb"))
            for name, net in self.networks.items():
                net.save_pretrained(os.path.join(directory, "interfaces", name))
            return
        for name, net in self.networks.items():
            save_standalone(net, os.path.join(directory, "networks", name))


def standalone_state_dict(net: InterfaceModel) -> dict[str, torch.Tensor]:
    """The host's weights under its own names, as if no interface were attached (no copy of the host is made)."""
    out = {}
    for name, tensor in net.base_model.state_dict().items():
        if ".interfaces." in name:
            continue
        name = name.replace(".0.base_layer.layers.", ".")  # a wrapped ModuleList stack
        out[name.replace(".base_layer.", ".")] = tensor
    return out


def save_standalone(net: InterfaceModel, directory: str) -> None:
    """Saves the host of `net` as a plain `save_pretrained` folder that loads without hf_ckb's interfaces."""
    host = net.base_model
    fresh = type(host)(host.config)
    fresh.load_state_dict(standalone_state_dict(net))
    fresh.save_pretrained(directory)


class JointDataset(Dataset):
    """Zips several networks' datasets: item i is `{name: dataset_name[i mod len]}`; the longest sets the length.

    Each network keeps its own inputs and tokenizer (Eq. 16-18 train each network on its own data).
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
        items = {name: ds[index % len(ds)] for name, ds in self.datasets.items()}
        return {name: {c: item[c] for c in self.columns if c in item} for name, item in items.items()}


class JointCollator:
    """Pads each network's examples with its own tokenizer's collator: `{name: padded batch}`."""

    def __init__(self, collators: dict):
        self.collators = collators

    def __call__(self, examples: list[dict]) -> dict:
        return {name: collate([ex[name] for ex in examples]) for name, collate in self.collators.items()}
