"""Table B.6's "CKB-based model": a host whose function is replaced by its interface, trained on labels with or
without training the CKB (transfer learning through the CKB)."""

from __future__ import annotations

import torch
from torch import nn

from ..interface import InterfaceModel
from ..interface.targets import input_embeddings
from .stock_loop import interface_name, save_interface_run, train_stock, trainable_roles

# module names of word/position embeddings across hf_ckb's networks, BERT-likes, GPT-2 and decoder-only LMs
EMBEDDING_NAMES = {"embeddings", "word_embeddings", "position_embeddings", "wte", "wpe", "embed_tokens",
                   "embed_positions"}


class InterfaceTaskModule(nn.Module):
    """`net` (an `InterfaceModel`) in 'interface' mode with its host's own loss through its head:
    `forward(input_ids, attention_mask, labels=None)` -> `{"loss", "logits"}`.

    The explicit signature is what lets the stock Trainer pick the batch's columns and find the labels
    (`InterfaceModel.forward(*args, **kwargs)` shows it neither)."""

    def __init__(self, net: InterfaceModel):
        super().__init__()
        self.net = net

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        with self.net.mode("interface"):
            out = self.net(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        if labels is not None and out.loss is None:
            raise ValueError(f"{type(self.net.base_model).__name__} returned no loss for the labels.")
        return {"loss": out.loss, "logits": out.logits} if labels is not None else {"logits": out.logits}



def embedding_parameter_names(host: nn.Module, prefix: str = "") -> set[str]:
    """Names (with `prefix`) of `host`'s word and position embedding parameters: the input embeddings when the host
    declares them (`get_input_embeddings`), and every `nn.Embedding` named like one (`EMBEDDING_NAMES`)."""
    declared = input_embeddings(host)
    names = set()
    for module_name, module in host.named_modules():
        named_like_one = isinstance(module, nn.Embedding) and module_name.rpartition(".")[2] in EMBEDDING_NAMES
        if module is declared or named_like_one:
            names.update(f"{prefix}{module_name}.{n}" if module_name else f"{prefix}{n}"
                         for n, _ in module.named_parameters())
    return names


def finetune_interface_model(net: InterfaceModel, tokenizer, train, validation, output_dir: str, steps: int = 600,
                             learning_rate: float = 1e-3, batch_size: int = 32, train_ckb: bool = True,
                             train_interface: bool = True, eval_steps: int = 200, seed: int = 0, data_collator=None,
                             callbacks=None, name: str | None = None, frozen: set[str] = frozenset(),
                             **training_args) -> InterfaceModel:
    """Table B.6's "CKB-based model": `net`'s host with its function (e.g. a MiniLM encoder) replaced by the
    interface, trained on the labels of `train` with the host's own loss through its head, in 'interface' mode.

    Trainable: the interface (unless `train_interface=False`: one adopted as it is, see
    `hf_ckb.knowledge.adopt_interface`), the host's parameters outside the function except the word/position
    embeddings (kept as they were, as in the paper's transfer setting, see [`embedding_parameter_names`]), and the
    CKB when `train_ckb` (else it is left bit-identical; its `requires_grad` flags are restored afterwards either way,
    since other networks may share it). The imitated function itself is frozen (unused in 'interface' mode), and so
    is every parameter named in `frozen` (as in `net.named_parameters()`). Returns
    `net` with the best validation accuracy, in eval mode; writes the bundle `output_dir` (the CKB,
    `interfaces/<name>/`, `hosts/<name>/`; `name` defaults to the host's `model_type`), checkpoints in
    `output_dir/checkpoints/finetune-<name>/`.
    """
    if not isinstance(net, InterfaceModel):
        raise TypeError(f"net must be an InterfaceModel, got {type(net).__name__}.")
    torch.manual_seed(seed)
    name = interface_name(net, name)
    # an interface that imitates the embeddings themselves (a 'lookup') sits inside them: it trains all the same
    embeddings = embedding_parameter_names(net.base_model, prefix="base_model.") - set(
        net.named_parameters_by_role()["interface"]) | set(frozen)
    with trainable_roles(net, interface=train_interface, host=True, ckb=train_ckb, frozen=embeddings):
        train_stock(InterfaceTaskModule(net), tokenizer, train, validation, output_dir, f"finetune-{name}", steps,
                    learning_rate, batch_size, eval_steps, seed, data_collator, callbacks, **training_args)
    net.eval()
    save_interface_run(net, name, output_dir, tokenizer)
    return net
