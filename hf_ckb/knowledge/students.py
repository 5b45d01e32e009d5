"""Students that arrive later (issue 12 §3): a network designed after the store was built, never imported, trained
on its own few labels through a bundle's frozen store, then exported into a standalone network.

What it reads: a store of word embeddings (a `lookup` interface, `hf-ckb import --function embeddings`). The newcomer
takes that interface whole (`adopt_interface`, kept frozen), so each token reads exactly what the store holds for it,
and only the rest of the newcomer learns, from the labels. Measured in `benchmarks/knowledge` (`lookup` section, `ci`
scale, a tenth of the labels): 10.6 to 19.0 points over the same procedure on a random store, 7.5 to 11.2 over
training alone. A store of a *function* is bound to the reader that wrote it (a newcomer's own reader gained nothing
over a random store, `few_labels` section), so it is not offered here.

The export is exact: the lookup interface is a function of the token id alone, so the exported network's embedding
table is the interface read once for every id, and the exported network computes what the CKB-backed one does.
"""

from __future__ import annotations

from torch import nn

from ..interface import InterfaceConfig, InterfaceModel
from ..interface.standalone import export_lookup
from ..interface.targets import embeddings_target, input_embeddings
from .newcomer import adopt_interface


def lookup_source(bundle, source: str | None = None) -> str:
    """The name of the bundle interface a newcomer reads through: `source`, or the bundle's only `lookup` one."""
    lookups = sorted(name for name, net in bundle.interfaces.items()
                     if any(c.function_kind == "lookup" for c in net.interface_configs.values()))
    if source is not None:
        if source not in bundle.interfaces:
            raise ValueError(f"The bundle has no interface {source!r}; it has {sorted(bundle.interfaces)}.")
        if source not in lookups:
            raise ValueError(f"Interface {source!r} imitates a function, not word embeddings: a store of a function "
                             "is bound to the reader that wrote it. Adapt through a 'lookup' interface "
                             "(`hf-ckb import --function embeddings`).")
        return source
    if not lookups:
        raise ValueError("The bundle's store holds no word embeddings (no 'lookup' interface), the part of a store a "
                         "new network can read; import some with `hf-ckb import --function embeddings`.")
    if len(lookups) > 1:
        raise ValueError(f"The bundle has several stores of word embeddings ({', '.join(lookups)}): name one.")
    return lookups[0]


def attach_lookup(host: nn.Module, bundle, source: str) -> InterfaceModel:
    """`host` (a fresh network of any architecture that uses the source's tokenizer) with the bundle's `source` lookup
    interface adopted on its word embeddings, over the bundle's CKB."""
    source_net = bundle.interfaces[source]
    table = input_embeddings(source_net.base_model).base_layer  # the host's own table, under the lookup wrapper
    own = input_embeddings(host)
    if own is None:
        raise TypeError(f"{type(host).__name__} declares no input embeddings (get_input_embeddings).")
    if own.weight.shape != table.weight.shape:
        raise ValueError(f"The newcomer's word embeddings are {tuple(own.weight.shape)}, the store's "
                         f"{tuple(table.weight.shape)}: build it with the bundle's tokenizer and an embedding width of "
                         f"{table.weight.shape[1]}.")
    given = next(iter(source_net.interface_configs.values()))  # the block's shape: design, heads, top-k, dropout
    config = InterfaceConfig(design=given.design, num_heads=given.num_heads, top_k=given.top_k,
                             dropout=given.dropout, target_module=embeddings_target(host), function_kind="lookup")
    net = InterfaceModel(host, bundle.ckb, config)
    adopt_interface(net, source_net)
    return net


def adapt_newcomer(bundle, host: nn.Module, train, validation, output_dir: str, *, source: str | None = None,
                   name: str | None = None, steps: int = 300, learning_rate: float = 1e-3, batch_size: int = 32,
                   eval_steps: int = 100, seed: int = 0, **training_args) -> tuple[InterfaceModel, nn.Module]:
    """Trains `host`, a network the bundle never imported, on the labelled tokenized `train` (the bundle's tokenizer)
    through the bundle's frozen store of word embeddings (`source`: a `lookup` interface, see `lookup_source`), then
    exports it (`export_lookup`). The store and the adopted interface stay as they were; the rest of `host` trains
    (`finetune_interface_model`, best validation accuracy kept).

    Writes the bundle `output_dir` (the CKB, `interfaces/<name>/`, `hosts/<name>/`, `exported/<name>/`; `name`
    defaults to the host's `model_type`; `output_dir` may be the bundle's own folder). Returns `(CKB-backed
    newcomer, exported network)`."""
    from ..bundle import Bundle
    from ..training import finetune_interface_model
    from ..training.stock_loop import interface_name

    source = lookup_source(bundle, source)
    net = attach_lookup(host, bundle, source)
    name = interface_name(net, name)
    fingerprint = bundle.ckb.fingerprint()
    tokenizer = bundle.tokenizers[source]
    net = finetune_interface_model(net, tokenizer, train, validation, output_dir, steps=steps,
                                   learning_rate=learning_rate, batch_size=batch_size, train_ckb=False,
                                   train_interface=False, eval_steps=eval_steps, seed=seed, name=name,
                                   **training_args)
    if bundle.ckb.fingerprint() != fingerprint:
        raise AssertionError("adapt_newcomer changed the frozen store; it must only be read.")
    exported = export_lookup(net)
    Bundle(bundle.ckb, exported={name: exported}, tokenizers={name: tokenizer},
           results={"exported": {name: {"source_interface": name, "adapted_from": source}}}
           ).save_pretrained(output_dir)
    return net, exported


__all__ = ["adapt_newcomer", "attach_lookup", "export_lookup", "lookup_source"]
