"""The training steps the sections time, as callables: an interface step, an import step, the teacher's forward and a
plain fine-tuning step of the teacher; and the imitated function's call, captured for timing the interface alone."""

from __future__ import annotations

import torch

from common import make_ckb, make_network


def train_step(loss_fn, params):
    """A callable: forward + backward of `loss_fn()`, gradients dropped (no optimiser: kernels only)."""
    def step():
        loss_fn().backward()
        for p in params:
            p.grad = None
    return step


def paper_adamw(module, lr: float):
    """AdamW over `module`'s trainable parameters with the paper's betas, epsilon and weight decay."""
    from hf_ckb.training.trainer import PAPER_OPTIMIZER

    return torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=lr,
                             betas=(PAPER_OPTIMIZER["adam_beta1"], PAPER_OPTIMIZER["adam_beta2"]),
                             eps=PAPER_OPTIMIZER["adam_epsilon"], weight_decay=PAPER_OPTIMIZER["weight_decay"])


def build_import(kind, vocab, device, cache=False, seed=0, design="paper"):
    """A paper-size `kind` host with an interface of `design` to a paper-size CKB, in a training module (with a
    float32 teacher cache when `cache`), and its optimiser."""
    from hf_ckb import InterfaceConfig, InterfaceModel
    from hf_ckb.training import CKBTrainingModule

    host = make_network(kind, vocab, seed).to(device)
    ckb = make_ckb(device, seed=seed)
    module = CKBTrainingModule(ckb, {kind: InterfaceModel(host, ckb, InterfaceConfig(design=design))})
    module.train()
    if cache:
        module.enable_teacher_cache(2**30, torch.float32)
    return module, paper_adamw(module, 1e-4)


def import_step(module, opt, batches):
    """A callable: one import step (loss, backward, optimiser step) of `module` on `batches`."""
    def step():
        module(**batches)["loss"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def teacher_steps(plain, inputs: dict, labels):
    """Two callables on the teacher `plain`: its forward in eval mode without gradients (`teacher_forward`) and one
    fine-tuning step of all its weights with AdamW (`plain_train_step`)."""
    opt = torch.optim.AdamW(plain.parameters(), lr=1e-4)

    def teacher_forward():
        plain.eval()
        with torch.no_grad():
            plain(**inputs)

    def plain_train_step():
        plain.train()
        plain(**inputs, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return teacher_forward, plain_train_step


def function_call(net, inputs: dict):
    """`(args, kwargs, out)` of the function `net`'s first interface imitates, captured from one host forward of
    `inputs` (under any autocast the caller has entered)."""
    wrapper = net.interface_layers()[0]
    seen = {}
    handle = wrapper.base_layer.register_forward_hook(
        lambda m, a, k, o: seen.update(call=(a, k, o)), with_kwargs=True)
    try:
        with torch.no_grad(), net.mode("host"):
            net(**inputs)
    finally:
        handle.remove()
    return seen["call"]
