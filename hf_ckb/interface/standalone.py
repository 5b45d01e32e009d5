"""The host of an `InterfaceModel` as a plain network again: its own weights under its own names, no interface.

Used to save the hosts of a bundle (`hosts/<name>/`) and to return an exported network (PEFT's `merge_and_unload`
role): the result loads with `AutoModelFor...Classification.from_pretrained` where hf_ckb is not installed.
"""

import torch
from torch import nn


def standalone_state_dict(net) -> dict[str, torch.Tensor]:
    """The host's weights under its own names, as if no interface were attached (no copy of the host is made)."""
    out = {}
    for name, tensor in net.base_model.state_dict().items():
        if ".interfaces." in name:
            continue
        name = name.replace(".0.base_layer.layers.", ".")  # a wrapped ModuleList stack
        out[name.replace(".base_layer.", ".")] = tensor
    return out


def standalone_network(net) -> nn.Module:
    """A fresh copy of `net`'s host (same class and config) holding the host's own weights, in eval mode; `net` is
    left untouched (its interfaces stay attached)."""
    host = net.base_model
    fresh = type(host)(host.config)
    fresh.load_state_dict(standalone_state_dict(net))
    return fresh.to(next(host.parameters()).device).eval()


__all__ = ["standalone_network", "standalone_state_dict"]
