"""Teacher-output caching for import: the frozen host's function gives the same (input, output) pair for an example
every epoch, so import epochs after the first can skip the host and train the interface on stored pairs.

Valid only in import mode with frozen hosts in eval mode (`CKBTrainingModule` asserts both): the host is then a fixed
function of the example, and the interface sees exactly the input the host's function saw. Rows are stored unpadded
(the real positions of a right-padded example) on the CPU, in `dtype`; a batch is rebuilt right-padded to its longest
example. Padded positions never reach the interface's keys nor the loss, so the prediction at every real position is
the same as without the cache, up to the rounding of `dtype` (none for float32).
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cache_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"teacher cache dtype must be one of {sorted(DTYPES)}, got {dtype!r}.")
    return DTYPES[dtype]


def row_widths(config) -> tuple[int, int]:
    """`(input width, output width)` of one stored position for an `InterfaceConfig` (after its probe)."""
    if config.function_kind == "recurrent":  # the cell reads [x_t ; h_{t-1}]; only x_t is stored
        return config.in_features - config.out_features, config.out_features
    if config.function_kind == "window":  # the interface reads w rows per window; one row is stored
        return config.in_features // config.window_size, config.out_features
    return config.in_features, config.out_features


class TeacherCache:
    r"""
    A bounded store of a frozen host function's input and output rows, keyed by `(network name, example index)`.

    Args:
        max_bytes (`int`): the most bytes of stored rows; once a batch does not fit, nothing more is added.
        dtype (`torch.dtype`, *optional*, defaults to `torch.bfloat16`): storage dtype (float32 is exact).
        device (*optional*, defaults to `"cpu"`): where rows are stored.

    `hits`/`misses` count examples looked up by `CKBTrainingModule` (a batch uses the cache only if all of its
    examples hit); `refused` counts examples not stored because the cache was full.
    """

    def __init__(self, max_bytes: int, dtype: torch.dtype | str = torch.bfloat16, device="cpu"):
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}.")
        self.max_bytes = int(max_bytes)
        self.dtype = cache_dtype(dtype)
        self.device = torch.device(device)
        self.entries: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self.nbytes = 0
        self.hits = self.misses = self.refused = 0
        self.full = False

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key) -> bool:
        return key in self.entries

    def lookup(self, name: str, indices: list[int]) -> bool:
        """Whether every example of a batch is stored; counts hits and misses."""
        missing = sum((name, i) not in self.entries for i in indices)
        self.misses += missing
        self.hits += len(indices) - missing
        return missing == 0

    @torch.no_grad()
    def put_batch(self, name: str, indices: list[int], x: torch.Tensor, y: torch.Tensor,
                  mask: torch.Tensor | None) -> int:
        """Stores the real rows of each example not yet stored; returns how many examples were added.

        `x`: `(B, T, in)` function input, `y`: `(B, T, out)` function output, `mask`: `(B, T)` right-padding mask.
        A batch whose mask is missing, of another shape or not right-padded is not stored.
        """
        if self.full or mask is None or tuple(mask.shape) != tuple(x.shape[:2]) or y.shape[:2] != x.shape[:2]:
            return 0
        keep = mask.bool()
        lengths = keep.sum(1)  # (B,)
        positions = torch.arange(keep.shape[1], device=keep.device)
        if not torch.equal(keep, positions[None] < lengths[:, None]):  # left padding or holes: rows would move
            return 0
        new = [row for row, i in enumerate(indices) if (name, i) not in self.entries]
        if not new:
            return 0
        lengths = lengths.tolist()
        row_bytes = (x.shape[-1] + y.shape[-1]) * self.dtype.itemsize
        budget, take = self.max_bytes - self.nbytes, []
        for row in new:
            if lengths[row] * row_bytes > budget:
                self.full = True
                self.refused += len(new) - len(take)
                break
            budget -= lengths[row] * row_bytes
            take.append(row)
        if not take:
            return 0
        rows = torch.tensor(take, device=x.device)
        sizes = [lengths[row] for row in take]
        packed = [t.index_select(0, rows)[keep.index_select(0, rows)].to(self.device, self.dtype) for t in (x, y)]
        for row, xs, ys in zip(take, packed[0].split(sizes), packed[1].split(sizes)):  # views of one packed copy
            self.entries[(name, indices[row])] = (xs, ys)
        self.nbytes += sum(sizes) * row_bytes
        return len(take)

    def get_batch(self, name: str, indices: list[int], device=None, dtype: torch.dtype = torch.float32):
        """The stored rows of a batch, right-padded: `x (B, L, in)`, `y (B, L, out)`, `mask (B, L)` (int64)."""
        pairs = [self.entries[(name, i)] for i in indices]
        lengths = torch.tensor([xs.shape[0] for xs, _ in pairs])
        x = pad_sequence([xs for xs, _ in pairs], batch_first=True)  # (B, L, in)
        y = pad_sequence([ys for _, ys in pairs], batch_first=True)  # (B, L, out)
        mask = (torch.arange(x.shape[1])[None] < lengths[:, None]).long()  # (B, L)
        device = device or x.device
        return (x.to(device, dtype, non_blocking=True), y.to(device, dtype, non_blocking=True),
                mask.to(device, non_blocking=True))

    def stats(self) -> dict:
        looked_up = self.hits + self.misses
        return {"examples": len(self.entries), "bytes": self.nbytes, "max_bytes": self.max_bytes,
                "dtype": str(self.dtype).removeprefix("torch."), "hits": self.hits, "misses": self.misses,
                "hit_rate": self.hits / looked_up if looked_up else 0.0, "refused": self.refused, "full": self.full}

    def clear(self) -> None:
        self.entries.clear()
        self.nbytes = 0
        self.hits = self.misses = self.refused = 0
        self.full = False


def estimate_bytes(token_counts: dict[str, int], widths: dict[str, tuple[int, int]], dtype: torch.dtype) -> int:
    """Bytes needed to store every position of every network's training set (`token_counts[name]` positions)."""
    return sum(token_counts[name] * sum(widths[name]) * dtype.itemsize for name in token_counts)


def count_tokens(dataset) -> int:
    """Real positions in a tokenized dataset (the length of each `input_ids`)."""
    try:
        column = dataset["input_ids"]  # a datasets.Dataset column
    except (TypeError, KeyError, IndexError):
        column = [example["input_ids"] for example in dataset]
    return sum(len(ids) for ids in column)
