"""Loading a CKB bundle and classifying one text with every network it holds: each interface's host as the original
network and as the CKB-backed network, each exported network; and which CKB slots each interface read (the data of
the attention plot). Plain functions, no UI: the Space (app.py) shows what they return and the tests call them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
from hf_ckb import Bundle
from hf_ckb.hub import is_repo_id

DEFAULT_BUNDLE = "ckb-quickstart"
BUNDLE_ENV = "HF_CKB_BUNDLE"
MAX_CHARS = 20_000  # characters read before tokenizing: a pasted book is cut here, then to the tokenizer's limit
FALLBACK_MAX_TOKENS = 512  # for tokenizers whose model_max_length is the "no limit" sentinel
EMPTY_MESSAGE = "Type or paste a review (or click an example), then press **Classify**."
VERSIONS = ("original", "CKB-backed", "exported")


def missing_bundle_message(spec: str) -> str:
    return (f"No bundle found at `{spec}`: run `hf-ckb quickstart` (it writes `{DEFAULT_BUNDLE}/`) "
            f"or set `{BUNDLE_ENV}` to a bundle folder or Hub repo id.")


def load_demo_bundle(spec: str | None = None):
    """Loads the bundle named by `spec` (default: `$HF_CKB_BUNDLE`, then `ckb-quickstart`), a local folder or a Hub
    repo id, with `hf_ckb.Bundle.from_pretrained`. Returns `(bundle, None)` or `(None, message)`: a missing or
    unreadable bundle is a message for the UI, never an exception.
    """
    spec = spec or os.environ.get(BUNDLE_ENV) or DEFAULT_BUNDLE
    if not is_repo_id(spec) and not os.path.isfile(os.path.join(spec, "config.json")):
        return None, missing_bundle_message(spec)
    try:
        bundle = Bundle.from_pretrained(spec)
    except Exception as err:  # a broken download or folder: say so in the page
        return None, f"Could not load the bundle `{spec}`: {type(err).__name__}: {err}"
    if not bundle.interfaces and not bundle.exported:
        return None, f"The bundle `{spec}` holds a CKB but no networks (no interfaces/ or exported/)."
    for model in [*bundle.interfaces.values(), *bundle.exported.values()]:
        model.eval()  # interface blocks are attached after the host's eval(): dropout off everywhere
    return bundle, None


def label_names(config, results: dict | None = None) -> list[str]:
    """Class names for a classifier config: its `id2label` unless that is the `LABEL_i` default; else
    `results["label_names"]`; else, for a bundle trained on Rotten Tomatoes (the quickstart's), the dataset's
    `ClassLabel` names (rotten, fresh); else `LABEL_i` as given."""
    n = config.num_labels
    id2label = {int(k): v for k, v in (config.id2label or {}).items()}
    names = [str(id2label.get(i, f"LABEL_{i}")) for i in range(n)]
    if any(name != f"LABEL_{i}" for i, name in enumerate(names)):
        return names
    results = results or {}
    given = results.get("label_names")
    if isinstance(given, list) and len(given) == n:
        return [str(g) for g in given]
    datasets = results.get("datasets") if isinstance(results.get("datasets"), dict) else {}
    rotten_tomatoes = any("rotten_tomatoes" in str(d) for d in datasets.values())
    if rotten_tomatoes or ("teacher_accuracy" in results and "exported_rnn" in results):  # hf_ckb.quickstart's
        from hf_ckb.data.rotten_tomatoes import LABEL_NAMES

        if len(LABEL_NAMES) == n:
            return list(LABEL_NAMES)
    return names


@dataclass
class PreparedInput:
    """One text, tokenized for one tokenizer, with what the reader should know about it."""

    encoding: dict
    num_tokens: int
    notes: list[str] = field(default_factory=list)


class EmptyInput(ValueError):
    """The text holds nothing to classify."""


def max_tokens(tokenizer) -> int:
    limit = getattr(tokenizer, "model_max_length", None) or FALLBACK_MAX_TOKENS
    return int(limit) if limit < 1_000_000 else FALLBACK_MAX_TOKENS


def prepare_input(text: str | None, tokenizer) -> PreparedInput:
    """Tokenizes `text` like the training data (`truncation=True, max_length=` the tokenizer's limit), noting a cut
    and tokens the vocabulary does not know. Raises `EmptyInput` when nothing is left to classify."""
    text = (text or "").strip()
    if not text:
        raise EmptyInput(EMPTY_MESSAGE)
    notes = []
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
        notes.append(f"The text is very long: only its first {MAX_CHARS:,} characters were read.")
    limit = max_tokens(tokenizer)
    full = tokenizer(text)["input_ids"]
    if not full:
        raise EmptyInput("The text holds no token this tokenizer knows how to read: try a few words of a review.")
    if len(full) > limit:
        notes.append(f"The text has {len(full):,} tokens; it was truncated to the first {limit:,} "
                     "(the tokenizer's maximum length).")
    encoding = tokenizer(text, truncation=True, max_length=limit, return_tensors="pt")
    ids = encoding["input_ids"][0]
    unk = getattr(tokenizer, "unk_token_id", None)
    unknown = int((ids == unk).sum()) if unk is not None else 0
    if unknown:
        note = f"{unknown} of {len(ids)} tokens are unknown to the vocabulary"
        if unknown >= 0.25 * len(ids):
            note += (": the networks learnt from English reviews, so text in another language or script is "
                     "mostly guesswork")
        notes.append(note + ".")
    return PreparedInput(dict(encoding), len(ids), notes)


@dataclass
class ModelPrediction:
    network: str  # the bundle's name for it, e.g. "rnn"
    version: str  # one of VERSIONS
    probabilities: dict[str, float]  # label name -> probability, in label order

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


@dataclass
class AttentionReading:
    """The high-level attention of one interface, averaged over the positions of the input."""

    network: str
    slots: list[str]  # "M^h 1".."M^h n_h", "h_1".."h_K" (the K low-level reads), "input rows"
    weights: list[float]
    positions: int


@dataclass
class DemoResult:
    predictions: list[ModelPrediction] = field(default_factory=list)
    attention: list[AttentionReading] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    num_tokens: int = 0


def _prediction(model, config, network: str, version: str, encoding: dict, results: dict | None) -> ModelPrediction:
    """`model`'s class probabilities for the one text of `encoding`, named after `config`'s labels."""
    logits = model(**encoding).logits
    probs = torch.softmax(logits.float().reshape(-1, logits.shape[-1])[0], -1)
    return ModelPrediction(network, version, {n: float(p) for n, p in zip(label_names(config, results), probs)})


def _read_attention(model, encoding: dict, network: str, n_h: int, K: int) -> AttentionReading:
    """One parallel ('import' mode) pass keeping the interface's attention over `[M^h ; h_1..h_K]`; for local
    interfaces the rows are batch*positions with one query each, so every row is one position."""
    context = model.context
    context.keep_attention, context.attention = True, {}
    try:
        with model.mode("import"):
            model(**encoding)
    finally:
        context.keep_attention = False
    probs = next(iter(context.attention.values()))  # (N, T, n_h + K)
    rows = probs.float().reshape(-1, probs.shape[-1])
    mean = rows.mean(0)
    weights = [float(w) for w in mean] + [max(0.0, 1.0 - float(mean.sum()))]
    slots = [f"M^h {i + 1}" for i in range(n_h)] + [f"h_{k + 1}" for k in range(K)] + ["input rows"]
    return AttentionReading(network, slots, weights, rows.shape[0])


@torch.no_grad()
def predict(bundle, text: str | None) -> DemoResult:
    """Classifies `text` with every network of `bundle`: each interface's host as the original network and as the
    CKB-backed network, and each exported network; reads each interface's attention over the CKB's slots.

    Raises `EmptyInput` for a text with nothing to classify."""
    result = DemoResult()
    n_h, K = bundle.ckb.config.high_level_size, bundle.ckb.config.num_low_level
    prepared = {}
    for name in [*bundle.interfaces, *bundle.exported]:
        if name not in prepared:
            prepared[name] = prepare_input(text, bundle.tokenizers[name])
            for note in prepared[name].notes:
                if note not in result.notes:
                    result.notes.append(note)
    result.num_tokens = max(p.num_tokens for p in prepared.values())
    for name, model in bundle.interfaces.items():
        encoding, config = prepared[name].encoding, model.base_model.config
        with model.disable_interfaces():
            result.predictions.append(_prediction(model, config, name, "original", encoding, bundle.results))
        with model.mode("interface"):
            result.predictions.append(_prediction(model, config, name, "CKB-backed", encoding, bundle.results))
        result.attention.append(_read_attention(model, encoding, name, n_h, K))
    for name, model in bundle.exported.items():
        result.predictions.append(_prediction(model, model.config, name, "exported", prepared[name].encoding,
                                              bundle.results))
    return result


def model_keys(bundle) -> list[tuple[str, str]]:
    """(network, version) of every prediction `predict` makes, in its order: the UI's output slots."""
    keys = []
    for name in bundle.interfaces:
        keys += [(name, "original"), (name, "CKB-backed")]
    keys += [(name, "exported") for name in bundle.exported]
    return keys
