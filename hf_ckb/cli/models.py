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
    """`(AutoModelForSequenceClassification, AutoTokenizer)` from a folder or Hub id, with a pad token set."""
    from transformers import AutoModelForSequenceClassification

    from .. import networks  # noqa: F401  (registers the paper's networks with the Auto classes)

    check_model_path(path, option)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as err:
        raise CLIError(f"Cannot load a sequence classification model from {option} {path!r}: "
                       f"{str(err).splitlines()[0]}") from err
    return model, load_tokenizer(path, option, model)


def load_tokenizer(path: str, option: str, model=None):
    from transformers import AutoTokenizer

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


def load_ckb(directory: str):
    """A saved CKB from `directory` or from `directory/ckb` (an import output folder)."""
    from ..ckb import CKBModel

    for candidate in (directory, os.path.join(directory, "ckb")):
        if os.path.isfile(os.path.join(candidate, "config.json")):
            try:
                return CKBModel.from_pretrained(candidate)
            except (OSError, ValueError) as err:
                raise CLIError(f"Cannot load the CKB in {candidate!r}: {str(err).splitlines()[0]}") from err
    raise CLIError(f"No saved CKB in {directory!r} (expected {os.path.join(directory, 'ckb', 'config.json')}); "
                   "give the --output-dir of `hf-ckb import`.")


def interface_dir(import_dir: str, name: str) -> str:
    from ..interface.config import INTERFACE_CONFIG_NAME

    path = os.path.join(import_dir, "interfaces", name)
    found = available_interfaces(import_dir)
    if not os.path.isfile(os.path.join(path, INTERFACE_CONFIG_NAME)):
        raise CLIError(f"No interface {name!r} in {import_dir!r} (expected {path}/{INTERFACE_CONFIG_NAME}); "
                       f"interfaces there: {', '.join(found) or 'none'}.")
    return path


def available_interfaces(import_dir: str) -> list[str]:
    """The interface names saved in an import folder; a folder without `interfaces/` is a `CLIError`."""
    root = os.path.join(import_dir, "interfaces")
    if not os.path.isdir(root):
        what = "no such directory" if not os.path.isdir(import_dir) else "it holds no interfaces/ folder"
        raise CLIError(f"--import-dir {import_dir!r}: {what}; give the --output-dir of `hf-ckb import`.")
    return sorted(n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n)))


def device_of(module):
    return next(module.parameters()).device


def model_accuracy(model, tokenizer, dataset, batch_size: int = 128) -> float:
    """Accuracy of a plain classifier on a tokenized labelled dataset, on the model's device."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding

    from ..training.trainer import accuracy

    device = device_of(model)
    model.eval()
    predictions, references = [], []
    with torch.no_grad():
        for batch in DataLoader(dataset, batch_size=batch_size, collate_fn=DataCollatorWithPadding(tokenizer)):
            logits = model(input_ids=batch["input_ids"].to(device),
                           attention_mask=batch["attention_mask"].to(device)).logits
            predictions.append(logits.argmax(-1).cpu())
            references.append(batch["labels"])
    return accuracy(torch.cat(predictions), torch.cat(references))
