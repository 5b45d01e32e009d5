"""`hf-ckb evaluate`: accuracy of a model, and of the same model running through its CKB interface."""

from .data import data_specs, load_network_data
from .errors import CLIError
from .models import available_interfaces, device_of, interface_dir, load_ckb, load_classifier, model_accuracy
from .options import Formatter, add_data_options
from .output import dumps, table

HELP = "Accuracy of a model on a dataset split; with --import-dir, also its CKB-backed accuracy and fidelity."
DESCRIPTION = """\
Scores a saved classifier (any AutoModelForSequenceClassification folder with its tokenizer: a fine-tuned
network, an exported one, or a Hub model) on one split. With --import-dir it also attaches the network's
interface from that import and reports the accuracy of the network running through the CKB and the fidelity
of the interface to the network's function (cosine: 1 is perfect; rel_l2: 0 is perfect).

Writes nothing; prints a table, or JSON with --json."""
EPILOG = """\
examples:
  hf-ckb evaluate --model exported/networks/rnn --dataset rotten_tomatoes
  hf-ckb evaluate --model models/rnn --import-dir kb --network-name rnn --dataset rotten_tomatoes --json"""


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=Formatter)
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="The model to score (folder or Hub id).")
    p.add_argument("--import-dir", metavar="DIR", help="Also score the model through its interface in this import.")
    p.add_argument("--network-name", metavar="NAME",
                   help="The model's interface name in DIR/interfaces/ (default: the only one there).")
    add_data_options(p, per_network=False)
    p.add_argument("--split", default="test", help="Split to score.")
    p.add_argument("--json", action="store_true", help="Print the results as JSON.")
    p.add_argument("--allow-ckb-mismatch", action="store_true",
                   help="Pair the interface with the CKB even if the CKB changed after the interface was trained.")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    import torch
    from transformers import DataCollatorWithPadding

    from ..interface import InterfaceModel
    from ..training import CKBTrainingModule, evaluate_network

    name = "model"
    if args.import_dir:
        name = args.network_name or _only_interface(args.import_dir)
        iface_dir = interface_dir(args.import_dir, name)
    elif args.network_name:
        raise CLIError("--network-name needs --import-dir.")
    specs = data_specs(args, [name])
    model, tokenizer = load_classifier(args.model)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    data = load_network_data(args, specs, {name: tokenizer}, need_train=False, carve=args.split == "validation",
                             configs={name: model.config})[name]
    if args.split not in data:
        raise CLIError(f"Dataset {args.dataset[0]!r} has no split {args.split!r} (its splits: {', '.join(data)}).")
    dataset = data[args.split]
    result = {"model": args.model, "dataset": args.dataset[0], "split": args.split, "examples": len(dataset),
              "accuracy": model_accuracy(model, tokenizer, dataset)}
    if args.import_dir:
        ckb = load_ckb(args.import_dir)
        net = InterfaceModel.from_pretrained(model, ckb, iface_dir, allow_ckb_mismatch=args.allow_ckb_mismatch)
        module = CKBTrainingModule(ckb, {name: net}, "import").to(device)
        backed = evaluate_network(module, name, dataset, DataCollatorWithPadding(tokenizer), 128, device_of(module))
        result.update(network_name=name, ckb_backed_accuracy=backed.get("accuracy"), cosine=backed["cosine"],
                      rel_l2=backed["rel_l2"])
    if args.json:
        print(dumps(result))
    elif args.import_dir:
        print(table(["model", "split", "examples", "accuracy", "CKB-backed acc", "fidelity cosine", "fidelity rel_l2"],
                    [[args.model, args.split, len(dataset), result["accuracy"], result["ckb_backed_accuracy"],
                      result["cosine"], result["rel_l2"]]]))
    else:
        print(table(["model", "split", "examples", "accuracy"],
                    [[args.model, args.split, len(dataset), result["accuracy"]]]))
    return 0


def _only_interface(import_dir: str) -> str:
    found = available_interfaces(import_dir)
    if len(found) != 1:
        raise CLIError(f"--import-dir {import_dir!r} holds interfaces {', '.join(found) or '(none)'}: pick one with "
                       "--network-name.")
    return found[0]
