"""`hf-ckb export`: train a fresh network to imitate an interface, so the CKB's knowledge runs without the CKB."""

import os

from .data import data_specs, load_network_data
from .models import device_of, interface_dir, load_ckb, load_classifier, model_accuracy
from .options import Formatter, add_data_options, add_training_options, parse_networks
from .output import check_output_dir, check_resume, table, write_json

HELP = "Export a network's interface (and the CKB behind it) into a fresh standalone network."
DESCRIPTION = """\
Loads the CKB and the interface NAME saved by `hf-ckb import`, attaches the interface to its source network
(the host it was trained with, given as --network NAME=MODEL_DIR), and trains a freshly initialised network of the
same architecture (embeddings and head copied from the source) so that its function imitates the interface.
The checkpoint with the best validation accuracy is kept.

Writes to --output-dir: networks/NAME/ (a plain transformers model with its tokenizer, loadable with
AutoModelForSequenceClassification/AutoTokenizer), export_metrics.json and checkpoint-* folders. Prints the test
accuracy of the source network and of the exported one, and the exported function's fidelity to the interface."""
EPILOG = """\
examples:
  hf-ckb export --import-dir kb --network rnn=models/rnn --dataset rotten_tomatoes --output-dir exported
  hf-ckb export --import-dir kb --network cnn=models/cnn --dataset data/ --output-dir exported --steps 2000"""


def add_parser(subparsers):
    p = subparsers.add_parser("export", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    p.add_argument("--import-dir", required=True, metavar="DIR", help="The --output-dir of `hf-ckb import`.")
    p.add_argument("--network", required=True, metavar="NAME=MODEL_DIR",
                   help="The interface to export (its name in DIR/interfaces/) and the source network it belongs to.")
    add_data_options(p, per_network=True)
    p.add_argument("--output-dir", required=True, metavar="DIR",
                   help="Folder that receives networks/NAME/.")
    add_training_options(p)
    p.add_argument("--allow-ckb-mismatch", action="store_true",
                   help="Pair the interface with the CKB even if the CKB changed after the interface was trained.")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from transformers import DataCollatorWithPadding

    from ..interface import InterfaceModel
    from ..pipeline import export_network
    from ..training import evaluate_network

    (name, model_dir), = parse_networks([args.network]).items()
    specs = data_specs(args, [name])
    check_output_dir(args.output_dir)
    check_resume(args.output_dir, args.resume)
    iface_dir = interface_dir(args.import_dir, name)
    ckb = load_ckb(args.import_dir)
    host, tokenizer = load_classifier(model_dir, f"--network {name}=")
    data = load_network_data(args, specs, {name: tokenizer}, configs={name: host.config})[name]
    score_split = "test" if "test" in data else "validation"
    source_accuracy = model_accuracy(host, tokenizer, data[score_split])
    source = InterfaceModel.from_pretrained(host, ckb, iface_dir, allow_ckb_mismatch=args.allow_ckb_mismatch)
    module = export_network(source, name, tokenizer, data["train"], data["validation"], args.output_dir,
                            steps=args.steps, learning_rate=args.learning_rate, batch_size=args.batch_size,
                            loss=args.loss, eval_steps=min(args.eval_steps, args.steps), seed=args.seed,
                            resume=args.resume)
    network_dir = os.path.join(args.output_dir, "networks", name)
    tokenizer.save_pretrained(network_dir)
    exported = evaluate_network(module, name, data[score_split], DataCollatorWithPadding(tokenizer), 128,
                                device_of(module))
    metrics = {"split": score_split, "examples": len(data[score_split]), "source_accuracy": source_accuracy,
               "exported_accuracy": exported.get("accuracy"), "cosine": exported["cosine"],
               "rel_l2": exported["rel_l2"]}
    write_json(os.path.join(args.output_dir, "export_metrics.json"), metrics)
    print("\n" + table(["network", "split", "source acc", "exported acc", "fidelity cosine", "fidelity rel_l2"],
                       [[name, score_split, source_accuracy, metrics["exported_accuracy"], metrics["cosine"],
                         metrics["rel_l2"]]]))
    print(f"\nSaved the exported network and its tokenizer to {network_dir}/")
    return 0
