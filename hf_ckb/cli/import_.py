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
  hf-ckb import --ckb kb --network ann=models/ann --dataset rotten_tomatoes --output-dir kb2   # start from kb's CKB
  hf-ckb import --bundle kb --network cnn=models/cnn --dataset reviews.csv \\
      --output-dir kb2   # grow kb: keep its networks"""


def add_parser(subparsers):
    p = subparsers.add_parser("import", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=Formatter)
    p.add_argument("--network", action="append", required=True, metavar="NAME=MODEL_DIR",
                   help="A network to import, under NAME; repeat for each network.")
    add_data_options(p, per_network=True)
    p.add_argument("--output-dir", required=True, metavar="DIR",
                   help="The bundle to write (a new folder, or a bundle to add these networks to).")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--ckb", metavar="BUNDLE", help="Start from the CKB of this bundle instead of a new one; the "
                                                       "size options are ignored, and its interfaces become stale.")
    start.add_argument("--bundle", metavar="BUNDLE",
                       help="Grow this bundle: import the networks into its CKB and keep its networks usable, "
                            "without their teachers (--method); the lineage records the step. --output-dir may be "
                            "the bundle itself (replaced as a whole once the new one is complete).")
    grow = p.add_argument_group("growing a bundle (--bundle)")
    grow.add_argument("--method", choices=("naive", "regularised", "routing", "combined"), default="regularised",
                      help="naive: train the CKB on the new networks only (earlier ones drift); regularised: also "
                           "hold every earlier network's interface function where it was, on the new data read by "
                           "its own tokenizer (the default; at ci scale the earlier networks moved -0.07 "
                           "points, against -30 naively); routing: update only the --route-fraction of CKB rows the "
                           "new networks need most and the earlier ones use least; combined: routing and regularised.")
    grow.add_argument("--route-fraction", type=float, default=0.25, help="Rows of each level a routed import updates.")
    grow.add_argument("--anchor-weight", type=float, default=None,
                      help="Weight of holding the earlier networks' interface functions against the import "
                           "(regularised, combined). Default: import_into's, 1e3, chosen on validation at ci scale "
                           "(benchmarks/knowledge).")
    grow.add_argument("--replace", action="store_true", help="Import a network again under a name the bundle has.")
    ckb = p.add_argument_group("size of a new CKB (defaults: the paper's small setting)")
    ckb.add_argument("--num-low-level", type=positive_int, default=10, help="K, the low-level matrices.")
    ckb.add_argument("--low-level-size", type=positive_int, default=30, help="Rows of each low-level matrix.")
    ckb.add_argument("--high-level-size", type=positive_int, default=20, help="Rows of the high-level matrix.")
    ckb.add_argument("--ckb-hidden-size", type=positive_int, default=256, help="Width d of every row.")
    ckb.add_argument("--interface-heads", type=positive_int, default=4,
                     help="Attention heads of each interface; must divide the CKB width.")
    ckb.add_argument("--design", choices=DESIGNS, default=None,
                     help="The interface block (default: 'paper'; with --bundle, the bundle's): 'paper' (the paper's "
                          "reading: own key/value projections of the CKB, "
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
    ckb.add_argument("--memory-bank", action="store_true",
                     help="Start the new CKB's rows, and each interface's query and output maps, from prototypes of "
                          "its teacher's function (k-means over its activations: TRELM's memory bank), not at "
                          "random. The 'memory' design only; with --bundle, the rows a routed import updates "
                          "(--method routing or combined).")
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
    from ..layout import checkpoints_dir
    from ..pipeline import import_networks

    model_dirs = parse_networks(args.network)
    names = list(model_dirs)
    specs = data_specs(args, names)
    check_output_dir(args.output_dir)
    check_resume(checkpoints_dir(args.output_dir, "import"), args.resume)
    loaded = {name: load_classifier(path, f"--network {name}=") for name, path in model_dirs.items()}
    hosts = {name: model for name, (model, _) in loaded.items()}
    tokenizers = {name: tok for name, (_, tok) in loaded.items()}
    data = load_network_data(args, specs, tokenizers, configs={n: m.config for n, m in hosts.items()})
    if args.bundle:
        if args.memory_bank and args.method not in ("routing", "combined"):
            raise CLIError("--memory-bank with --bundle initialises the rows a routed import updates: add --method "
                           "routing or --method combined (the bundle's other rows hold its networks).")
        return _grow(args, hosts, tokenizers, data, specs)
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
    configs = _interface_configs(args, hosts, specs, args.design or "paper")
    if args.memory_bank and any(c.design != "memory" for c in configs.values()):
        raise CLIError("--memory-bank needs --design memory (keys and values are the CKB rows).")
    splits = {n: "test" if "test" in data[n] else "validation" for n in names}
    # scored before the import, which attaches the interfaces to these very modules
    host_accuracy = {n: model_accuracy(hosts[n], tokenizers[n], data[n][splits[n]]) for n in names}
    module = import_networks(
        hosts, tokenizers, {n: data[n]["train"] for n in names}, {n: data[n]["validation"] for n in names},
        args.output_dir, ckb=ckb, interface_configs=configs, steps=args.steps, learning_rate=args.learning_rate,
        batch_size=args.batch_size, loss=args.loss, eval_steps=min(args.eval_steps, args.steps), seed=args.seed,
        resume=args.resume, teacher_cache_bytes=max(args.teacher_cache_mb, 0) * 2**20, memory_bank=args.memory_bank)

    metrics = {name: {**scores, "split": splits[name], "host_accuracy": host_accuracy[name]}
               for name, scores in _scores(module, {n: data[n][splits[n]] for n in names}, tokenizers)}
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


def _interface_configs(args, hosts: dict, specs: dict, design: str) -> dict:
    from ..interface import InterfaceConfig

    return {n: InterfaceConfig(num_heads=args.interface_heads, dataset=specs[n][0], design=design, top_k=args.top_k,
                               **_function_target(args.function, host, n)) for n, host in hosts.items()}


def _grow(args, hosts: dict, tokenizers: dict, data: dict, specs: dict) -> int:
    """`--bundle`: import `hosts` into the bundle's CKB with `hf_ckb.continual.import_into`, keeping its networks.
    Each earlier network is held on the first new network's data read by its own tokenizer (regularised), and
    re-measured on the dataset the bundle records for it, when that loads here."""
    from ..continual import bundle_design, import_into
    from ..data.images import is_image_processor
    from .models import load_bundle

    bundle = load_bundle(args.bundle)
    names = list(hosts)
    earlier = [n for n in bundle.interfaces if n not in hosts]
    first = names[0]
    checks = {}
    readers = {}  # the earlier networks that can read the first new network's data
    for name in earlier:
        tokenizer = bundle.tokenizers.get(name)
        if tokenizer is None or is_image_processor(tokenizer) != is_image_processor(tokenizers[first]):
            if args.method in ("regularised", "combined"):
                raise CLIError(f"--method {args.method} holds earlier network {name!r} on {first!r}'s data, which "
                               f"it cannot read (another modality or no tokenizer); use --method naive.")
            continue
        readers[name] = tokenizer
    # one call: the data is loaded once and tokenized by each reader
    loaded = load_network_data(args, {name: specs[first] for name in readers}, readers) if readers else {}
    anchors = {name: splits["train"] for name, splits in loaded.items()}
    for name, tokenizer in readers.items():
        recorded = (bundle.results.get("datasets") or {}).get(name)
        if recorded:
            try:
                checks[name] = load_network_data(args, {name: (recorded, "text", "label", "image")}, {name: tokenizer},
                                                 configs={name: bundle.interfaces[name].base_model.config})[name]
            except CLIError:  # a dataset of another machine: the network is not re-measured, and the table says so
                pass
    try:
        design = args.design or bundle_design(bundle)
        module = import_into(bundle, hosts, tokenizers, {n: data[n]["train"] for n in names},
                             {n: data[n]["validation"] for n in names}, args.output_dir, method=args.method,
                             anchor_sets=anchors, anchor_eval_sets={n: d["validation"] for n, d in checks.items()},
                             route_fraction=args.route_fraction,
                             replace=args.replace,
                             interface_configs=_interface_configs(args, hosts, specs, design), steps=args.steps,
                             learning_rate=args.learning_rate, batch_size=args.batch_size, loss=args.loss,
                             eval_steps=min(args.eval_steps, args.steps), seed=args.seed,
                             memory_bank=args.memory_bank,
                             **({} if args.anchor_weight is None else {"anchor_weight": args.anchor_weight}))
    except ValueError as err:
        raise CLIError(str(err).replace("replace=True", "--replace").replace("method='naive'", "--method naive")) \
            from err
    from ..lineage import read_lineage

    step = read_lineage(args.output_dir)[-1]
    validation = _scores(module, {n: data[n]["validation"] for n in names}, tokenizers)
    rows = [[n, "new", m.get("accuracy"), m["cosine"]] for n, m in validation]
    rows += [[n, "earlier", *(step["earlier"][n].get(k) for k in ("accuracy", "cosine"))] if n in step["earlier"]
             else [n, "earlier (not re-measured)", None, None] for n in earlier]
    print("\n" + table(["network", "", "CKB-backed acc (validation)", "fidelity cosine"], rows))
    print(f"\nStep {step['step']} ({args.method}): CKB {step['ckb_before']} -> {step['ckb_after']}, rows changed "
          f"{step['changed_rows']['low']} low / {step['changed_rows']['high']} high. Saved the bundle to "
          f"{args.output_dir}/.")
    return 0


def _scores(module, datasets: dict, tokenizers: dict):
    """`(name, evaluate_network metrics)` of each imported network on its labelled dataset in `datasets`."""
    from ..data import labelled_collator
    from ..training import evaluate_network

    for name, dataset in datasets.items():
        yield name, evaluate_network(module, name, dataset, labelled_collator(tokenizers[name], dataset), 128,
                                     device_of(module))


def _new_ckb(args):
    from ..ckb import CKBConfig, CKBModel

    try:
        return CKBModel(CKBConfig(num_low_level=args.num_low_level, low_level_size=args.low_level_size,
                                  high_level_size=args.high_level_size, hidden_size=args.ckb_hidden_size))
    except ValueError as err:
        raise CLIError(str(err)) from err
