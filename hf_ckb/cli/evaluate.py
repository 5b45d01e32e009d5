"""`hf-ckb evaluate`: accuracy of a model, or of every network of a bundle (host, CKB-backed, exported)."""

from .data import data_specs, load_network_data
from .errors import CLIError
from .models import device_of, load_bundle, load_classifier, model_accuracy
from .options import Formatter, add_data_options
from .output import dumps, table

HELP = "Accuracy of a model on a dataset split; with --bundle, of each of its networks, host and CKB-backed."
DESCRIPTION = """\
Scores one split of a dataset. With --model: a saved classifier (any AutoModelForSequenceClassification folder
with its tokenizer: a fine-tuned network, an exported one, or a Hub model). With --bundle: every network of the
bundle (or those named by --network): its host's accuracy, the accuracy of the host running through its
interface on the CKB (CKB-backed), the fidelity of the interface to the host's function (cosine: 1 is perfect;
rel_l2: 0 is perfect), and the accuracy of its exported network when the bundle has one.

Writes nothing; prints a table, or JSON with --json."""
EPILOG = """\
examples:
  hf-ckb evaluate --bundle kb --dataset rotten_tomatoes
  hf-ckb evaluate --bundle kb --network rnn --dataset rotten_tomatoes --json
  hf-ckb evaluate --model kb/exported/rnn --dataset rotten_tomatoes"""


def add_parser(subparsers):
    p = subparsers.add_parser("evaluate", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=Formatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="MODEL_DIR", help="A model to score (folder or Hub id).")
    source.add_argument("--bundle", metavar="DIR", help="A bundle whose networks to score (folder or Hub id).")
    p.add_argument("--network", action="append", metavar="NAME",
                   help="With --bundle: score only this network (repeat for several; default: all).")
    add_data_options(p, per_network=False)
    p.add_argument("--split", default="test", help="Split to score.")
    p.add_argument("--json", action="store_true", help="Print the results as JSON.")
    p.add_argument("--allow-ckb-mismatch", action="store_true",
                   help="Pair interfaces with the CKB even if the CKB changed after they were trained.")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    if args.network and not args.bundle:
        raise CLIError("--network needs --bundle.")
    rows = _score_bundle(args) if args.bundle else [_score_model(args)]
    if args.json:
        print(dumps(rows[0] if args.model else {"bundle": args.bundle, "dataset": args.dataset[0],
                                                "split": args.split, "networks": rows}))
        return 0
    keys = ["network", "examples", "accuracy"] if args.model else \
        ["network", "examples", "host_accuracy", "ckb_backed_accuracy", "cosine", "rel_l2", "exported_accuracy"]
    print(table(keys, [[row.get(k) for k in keys] for row in rows]))
    return 0


def _split(args, data: dict):
    if args.split not in data:
        raise CLIError(f"Dataset {args.dataset[0]!r} has no split {args.split!r} (its splits: {', '.join(data)}).")
    return data[args.split]


def _load(args, names: list[str], tokenizers: dict, configs: dict) -> dict:
    specs = data_specs(args, names)
    return load_network_data(args, specs, tokenizers, need_train=False, carve=args.split == "validation",
                             configs=configs)


def _score_model(args) -> dict:
    import torch

    model, tokenizer = load_classifier(args.model)
    model.to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    dataset = _split(args, _load(args, ["model"], {"model": tokenizer}, {"model": model.config})["model"])
    return {"network": args.model, "examples": len(dataset), "accuracy": model_accuracy(model, tokenizer, dataset)}


def _score_bundle(args) -> list[dict]:
    import torch

    from ..data import labelled_collator
    from ..training import CKBTrainingModule, evaluate_network

    bundle = load_bundle(args.bundle, interfaces=args.network, allow_ckb_mismatch=args.allow_ckb_mismatch)
    names = [n for n in sorted({*bundle.interfaces, *bundle.exported}) if not args.network or n in args.network]
    if not names:
        raise CLIError(f"--bundle {args.bundle!r} holds no interfaces and no exported networks to score.")
    configs = {n: (bundle.interfaces[n].base_model if n in bundle.interfaces else bundle.exported[n]).config
               for n in names}
    data = _load(args, names, bundle.tokenizers, configs)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for name in names:
        dataset, tokenizer = _split(args, data[name]), bundle.tokenizers[name]
        row = {"network": name, "examples": len(dataset)}
        if name in bundle.interfaces:
            net = bundle.interfaces[name].to(device)
            with net.disable_interfaces():
                row["host_accuracy"] = model_accuracy(net, tokenizer, dataset)
            module = CKBTrainingModule(bundle.ckb, {name: net}, "import")
            backed = evaluate_network(module, name, dataset, labelled_collator(tokenizer, dataset), 128,
                                      device_of(module))
            row.update(ckb_backed_accuracy=backed.get("accuracy"), cosine=backed["cosine"], rel_l2=backed["rel_l2"])
        if name in bundle.exported:
            row["exported_accuracy"] = model_accuracy(bundle.exported[name].to(device), tokenizer, dataset)
        rows.append(row)
    return rows
