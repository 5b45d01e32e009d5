"""Configuration of an interface: which function of a host it imitates, and the size of the attention block."""

import json
import os
from dataclasses import asdict, dataclass, field, fields

from ..utils import atomic_file

INTERFACE_CONFIG_NAME = "interface_config.json"  # not adapter_config.json: transformers would take it for PEFT
INTERFACE_WEIGHTS_NAME = "interface_model.safetensors"

FUNCTION_KINDS = ("sequence", "recurrent", "window", "lookup")
# the interface block: `CKBAttention` (the paper's reading), `MemoryAttention` or `ProductKeyAttention`
DESIGNS = ("paper", "memory", "sparse")


@dataclass
class InterfaceConfig:
    """
    What an interface imitates and how big it is. Widths the host decides (`in_features`, `out_features`) are
    found by a probe forward when the interface is attached, and checked against these when given.
    """

    target_module: str | None = field(
        default=None,
        metadata={"help": "Dotted path of the host module the interface imitates, e.g. 'bert.encoder', 'gru', "
                          "'transformer.h' (a ModuleList is imitated as a whole stack). None: the host's default."})
    function_kind: str | None = field(
        default=None,
        metadata={"help": "'sequence': (B, T, in) -> (B, T, out), a Transformer layer or stack (global or local). "
                          "'recurrent': a batch-first nn.GRU/RNN-like module, imitated by its cell "
                          "(x_t, h_{t-1}) -> h_t. 'window': a per-position function of x[t : t + window_size] "
                          "(a CNN). 'lookup': an nn.Embedding (token ids -> rows), read from a fixed code of each "
                          "id. None: the host's default."})
    level: str | None = field(
        default=None, metadata={"help": "'global' or 'local' (§2.2.3); informational. None: derived from the kind."})
    window_size: int | None = field(default=None, metadata={"help": "Rows per window for the 'window' kind."})
    in_features: int | None = field(default=None, metadata={"help": "Width of one input row (checked)."})
    out_features: int | None = field(default=None, metadata={"help": "Width of one output row (checked)."})
    num_heads: int = field(default=4, metadata={"help": "Attention heads; must divide the CKB width."})
    intermediate_size: int | None = field(
        default=None, metadata={"help": "Feed-forward width after the attention; 0 disables; None: 4 x CKB width "
                                        "for 'sequence' interfaces, 0 for local cells and windows."})
    causal: bool | None = field(
        default=None, metadata={"help": "Whether position t may read only input rows <= t. None: from the host "
                                        "(decoder-only models are causal)."})
    dropout: float = field(default=0.0, metadata={"help": "Dropout inside the interface."})
    design: str = field(
        default="paper", metadata={"help": "'paper': the paper's block (own key/value projections of the CKB, a "
                                           "residual, attention over input rows). 'memory': keys and values are the "
                                           "CKB rows, no private path (hf_ckb.interface.memory). 'sparse': a large "
                                           "store read top_k slots at a time through product keys made of the CKB "
                                           "(hf_ckb.interface.product_keys; needs K * n_l = n_h^2)."})
    top_k: int = field(default=8, metadata={"help": "Slots each head reads, for the 'sparse' design."})
    # Recorded when saved, checked when loaded.
    host_model_id: str | None = field(default=None, metadata={"help": "The host's name or path (recorded)."})
    host_revision: str | None = field(default=None, metadata={"help": "The host's revision (recorded)."})
    ckb_fingerprint: str | None = field(
        default=None, metadata={"help": "Fingerprint of the CKB the interface was trained with (recorded)."})
    ckb_hidden_size: int | None = field(default=None, metadata={"help": "Width of that CKB (recorded)."})
    ckb_revision: str | None = field(
        default=None, metadata={"help": "Commit sha of the Hub repo holding that CKB, when known (recorded when a "
                                        "bundle is pushed or when the CKB was loaded from the Hub)."})
    dataset: str | None = field(
        default=None, metadata={"help": "The data the interface was imported on (a Hub dataset id or a name); "
                                        "shown in model cards."})

    def __post_init__(self):
        if self.function_kind is not None and self.function_kind not in FUNCTION_KINDS:
            raise ValueError(f"function_kind must be one of {FUNCTION_KINDS}, got {self.function_kind!r}.")
        if self.design not in DESIGNS:
            raise ValueError(f"design must be one of {DESIGNS}, got {self.design!r}.")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}.")
        if self.function_kind == "window" and not self.window_size:
            raise ValueError("A 'window' interface needs window_size (rows per window).")
        if self.level is None and self.function_kind is not None:
            self.level = "global" if self.function_kind == "sequence" else "local"

    def to_dict(self) -> dict:
        return asdict(self)

    def save_pretrained(self, save_directory: str) -> None:
        with atomic_file(os.path.join(save_directory, INTERFACE_CONFIG_NAME)) as tmp, open(tmp, "w") as f:
            json.dump(self.to_dict(), f, indent=2, sort_keys=True)

    @classmethod
    def from_pretrained(cls, directory: str) -> "InterfaceConfig":
        path = os.path.join(directory, INTERFACE_CONFIG_NAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No {INTERFACE_CONFIG_NAME} in {directory!r}: is it a saved hf_ckb interface?")
        try:
            with open(path) as f:
                data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); the file is corrupted.") from err
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path} has unknown keys {sorted(unknown)}: not an hf_ckb interface config?")
        return cls(**data)
