"""The knockout control: a CKB-backed network scored with its CKB as imported, zeroed, and replaced by random
matrices of the same standard deviation, the interfaces unchanged. If the scores barely differ, the interface
computes its function on its own and the CKB holds no knowledge the network uses."""

import contextlib

import torch

from ..ckb import CKBModel
from ..ckb.modeling_ckb import WEIGHT_NAMES
from ..training import CKBTrainingModule, evaluate_network

KNOCKOUTS = ("imported", "zero", "random")  # what the CKB is replaced by for each score


def _replacement(tensor: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    if kind == "zero":
        return torch.zeros_like(tensor)
    noise = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)  # on CPU: the same on every device
    return noise.to(tensor.device) * tensor.std()


@contextlib.contextmanager
def replaced_ckb(ckb: CKBModel, kind: str, seed: int = 0):
    """Within the block, every CKB matrix is `kind`: 'imported' (unchanged), 'zero', or 'random' (normal noise with
    the matrix's own std, from `seed`; use a seed other than the one the CKB was initialised with, or 'random' may
    redraw its initial values). The original values are copied back bit for bit on exit, even on error."""
    if kind not in KNOCKOUTS:
        raise ValueError(f"kind must be one of {KNOCKOUTS}, got {kind!r}.")
    params = [getattr(ckb, name) for name in WEIGHT_NAMES]
    saved = [p.detach().clone() for p in params]
    generator = torch.Generator().manual_seed(seed)
    try:
        if kind != "imported":
            with torch.no_grad():
                for p in params:
                    p.copy_(_replacement(p, kind, generator))
        yield ckb
    finally:
        with torch.no_grad():
            for p, original in zip(params, saved):
                p.copy_(original)


def knockout(module: CKBTrainingModule, name: str, dataset, collator, kinds=KNOCKOUTS, seed: int = 0,
             batch_size: int = 64) -> dict[str, dict[str, float]]:
    """Scores network `name` of an import `module` on a labelled tokenized `dataset` once per CKB replacement in
    `kinds` (see `replaced_ckb`): `{kind: evaluate_network(...)}`, each with 'accuracy' (the CKB-backed network)
    and the fidelity of the interface to the host function ('cosine', 'rel_l2'). The CKB is restored afterwards."""
    if module.mode != "import":
        raise ValueError(f"knockout scores CKB-backed networks: the module must be in 'import' mode, not "
                         f"{module.mode!r}.")
    if name not in module.networks:
        raise ValueError(f"No network {name!r} in the module; have {sorted(module.networks)}.")
    results = {}
    for kind in kinds:
        with replaced_ckb(module.ckb, kind, seed):
            results[kind] = evaluate_network(module, name, dataset, collator, batch_size)
    return results
