"""`hf-ckb adapt`: a network that did not exist when the bundle was made learns through its store, and is exported."""

import os

from .data import load_data
from .errors import CLIError
from .finetune import TEXT_ARCHITECTURES, build_network
from .models import load_bundle, model_accuracy
from .options import Formatter, add_data_options, fraction, positive_float, positive_int
from .output import check_output_dir, table

HELP = "Train a new network (never imported) through a bundle's frozen store of word embeddings, and export it."
DESCRIPTION = """\
Builds a fresh network of --architecture with the bundle's tokenizer, gives it the bundle's store of word
embeddings (a 'lookup' interface, made by `hf-ckb import --function embeddings`; --source names it when the
bundle has several), and trains the rest of the network on the labelled --dataset, optionally on a fraction of
its training labels (--label-fraction). The store and the interface that reads it stay frozen. The network is then
exported: its embedding table becomes the store read once for every token, so the exported network computes
exactly what the CKB-backed one does, and runs without the CKB.

A store of a network's *function* (the default import) is not offered: measured in benchmarks/knowledge, it helped
no newcomer more than a random store did, while the store of word embeddings gave 10.6 to 19.0 points over a
random store with a tenth of the labels.

Writes into --output-dir (a bundle; it may be --bundle itself): interfaces/NAME/, hosts/NAME/ and exported/NAME/,
with the CKB; checkpoints in checkpoints/finetune-NAME/. Prints the test accuracy (validation when there is no
test split)."""
EPILOG = """\
examples:
  hf-ckb import --network rnn=models/rnn --dataset rotten_tomatoes --design memory --function embeddings \\
      --output-dir kb-words
  hf-ckb adapt --bundle kb-words --architecture ann --dataset rotten_tomatoes --label-fraction 0.1 \\
      --output-dir kb-ann"""


def add_parser(subparsers):
    p = subparsers.add_parser("adapt", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    p.add_argument("--bundle", required=True, metavar="DIR", help="The bundle whose store to read (or a Hub id).")
    p.add_argument("--architecture", required=True, choices=TEXT_ARCHITECTURES, help="The new network's kind.")
    add_data_options(p, per_network=False)
    p.add_argument("--output-dir", required=True, metavar="DIR", help="The bundle that receives the new network.")
    p.add_argument("--source", metavar="NAME", help="The bundle's lookup interface to read through (default: its "
                                                    "only one).")
    p.add_argument("--name", metavar="NAME", help="The new network's name in the bundle (default: --architecture).")
    p.add_argument("--label-fraction", type=fraction, default=1.0, metavar="F",
                   help="Train on this fraction of the training labels (a seeded draw).")
    p.add_argument("--steps", type=positive_int, default=300, help="Optimiser steps.")
    p.add_argument("--learning-rate", type=positive_float, default=1e-3, help="Peak learning rate.")
    p.add_argument("--batch-size", type=positive_int, default=32, help="Examples per step.")
    p.add_argument("--eval-steps", type=positive_int, default=100, help="Evaluate and keep the best every this many "
                                                                        "steps.")
    p.add_argument("--seed", type=int, default=0, help="Random seed (also of the labelled draw).")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    import torch

    from ..bundle import update_results
    from ..data import tokenize_dataset
    from ..knowledge.students import adapt_newcomer, lookup_source

    check_output_dir(args.output_dir)
    bundle = load_bundle(args.bundle)
    try:
        source = lookup_source(bundle, args.source)
    except ValueError as err:
        raise CLIError(f"--bundle {args.bundle!r}: {err}") from err
    tokenizer, name = bundle.tokenizers[source], args.name or args.architecture
    raw = load_data(args.dataset[0], (args.text_column or ["text"])[0], (args.label_column or ["label"])[0],
                    seed=args.seed)
    data = tokenize_dataset(raw, tokenizer, max_length=args.max_length)
    train = data["train"].shuffle(seed=args.seed)
    train = train.select(range(max(1, round(args.label_fraction * len(train)))))
    width = bundle.interfaces[source].base_model.get_input_embeddings().base_layer.embedding_dim
    torch.manual_seed(args.seed)
    host = build_network(args.architecture, tokenizer, raw["train"].features["label"].names, args.max_length, width)
    net, exported = adapt_newcomer(bundle, host, train, data["validation"], args.output_dir, source=source,
                                   name=name, steps=args.steps, learning_rate=args.learning_rate,
                                   batch_size=args.batch_size, eval_steps=min(args.eval_steps, args.steps),
                                   seed=args.seed)
    split = "test" if "test" in data else "validation"
    with net.mode("interface"):
        backed = model_accuracy(net, tokenizer, data[split])
    alone = model_accuracy(exported, tokenizer, data[split])
    update_results(args.output_dir, {"interfaces": {name: {"accuracy": backed, "split": split}},
                                     "exported": {name: {"accuracy": alone, "source_interface": name,
                                                         "adapted_from": source}}})
    print("\n" + table(["network", "labels", "split", "CKB-backed accuracy", "exported accuracy"],
                       [[name, len(train), split, backed, alone]]))
    print(f"\nSaved {name} (interface, host, exported network) to the bundle {os.path.join(args.output_dir, '')}")
    return 0
