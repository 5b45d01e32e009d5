"""`hf-ckb import`: jointly import trained networks into one continuous knowledge base."""

from ..interface.config import DESIGNS
from .data import data_specs, load_network_data
from .errors import CLIError
from .models import device_of, load_ckb, load_classifier, model_accuracy
from .options import Formatter, add_data_options, add_training_options, parse_networks, positive_int
from .output import check_output_dir, check_resume, table

HELP = "Import trained networks into one CKB (each gets an interface), keeping the best checkpoint."
DESCRIPTION = """\
Attaches an interface to the imitated function of each network (the GRU of an RNN, the convolutions of a CNN,
the encoder of a Transformer) and trains the CKB and the interfaces jointly so that every interface reproduces
its network's function; the networks stay frozen. Each network reads its own dataset's train split as
unlabelled inputs; the validation split (10% of train when there is none) selects the checkpoint with the best
minimum CKB-backed accuracy over the networks. Networks load with AutoModelForSequenceClassification and
AutoTokenizer from their folders (e.g. the output of `hf-ckb finetune`).

Writes the bundle --output-dir: the CKB at its root (config.json, model.safetensors: a transformers model),
interfaces/NAME/ and hosts/NAME/ (the network with its tokenizer) per network, results.json, a model card
(README.md), and the training checkpoints in checkpoints/import/ (--resume continues from the last one). Prints
per network the validation fidelity (cosine: 1 is perfect; rel_l2: 0 is perfect) and the accuracy of the network
running through its interface (CKB-backed)."""
EPILOG = """\
examples:
  hf-ckb import --network rnn=models/rnn --network cnn=models/cnn --dataset rotten_tomatoes --output-dir kb
  hf-ckb import --network rnn=models/rnn --dataset rnn=a.csv --network bert=models/bert --dataset bert=b.csv \\
      --text-column bert=sentence --output-dir kb --steps 2000
  hf-ckb import --network rnn=models/rnn --dataset rotten_tomatoes --design memory --output-dir kb-memory
  hf-ckb import --network rnn=models/rnn --dataset rotten_tomatoes --design memory --function embeddings \\
      --output-dir kb-words   # the store holds the RNN's word embeddings
  hf-ckb import --ckb kb --network ann=models/ann --dataset rotten_tomatoes --output-dir kb2   # start from kb's CKB"""


def add_parser(subparsers):
    p = subparsers.add_parser("import", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    p.add_argument("--network", action="append", required=True, metavar="NAME=MODEL_DIR",
                   help="A network to import, under NAME; repeat for each network.")
    add_data_options(p, per_network=True)
    p.add_argument("--output-dir", required=True, metavar="DIR",
                   help="The bundle to write (a new folder, or a bundle to add these networks to).")
    p.add_argument("--ckb", metavar="BUNDLE", help="Start from the CKB of this bundle instead of a new one; the size "
                                                   "options are ignored.")
    ckb = p.add_argument_group("size of a new CKB (defaults: the paper's small setting)")
    ckb.add_argument("--num-low-level", type=positive_int, default=10, help="K, the low-level matrices.")
    ckb.add_argument("--low-level-size", type=positive_int, default=30, help="Rows of each low-level matrix.")
    ckb.add_argument("--high-level-size", type=positive_int, default=20, help="Rows of the high-level matrix.")
    ckb.add_argument("--ckb-hidden-size", type=positive_int, default=256, help="Width d of every row.")
    ckb.add_argument("--interface-heads", type=positive_int, default=4,
                     help="Attention heads of each interface; must divide the CKB width.")
    ckb.add_argument("--design", choices=DESIGNS, default="paper",
                     help="The interface block: 'paper' (the paper's reading: own key/value projections of the CKB, "
                          "a residual, attention over input rows) or 'memory' (keys and values are the CKB rows, no "
                          "private path: the output comes only from what is read; benchmarks/knowledge) or "
                          "'sparse' (a store read --top-k slots at a time through product keys; needs "
                          "--num-low-level x --low-level-size = --high-level-size squared, e.g. 16 256 64 with "
                          "--ckb-hidden-size 64).")
    ckb.add_argument("--top-k", type=positive_int, default=8, help="Slots each head reads (the 'sparse' design).")
    ckb.add_argument("--function", choices=("default", "embeddings"), default="default",
                     help="What each interface imitates: 'default' (the network's function: a GRU cell, CNN windows, "
                          "an encoder) or 'embeddings' (its word embeddings, read from the store by token id: a "
                          "'lookup' interface; networks of one tokenizer can then reuse each other's store).")
    add_training_options(p)
    p.add_argument("--teacher-cache-mb", type=int, default=1024, metavar="MB",
                   help="Memory for caching the frozen hosts' function inputs/outputs, so epochs after the first do "
                        "not re-run the hosts (float32 if the data fits, else bfloat16, else off); 0 disables.")
    p.set_defaults(run=run)
    return p


def _function_target(function: str, host, name: str) -> dict:
    """The `InterfaceConfig` fields that pick what `--function` names in `host` (none: its default function)."""
    if function == "default":
        return {}
    from ..interface.targets import embeddings_target

    try:
        return {"target_module": embeddings_target(host), "function_kind": "lookup"}
    except ValueError as err:
        raise CLIError(f"--function embeddings: network {name!r}: {err}") from err


def run(args) -> int:
    from ..bundle import update_results
    from ..data import labelled_collator
    from ..interface import InterfaceConfig
    from ..layout import checkpoints_dir
    from ..pipeline import import_networks
    from ..training import evaluate_network

    model_dirs = parse_networks(args.network)
    names = list(model_dirs)
    specs = data_specs(args, names)
    check_output_dir(args.output_dir)
    check_resume(checkpoints_dir(args.output_dir, "import"), args.resume)
    loaded = {name: load_classifier(path, f"--network {name}=") for name, path in model_dirs.items()}
    hosts = {name: model for name, (model, _) in loaded.items()}
    tokenizers = {name: tok for name, (_, tok) in loaded.items()}
    data = load_network_data(args, specs, tokenizers, configs={n: m.config for n, m in hosts.items()})
    ckb = load_ckb(args.ckb) if args.ckb else _new_ckb(args)
    if args.design == "sparse":
        from ..interface.product_keys import check_store

        c = ckb.config
        try:
            check_store(c.num_low_level, c.low_level_size, c.high_level_size, c.hidden_size)
        except ValueError as err:
            raise CLIError(f"--design sparse: {err}") from err
    if ckb.config.hidden_size % args.interface_heads:
        raise CLIError(f"--interface-heads {args.interface_heads} must divide the CKB width "
                       f"{ckb.config.hidden_size}.")
    configs = {n: InterfaceConfig(num_heads=args.interface_heads, dataset=specs[n][0], design=args.design,
                                  top_k=args.top_k, **_function_target(args.function, hosts[n], n)) for n in names}
    splits = {n: "test" if "test" in data[n] else "validation" for n in names}
    # scored before the import, which attaches the interfaces to these very modules
    host_accuracy = {n: model_accuracy(hosts[n], tokenizers[n], data[n][splits[n]]) for n in names}
    module = import_networks(
        hosts, tokenizers, {n: data[n]["train"] for n in names}, {n: data[n]["validation"] for n in names},
        args.output_dir, ckb=ckb, interface_configs=configs, steps=args.steps, learning_rate=args.learning_rate,
        batch_size=args.batch_size, loss=args.loss, eval_steps=min(args.eval_steps, args.steps), seed=args.seed,
        resume=args.resume, teacher_cache_bytes=max(args.teacher_cache_mb, 0) * 2**20)

    metrics = {}
    for name in names:
        dataset = data[name][splits[name]]
        metrics[name] = {**evaluate_network(module, name, dataset, labelled_collator(tokenizers[name], dataset), 128,
                                            device_of(module)),
                         "split": splits[name], "host_accuracy": host_accuracy[name]}
    update_results(args.output_dir, {
        "interfaces": metrics, "datasets": {n: specs[n][0] for n in names},
        "recipe": {"steps": args.steps, "learning_rate": args.learning_rate, "loss": args.loss,
                   "batch_size": args.batch_size, "seed": args.seed}})
    rows = [[name, m["split"], m["host_accuracy"], m.get("accuracy"), m["cosine"], m["rel_l2"]]
            for name, m in metrics.items()]
    print("\n" + table(["network", "split", "host acc", "CKB-backed acc", "fidelity cosine", "fidelity rel_l2"], rows))
    print(f"\nSaved the bundle to {args.output_dir}/: the CKB, interfaces/ and hosts/ "
          f"{{{','.join(names)}}}, results.json, README.md")
    return 0


def _new_ckb(args):
    from ..ckb import CKBConfig, CKBModel

    try:
        return CKBModel(CKBConfig(num_low_level=args.num_low_level, low_level_size=args.low_level_size,
                                  high_level_size=args.high_level_size, hidden_size=args.ckb_hidden_size))
    except ValueError as err:
        raise CLIError(str(err)) from err
