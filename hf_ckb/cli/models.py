"""Loading the models, tokenizers, CKBs and interfaces that `hf-ckb` commands are given, and scoring a model."""

from __future__ import annotations

import os

from .errors import CLIError


def _looks_local(path: str) -> bool:
    """Whether `path` can only be a local folder (not a Hub id like 'bert-base-uncased' or 'org/name')."""
    first = path.split("/")[0]
    return (os.path.isabs(path) or path.startswith((".", "~")) or path.count("/") > 1 or path.endswith("/")
            or os.sep != "/" and os.sep in path or (("/" in path) and os.path.isdir(first)))


def check_model_path(path: str, option: str) -> None:
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise CLIError(f"{option} {path!r} holds no config.json: it is not a saved model folder.")
    elif os.path.exists(path):
        raise CLIError(f"{option} {path!r} is a file; give the folder the model was saved to.")
    elif _looks_local(path):
        raise CLIError(f"{option} {path!r}: no such model directory.")


def load_config(path: str, option: str = "--model"):
    """The `AutoConfig` of a saved model (a folder or Hub id), e.g. to read its labels before loading it."""
    from transformers import AutoConfig

    from .. import networks  # noqa: F401  (registers the paper's networks with the Auto classes)

    check_model_path(path, option)
    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as err:
        raise CLIError(f"Cannot read the config of {option} {path!r}: {str(err).splitlines()[0]}") from err


def load_classifier(path: str, option: str = "--model", **kwargs):
    """`(model, tokenizer)` of a saved classifier (a folder or Hub id; sequence or token classification), with a
    pad token set."""
    from ..classifiers import load_classifier as load

    check_model_path(path, option)
    try:
        model = load(path, **kwargs)
    except (OSError, ValueError) as err:
        raise CLIError(f"Cannot load a classification model from {option} {path!r}: "
                       f"{str(err).splitlines()[0]}") from err
    return model, load_tokenizer(path, option, model)


def load_tokenizer(path: str, option: str, model=None):
    """The tokenizer saved with a model, or an image network's image processor (its `preprocessor_config.json`)."""
    from transformers import AutoImageProcessor, AutoTokenizer

    if os.path.isfile(os.path.join(path, "preprocessor_config.json")):
        try:
            return AutoImageProcessor.from_pretrained(path)
        except (OSError, ValueError) as err:
            raise CLIError(f"Cannot load the image processor of {option} {path!r}: {str(err).splitlines()[0]}") \
                from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError) as err:
        raise CLIError(f"Cannot load a tokenizer from {option} {path!r}: {str(err).splitlines()[0]}") from err
    if tokenizer.pad_token is None:  # e.g. GPT-2: pad with an existing token so batches can be padded
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        if tokenizer.pad_token is None:
            raise CLIError(f"The tokenizer in {path!r} has no pad, eos or unk token to pad batches with.")
    if model is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer


def load_ckb(directory: str, option: str = "--ckb"):
    """The CKB of a bundle (or of a folder holding only a saved CKB)."""
    from ..layout import check_layout
    from ..ckb import load_ckb as load_checked_ckb

    _bundle_errors(check_layout, directory, option)
    return _bundle_errors(load_checked_ckb, directory, option)


def load_bundle(directory: str, option: str = "--bundle", interfaces: list[str] | None = None,
                allow_ckb_mismatch: bool = False):
    """`hf_ckb.Bundle.from_pretrained` (a folder or a Hub repo id), its errors as one-line `CLIError`s; the
    interfaces asked for must exist."""
    from ..bundle import Bundle

    return _bundle_errors(Bundle.from_pretrained, directory, option, interfaces=interfaces,
                          allow_ckb_mismatch=allow_ckb_mismatch)


def _bundle_errors(action, directory: str, option: str, **kwargs):
    from ..interface import CKBMismatchError

    try:
        return action(directory, **kwargs)
    except CKBMismatchError:
        raise  # `main` words it for the command line
    except (OSError, ValueError) as err:  # missing/legacy/corrupted folders name themselves in the message
        raise CLIError(f"{option} {str(err).splitlines()[0]}") from err


def device_of(module):
    return next(module.parameters()).device


def model_accuracy(model, tokenizer, dataset, batch_size: int = 128) -> float:
    """`hf_ckb.pipeline.model_accuracy`, imported only when a command scores (keeps `hf-ckb --help` fast)."""
    from ..pipeline import model_accuracy as score

    return score(model, tokenizer, dataset, batch_size)
