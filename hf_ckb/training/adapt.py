"""Adapting a never-imported architecture to an existing, frozen CKB (Table 3, cross-architecture transfer).

The paper does not say how a never-imported architecture gets an interface; this is our reading: distil a
CKB-backed source network's predictions through the new interface, reading the CKB, never writing it.
"""

from __future__ import annotations

import copy
import logging

import torch
from torch import nn

from ..ckb import CKBModel
from ..interface import InterfaceConfig, InterfaceModel
from ..interface.layer import RecurrentInterfaceLayer
from .distill import DistillationModule
from .stock_loop import interface_name, save_interface_run, train_stock, trainable_roles

logger = logging.getLogger(__name__)


def adapt_interface(ckb: CKBModel, target_host: nn.Module, source: nn.Module, tokenizer, train, validation,
                    output_dir: str, interface_config: InterfaceConfig | None = None, steps: int = 600,
                    learning_rate: float = 1e-3, batch_size: int = 32, temperature: float = 1.0,
                    eval_steps: int = 200, seed: int = 0, data_collator=None, callbacks=None,
                    name: str | None = None, **training_args) -> InterfaceModel:
    """Gives `target_host`, an architecture that was never imported (a fresh model, e.g.
    `hf_ckb.networks.CNNForSequenceClassification(config)`), an interface on the existing, frozen `ckb`.

    Why: the paper does not say how a never-imported architecture gets an interface for cross-architecture transfer
    (Table 3). Import cannot be used (there is no trained function to imitate) and training the CKB would change the
    knowledge being transferred. So the CKB is read, never written: `target_host` is wrapped with a new interface
    (`InterfaceModel(target_host, ckb, interface_config or InterfaceConfig())`) that, with the target's parameters
    outside its imitated function (embeddings, classifier head), learns by distillation ([`DistillationModule`]) to
    reproduce `source`'s predictions on the unlabelled inputs of `train`. `source` is typically the CKB-backed source
    network (an `InterfaceModel` whose interface was imported into the same `ckb`), run in 'interface' mode. Running
    the same procedure on a fresh (random) CKB is the control that measures what the CKB contributes.

    Recurrent targets (a GRU) are the weak spot: their new interface must learn *as a recurrent cell*, through time
    on its own states, and in the paper benchmark (Table 3, B.5) it did not learn at all in 300 steps (it predicted
    the majority class); imports never meet this, they train the cell teacher-forced. A warning says so.

    Trainable: the new interface and everything of the target that is neither its imitated function (unused in
    'interface' mode) nor the CKB (`InterfaceModel.named_parameters_by_role`); every `requires_grad` flag is
    restored afterwards, and the CKB's fingerprint is checked unchanged. The returned `InterfaceModel` (best
    validation accuracy, eval mode) is what `hf_ckb.pipeline.export_network(returned, name, ...)` takes to export
    the interface into a fresh target network (it copies the embeddings and head from `returned.base_model`).
    Writes the bundle `output_dir` (or adds to it): the unchanged CKB, `interfaces/<name>/` and `hosts/<name>/`
    (`name` defaults to the target's `model_type`); checkpoints in `output_dir/checkpoints/adapt-<name>/`.
    """
    if isinstance(target_host, InterfaceModel):
        raise TypeError("target_host must be a plain network: adapt_interface attaches the interface itself.")
    torch.manual_seed(seed)
    config = copy.deepcopy(interface_config) if interface_config is not None else InterfaceConfig()
    net = InterfaceModel(target_host, ckb, config)
    if any(isinstance(layer, RecurrentInterfaceLayer) for layer in net.interface_layers()):
        logger.warning("adapt_interface on a recurrent target: the new interface trains through time on its own "
                       "states, which did not learn in the paper benchmark (Table 3); check its accuracy.")
    name = interface_name(net, name)
    fingerprint = ckb.fingerprint()
    with trainable_roles(net, interface=True, host=True):
        module = DistillationModule(net, source, temperature, alpha=0.0)
        train_stock(module, tokenizer, train, validation, output_dir, f"adapt-{name}", steps, learning_rate,
                    batch_size, eval_steps, seed, data_collator, callbacks, **training_args)
    if ckb.fingerprint() != fingerprint:
        raise AssertionError("adapt_interface changed the frozen CKB; it must only be read.")
    net.eval()
    save_interface_run(net, name, output_dir, tokenizer)
    return net


