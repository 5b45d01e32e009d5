"""`hf-ckb import`: jointly import trained networks into one continuous knowledge base."""

import os

from .data import data_specs, load_network_data
from .errors import CLIError
from .models import device_of, load_ckb, load_classifier
from .options import Formatter, add_data_options, add_training_options, parse_networks, positive_int
from .output import check_output_dir, check_resume, table, write_json

HELP = "Import trained networks into one CKB (each gets an interface), keeping the best checkpoint."
DESCRIPTION = """\
Attaches an interface to the imitated function of each network (the GRU of an RNN, the convolutions of a CNN,
the encoder of a Transformer) and trains the CKB and the interfaces jointly so that every interface reproduces
its network's function; the networks stay frozen. Each network reads its own dataset's train split as
unlabelled inputs; the validation split (10% of train when there is none) selects the checkpoint with the best
minimum CKB-backed accuracy over the networks. Networks load with AutoModelForSequenceClassification and
AutoTokenizer from their folders (e.g. the output of `hf-ckb finetune`).

Writes to --output-dir: ckb/ (the CKB, a transformers model), interfaces/NAME/ per network, import_metrics.json
and checkpoint-* folders. Prints per network the validation fidelity (cosine: 1 is perfect; rel_l2: 0 is
perfect) and the accuracy of the network running through its interface (CKB-backed)."""
EPILOG = """\
examples:
  hf-ckb import --network rnn=models/rnn --network cnn=models/cnn --dataset rotten_tomatoes --output-dir kb
  hf-ckb import --network rnn=models/rnn --dataset rnn=a.csv --network bert=models/bert --dataset bert=b.csv \\
      --text-column bert=sentence --output-dir kb --steps 2000
  hf-ckb import --ckb kb --network ann=models/ann --dataset rotten_tomatoes --output-dir kb2   # continue"""


def add_parser(subparsers):
    p = subparsers.add_parser("import", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    p.add_argument("--network", action="append", required=True, metavar="NAME=MODEL_DIR",
                   help="A network to import, under NAME; repeat for each network.")
    add_data_options(p, per_network=True)
    p.add_argument("--output-dir", required=True, metavar="DIR",
                   help="Folder that receives ckb/ and interfaces/.")
    p.add_argument("--ckb", metavar="DIR", help="Continue importing into this saved CKB (a ckb/ folder or an import "
                                                "--output-dir) instead of a new one; the size options are ignored.")
    ckb = p.add_argument_group("size of a new CKB (defaults: the paper's small setting)")
    ckb.add_argument("--num-low-level", type=positive_int, default=10, help="K, the low-level matrices.")
    ckb.add_argument("--low-level-size", type=positive_int, default=30, help="Rows of each low-level matrix.")
    ckb.add_argument("--high-level-size", type=positive_int, default=20, help="Rows of the high-level matrix.")
    ckb.add_argument("--ckb-hidden-size", type=positive_int, default=256, help="Width d of every row.")
    ckb.add_argument("--interface-heads", type=positive_int, default=4,
                     help="Attention heads of each interface; must divide the CKB width.")
    add_training_options(p)
    p.add_argument("--teacher-cache-mb", type=int, default=1024, metavar="MB",
                   help="Memory for caching the frozen hosts' function inputs/outputs, so epochs after the first do "
                        "not re-run the hosts (float32 if the data fits, else bfloat16, else off); 0 disables.")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from transformers import DataCollatorWithPadding

    from ..ckb import CKBConfig, CKBModel
    from ..interface import InterfaceConfig
    from ..pipeline import import_networks
    from ..training import evaluate_network

    model_dirs = parse_networks(args.network)
    names = list(model_dirs)
    specs = data_specs(args, names)
    check_output_dir(args.output_dir)
    check_resume(args.output_dir, args.resume)
    loaded = {name: load_classifier(path, f"--network {name}=") for name, path in model_dirs.items()}
    hosts = {name: model for name, (model, _) in loaded.items()}
    tokenizers = {name: tok for name, (_, tok) in loaded.items()}
    data = load_network_data(args, specs, tokenizers, configs={n: m.config for n, m in hosts.items()})
    if args.ckb:
        ckb = load_ckb(args.ckb)
    else:
        try:
            ckb = CKBModel(CKBConfig(num_low_level=args.num_low_level, low_level_size=args.low_level_size,
                                     high_level_size=args.high_level_size, hidden_size=args.ckb_hidden_size))
        except ValueError as err:
            raise CLIError(str(err)) from err
    if ckb.config.hidden_size % args.interface_heads:
        raise CLIError(f"--interface-heads {args.interface_heads} must divide the CKB width "
                       f"{ckb.config.hidden_size}.")
    module = import_networks(
        hosts, tokenizers, {n: data[n]["train"] for n in names}, {n: data[n]["validation"] for n in names},
        args.output_dir, ckb=ckb, interface_configs={n: InterfaceConfig(num_heads=args.interface_heads) for n in names},
        steps=args.steps, learning_rate=args.learning_rate, batch_size=args.batch_size, loss=args.loss,
        eval_steps=min(args.eval_steps, args.steps), seed=args.seed, resume=args.resume,
        teacher_cache_bytes=max(args.teacher_cache_mb, 0) * 2**20)

    device = device_of(module)
    metrics = {}
    for name in names:
        collator = DataCollatorWithPadding(tokenizers[name])
        metrics[name] = {split: evaluate_network(module, name, data[name][split], collator, 128, device)
                         for split in ("validation", "test") if split in data[name]}
    write_json(os.path.join(args.output_dir, "import_metrics.json"), metrics)
    rows = [[name, m["validation"]["cosine"], m["validation"]["rel_l2"], m["validation"].get("accuracy"),
             m.get("test", {}).get("accuracy")] for name, m in metrics.items()]
    print("\n" + table(["network", "val cosine", "val rel_l2", "val CKB-backed acc", "test CKB-backed acc"], rows))
    print(f"\nSaved the CKB to {os.path.join(args.output_dir, 'ckb')}/ and the interfaces to "
          f"{os.path.join(args.output_dir, 'interfaces')}/{{{','.join(names)}}}/")
    return 0
