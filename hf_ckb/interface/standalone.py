"""The host of an `InterfaceModel` as a plain network again: its own weights under its own names, no interface.

Used to save the hosts of a bundle (`hosts/<name>/`) and to return an exported network (PEFT's `merge_and_unload`
role): the result loads with `AutoModelFor...Classification.from_pretrained` where hf_ckb is not installed. A
`lookup` interface (a store of word embeddings) exports exactly, with no training (`export_lookup`).
"""

import torch
from torch import nn

from .layer import LookupInterfaceLayer
from .targets import input_embeddings


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


def is_lookup(net) -> bool:
    """Whether every interface of `net` is a `lookup` (a function of the token id alone, so exported exactly)."""
    layers = list(net.interface_layers())
    return bool(layers) and all(isinstance(layer, LookupInterfaceLayer) for layer in layers)


@torch.no_grad()
def export_lookup(net) -> nn.Module:
    """A standalone copy of `net`'s host whose word embeddings are its lookup interface read for every token id: the
    exact export of a store of word embeddings (the interface reads nothing but the token id)."""
    (layer,) = [layer for layer in net.interface_layers() if isinstance(layer, LookupInterfaceLayer)]
    ids = torch.arange(layer.base_layer.num_embeddings, device=layer.codes.device)
    previous, net.context.attention_mask = net.context.attention_mask, None
    try:
        with net.mode("interface"):
            table = layer(ids[None])[0]
    finally:
        net.context.attention_mask = previous
    exported = standalone_network(net)
    input_embeddings(exported).weight.copy_(table)
    return exported


__all__ = ["export_lookup", "is_lookup", "standalone_network", "standalone_state_dict"]
