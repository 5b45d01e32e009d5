"""One loader for the saved classifiers hf_ckb reads: hosts, teachers and exported networks (sequence or token
classification, told apart by the saved `architectures`)."""

import os

from torch import nn


def load_classifier(path: str, **kwargs) -> nn.Module:
    """`AutoModelForTokenClassification` or `AutoModelForSequenceClassification` from a folder or Hub id, in eval
    mode. A truncated or corrupted weights file is a `ValueError` naming the file (safetensors' own message is
    about headers and offsets, which tells a user nothing)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoModelForTokenClassification

    from . import networks  # noqa: F401  (registers the paper's networks with the Auto classes)

    config = AutoConfig.from_pretrained(path, **{k: v for k, v in kwargs.items() if k in ("revision", "token")})
    is_token = any("TokenClassification" in a for a in (config.architectures or []))
    auto = AutoModelForTokenClassification if is_token else AutoModelForSequenceClassification
    try:
        return auto.from_pretrained(path, **kwargs).eval()
    except Exception as err:
        weights = os.path.join(path, "model.safetensors")
        if os.path.isfile(weights) and _unreadable(weights):
            raise ValueError(f"{weights} is corrupted or truncated ({str(err).splitlines()[0]}); re-save or "
                             "re-download the model.") from err
        raise


def _unreadable(path: str) -> bool:
    from safetensors import safe_open

    try:
        with safe_open(path, "pt") as f:
            for key in f.keys():
                f.get_tensor(key)
    except Exception:
        return True
    return False


__all__ = ["load_classifier"]
