"""Setting up an export (Eq. 19-21): a fresh target network that learns to imitate a trained interface."""

import torch
from torch import nn

from ..interface import InterfaceConfig, InterfaceLayer, InterfaceModel


def prepare_export(source: InterfaceModel, target: nn.Module | None = None,
                   interface_name: str = "default") -> InterfaceModel:
    """Attaches the trained interface `interface_name` of `source` (and its CKB) to `target`, ready for export.

    `target` defaults to a freshly initialised network of the source host's architecture and config. Every
    parameter outside the imitated function whose name and shape match the source host (the embeddings and the
    classification head, which are not part of the simulated function, §2.2.3) is copied from the source and
    stays frozen during export; the others train. The trainable flags are set by
    `CKBTrainingModule(..., mode="export")`: until then the target is frozen, as any host an interface is attached to.
    """
    host = source.base_model
    if target is None:
        target = type(host)(host.config)
    config = InterfaceConfig(**{**source.interface_configs[interface_name].to_dict(), "ckb_fingerprint": None})
    exported = InterfaceModel(target, source.ckb, config, interface_name)
    # the interface block is frozen during export: share the trained one's weights
    src_layer = next(l for l in source.interface_layers() if interface_name in l.interfaces)
    dst_layer = next(l for l in exported.interface_layers() if interface_name in l.interfaces)
    dst_layer.interfaces[interface_name].load_state_dict(src_layer.interfaces[interface_name].state_dict())
    exported.copied_from_source = copy_matching_outside_function(host, target)
    return exported


@torch.no_grad()
def copy_matching_outside_function(source: nn.Module, target: nn.Module) -> set[str]:
    """Copies the parameters of `target` that are not in one of its interface layers (neither the wrapped function
    nor an interface) from `source` where the names and shapes agree; returns the copied names (as named in
    `target`). Layers are found by module identity, not by name: a PEFT-wrapped host has `base_layer`s of its own."""
    src = dict(source.named_parameters())
    inside = {id(p) for module in target.modules() if isinstance(module, InterfaceLayer) for p in module.parameters()}
    copied = set()
    for name, param in target.named_parameters():
        if id(param) in inside:
            continue
        if name in src and src[name].shape == param.shape:
            param.copy_(src[name])
            copied.add(name)
    return copied
