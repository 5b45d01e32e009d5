"""Memory-bank initialisation (issue 11; TRELM's knowledge-augmented memory bank, seed 001 §3.2): before an import
trains, the CKB rows a new network will use start as prototypes of what its function does, read from the teacher's
own activations, instead of random vectors.

For a `memory`-design interface (keys and values are the CKB rows, `hf_ckb.interface.memory`):

1. the function's input rows `x` and output rows `y` are recorded on the network's training inputs (teacher-forced,
   real positions only);
2. each pair is embedded in the CKB's width `d` by the principal directions of the standardised `[x ; y]` (so a row
   says both what input it answers and what it answers), and k-means over the embeddings gives one prototype per row
   to initialise; the prototypes are scaled to the CKB's spread and written into those rows;
3. the interface's query map starts as the least-squares map from `x` to its embedding (a query then points at the
   prototypes of similar inputs), and its output map as the least-squares map from what is then read to `y`.

The interface then starts as a vector-quantised copy of the function, which the import refines. Other designs own
key/value projections of the CKB (`paper`) or product keys (`sparse`) and are refused.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from ..data import labelled_collator
from ..interface.memory import MemoryAttention

QUERY_NORM = 0.5  # per-head norm of a query: its best key scores 0.5 * sqrt(e) (4 at e = 64), a peaked but soft read
KMEANS_ITERATIONS = 25  # prototypes, not a converged clustering


@torch.no_grad()
def record_function(net, tokenizer, dataset, rows: int = 20000, batch_size: int = 64) -> tuple[torch.Tensor, ...]:
    """`(x, y)`: up to `rows` real input rows of the interface block of `net` (an `InterfaceModel` with one memory
    block) and the host function's outputs for them, teacher-forced, in import mode."""
    (block,) = _memory_blocks(net)
    inputs = []

    def hook(module, args, kwargs):
        x, mask = args[0], kwargs.get("mask")
        keep = mask.bool() if kwargs.get("pack") and mask is not None else None
        inputs.append((x[keep] if keep is not None else x.flatten(0, -2)).flatten(0, -2).cpu())

    handle = block.register_forward_pre_hook(hook, with_kwargs=True)
    xs, ys, count, device = [], [], 0, next(net.parameters()).device
    try:
        with net.mode("import"):
            for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=labelled_collator(tokenizer, dataset)):
                inputs.clear()
                mask = batch.get("attention_mask")
                net(input_ids=batch["input_ids"].to(device), attention_mask=None if mask is None else mask.to(device))
                (record,) = net.records
                target = record.target if record.mask is None else record.target[record.mask.bool()]
                xs.append(torch.cat(inputs))
                ys.append(target.flatten(0, -2).cpu())
                count += len(ys[-1])
                if count >= rows:
                    break
    finally:
        handle.remove()
    x, y = torch.cat(xs)[:rows], torch.cat(ys)[:rows]
    if len(x) != len(y):
        raise RuntimeError(f"Recorded {len(x)} input rows for {len(y)} outputs: the interface packs its rows in a "
                           "way memory-bank initialisation does not follow.")
    return x, y


def _memory_blocks(net) -> list[MemoryAttention]:
    blocks = net.interface_blocks()
    if not blocks or not all(isinstance(b, MemoryAttention) for b in blocks):
        kinds = sorted({type(b).__name__ for b in blocks})
        raise ValueError(f"Memory-bank initialisation needs the 'memory' interface design (keys and values are the CKB "
                         f"rows); this interface has {kinds or 'no blocks'}.")
    if len(blocks) != 1:
        raise ValueError(f"Memory-bank initialisation takes an interface with one block, got {len(blocks)}.")
    return blocks


def kmeans(points: torch.Tensor, count: int, iterations: int = KMEANS_ITERATIONS, seed: int = 0) -> torch.Tensor:
    """`count` centroids of `points` `(N, d)` by Lloyd's algorithm from `count` distinct random points, with batched
    distances (scikit-learn's k-means++ start, one distance pass per centroid, dominated a profile of the whole
    initialisation). A centroid left without points keeps its place."""
    generator = torch.Generator().manual_seed(seed)
    centroids = points[torch.randperm(len(points), generator=generator)[:count]].clone()
    for _ in range(iterations):
        nearest = torch.cdist(points, centroids).argmin(1)
        sums = centroids.new_zeros(centroids.shape).index_add_(0, nearest, points)
        sizes = torch.bincount(nearest, minlength=count)
        filled = sizes > 0
        centroids[filled] = sums[filled] / sizes[filled, None]
    return centroids


def _standardise(t: torch.Tensor) -> torch.Tensor:
    return (t - t.mean(0)) / t.std(0).clamp_min(1e-6)


def _least_squares(inputs: torch.Tensor, targets: torch.Tensor, ridge: float = 1e-3) -> tuple[torch.Tensor, ...]:
    """`(weight, bias)` of the ridge regression `targets ~ inputs @ weight.T + bias`."""
    a = torch.cat([inputs, inputs.new_ones(len(inputs), 1)], dim=1).double()
    gram = a.T @ a + ridge * len(a) * torch.eye(a.shape[1], dtype=a.dtype)
    solution = torch.linalg.solve(gram, a.T @ targets.double()).float()  # (in + 1, out)
    return solution[:-1].T.contiguous(), solution[-1]


def _prototypes(x: torch.Tensor, y: torch.Tensor, d: int, count: int, seed: int) -> tuple[torch.Tensor, ...]:
    """`(embedded, centroids)`: each pair `[x ; y]` (standardised) in `d` dimensions by its principal directions
    (zero-padded when fewer), and `count` k-means prototypes of those embeddings."""
    joint = torch.cat([_standardise(x), _standardise(y)], dim=1)
    components = min(d, joint.shape[1], len(joint))
    _, _, v = torch.linalg.svd(joint - joint.mean(0), full_matrices=False)
    embedded = torch.nn.functional.pad(joint @ v[:components].T, (0, d - components))  # (N, d)
    return embedded, kmeans(embedded, count, seed=seed)


@torch.no_grad()
def initialise_memory_bank(net, ckb, x: torch.Tensor, y: torch.Tensor, rows: dict[str, torch.Tensor] | None = None,
                           seed: int = 0) -> dict[str, int]:
    """Initialises the CKB `rows` (`{"low": (K, n_l) bool, "high": (n_h,) bool}`; default: every row) and the query
    and output maps of `net`'s memory block from recorded function rows `x` -> `y` (`record_function`). Returns
    how many rows of each level were written."""
    (block,) = _memory_blocks(net)
    rows = rows or {"low": torch.ones(ckb.low_level.shape[:2], dtype=torch.bool),
                    "high": torch.ones(ckb.high_level.shape[0], dtype=torch.bool)}
    count = int(rows["low"].sum() + rows["high"].sum())
    if len(x) < max(count, 2):
        raise ValueError(f"Memory-bank initialisation needs at least as many recorded rows as CKB rows to set "
                         f"({count}), got {len(x)}.")
    embedded, centroids = _prototypes(x, y, ckb.config.hidden_size, count, seed)
    device = ckb.low_level.device
    spread = torch.cat([ckb.low_level.flatten(0, 1), ckb.high_level]).std().cpu()
    centroids = (centroids * spread / centroids.std()).to(device, ckb.low_level.dtype)
    n_low = int(rows["low"].sum())
    ckb.low_level[rows["low"].to(device)] = centroids[:n_low]
    ckb.high_level[rows["high"].to(device)] = centroids[n_low:]
    # the query: x -> its embedding, scaled so each head's query has norm QUERY_NORM on average
    weight, bias = _least_squares(x, embedded)
    norm = (x @ weight.T + bias).view(len(x), block.num_heads, -1).norm(dim=-1).mean().clamp_min(1e-6)
    block.query.weight.copy_(weight * QUERY_NORM / norm)
    block.query.bias.copy_(bias * QUERY_NORM / norm)
    # the output map: what is now read -> y (the state carry, if any, starts at 0 and adds nothing yet)
    read = []
    handle = block.out_proj.register_forward_pre_hook(lambda module, args: read.append(args[0].flatten(0, -2)))
    try:
        block(x[:, None].to(device), ckb.low_level, ckb.high_level)
    finally:
        handle.remove()
    weight, bias = _least_squares(read[0].cpu(), y)
    block.out_proj.weight.copy_(weight)
    block.out_proj.bias.copy_(bias)
    return {"low": n_low, "high": count - n_low}


def row_shares(ckb, count: int) -> list[dict[str, torch.Tensor]]:
    """`count` disjoint row masks covering the CKB (row i of each level goes to share i mod count): one per network
    when several are imported jointly."""
    low = torch.arange(ckb.low_level.shape[0] * ckb.low_level.shape[1]).view(ckb.low_level.shape[:2])
    high = torch.arange(ckb.high_level.shape[0])
    return [{"low": low % count == i, "high": high % count == i} for i in range(count)]


def initialise_from_teacher(net, ckb, tokenizer, dataset, rows: dict | None = None, samples: int = 20000,
                            seed: int = 0) -> dict[str, int]:
    """`record_function` on `dataset` then `initialise_memory_bank`: the rows `net` will use start as prototypes
    of its host's function."""
    x, y = record_function(net, tokenizer, dataset, samples)
    return initialise_memory_bank(net, ckb, x, y, rows, seed)


def initialise_networks(nets: dict, ckb, tokenizers: dict, datasets: dict, within: dict | None = None,
                        seed: int = 0) -> None:
    """`initialise_from_teacher` for every network of `nets` on its own share of the CKB rows (`row_shares`), kept
    `within` the given row masks if any (a routed import's rows)."""
    for name, share in zip(nets, row_shares(ckb, len(nets))):
        rows = share if within is None else {level: within[level] & share[level].to(within[level].device)
                                             for level in within}
        initialise_from_teacher(nets[name], ckb, tokenizers[name], datasets[name], rows, seed=seed)


__all__ = ["initialise_from_teacher", "initialise_memory_bank", "initialise_networks", "record_function",
           "row_shares"]
