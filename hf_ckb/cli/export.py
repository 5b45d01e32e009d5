"""`hf-ckb export`: train a fresh network to imitate an interface, so the CKB's knowledge runs without the CKB."""

import os

from .data import data_specs, load_network_data
from .errors import CLIError
from .models import load_bundle, model_accuracy
from .options import Formatter, add_data_options, add_training_options
from .output import check_output_dir, check_resume, table

HELP = "Export a network's interface (and the CKB behind it) into a fresh standalone network."
DESCRIPTION = """\
Loads the bundle --bundle (written by `hf-ckb import`, `hf-ckb quickstart` or `hf-ckb pull`), attaches the
interface NAME to its host network (hosts/NAME/), and trains a freshly initialised network of the same
architecture (embeddings and head copied from the host) so that its function imitates the interface. The
checkpoint with the best validation accuracy is kept. An interface of word embeddings (`hf-ckb import
--function embeddings`) is exported exactly, without training: the new embedding table is the interface read once
for every token id.

Writes exported/NAME/ (a plain transformers model with its tokenizer and model card, loadable with
AutoModelForSequenceClassification/AutoTokenizer) into the bundle --output-dir (default: --bundle itself; another
folder becomes a bundle holding the CKB, the interface and its host too), adds the figures to its results.json,
and keeps the training checkpoints in checkpoints/export-NAME/. Prints the test accuracy of the host network and
of the exported one, and the exported function's fidelity to the interface."""
EPILOG = """\
examples:
  hf-ckb export --bundle kb --network rnn --dataset rotten_tomatoes
  hf-ckb export --bundle kb --network cnn --dataset data/ --output-dir kb-cnn --steps 2000"""


def add_parser(subparsers):
    p = subparsers.add_parser("export", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    p.add_argument("--bundle", required=True, metavar="DIR", help="The bundle holding the interface (or a Hub id).")
    p.add_argument("--network", required=True, metavar="NAME",
                   help="The interface to export (its name in the bundle's interfaces/).")
    add_data_options(p, per_network=True)
    p.add_argument("--output-dir", metavar="DIR", help="The bundle that receives exported/NAME/ (default: --bundle).")
    add_training_options(p)
    p.add_argument("--allow-ckb-mismatch", action="store_true",
                   help="Pair the interface with the CKB even if the CKB changed after the interface was trained.")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..bundle import update_results
    from ..layout import checkpoints_dir
    from ..pipeline import evaluate_export, export_network

    name = args.network
    if args.output_dir is None and not os.path.isdir(args.bundle):
        raise CLIError(f"--bundle {args.bundle!r} is not a local folder: give --output-dir for the exported bundle.")
    output_dir = args.output_dir or args.bundle
    specs = data_specs(args, [name])
    check_output_dir(output_dir)
    check_resume(checkpoints_dir(output_dir, f"export-{name}"), args.resume)
    bundle = load_bundle(args.bundle, interfaces=[name], allow_ckb_mismatch=args.allow_ckb_mismatch)
    source, tokenizer = bundle.interfaces[name], bundle.tokenizers[name]
    data = load_network_data(args, specs, {name: tokenizer}, configs={name: source.base_model.config})[name]
    split = "test" if "test" in data else "validation"
    with source.disable_interfaces():
        host_accuracy = model_accuracy(source, tokenizer, data[split])
    exported = export_network(source, name, tokenizer, data["train"], data["validation"], output_dir,
                              steps=args.steps, learning_rate=args.learning_rate, batch_size=args.batch_size,
                              loss=args.loss, eval_steps=min(args.eval_steps, args.steps), seed=args.seed,
                              resume=args.resume)
    figures = evaluate_export(source, exported, name, tokenizer, data[split])
    metrics = {"split": split, "examples": len(data[split]), "host_accuracy": host_accuracy,
               "accuracy": figures.get("accuracy"), "cosine": figures["cosine"], "rel_l2": figures["rel_l2"],
               "source_interface": name}
    update_results(output_dir, {"exported": {name: metrics}})
    print("\n" + table(["network", "split", "host acc", "exported acc", "fidelity cosine", "fidelity rel_l2"],
                       [[name, split, host_accuracy, metrics["accuracy"], metrics["cosine"], metrics["rel_l2"]]]))
    print(f"\nSaved the exported network and its tokenizer to {output_dir}/exported/{name}/")
    return 0
