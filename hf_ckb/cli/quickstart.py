"""`hf-ckb quickstart`: the whole flow on the built-in Rotten Tomatoes data, in one command."""

from .errors import CLIError
from .options import Formatter, positive_float, positive_int

HELP = "Fine-tune an RNN and a CNN, import both into one CKB, export it into a fresh RNN (Rotten Tomatoes)."
DESCRIPTION = """\
The main job, end to end, on the Rotten Tomatoes snippets shipped with the package (split by movie):
fine-tunes the paper's RNN and CNN, imports both into one continuous knowledge base, exports the fused
knowledge into a fresh RNN, and prints one table (teacher, CKB-backed and exported test accuracy, fidelity,
and the logit-averaging ensemble).

Writes the bundle --output-dir (the layout every hf-ckb command reads): the CKB at its root, interfaces/ and
hosts/ (the two teachers with their tokenizer) for rnn and cnn, exported/rnn/, results.json, the model card
(README.md), and the runs' checkpoints in checkpoints/."""
EPILOG = """\
examples:
  hf-ckb quickstart                                  # the full run (minutes on a CPU)
  hf-ckb quickstart --output-dir smoke --limit 200 --finetune-epochs 1 --import-steps 20 --export-steps 20"""


def add_parser(subparsers):
    p = subparsers.add_parser("quickstart", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=Formatter)
    p.add_argument("--output-dir", default="ckb-quickstart", metavar="DIR",
                   help="Folder that receives everything.")
    p.add_argument("--finetune-epochs", type=positive_float, default=2, help="Epochs of teacher fine-tuning.")
    p.add_argument("--import-steps", type=positive_int, default=600, help="Steps of the joint import.")
    p.add_argument("--export-steps", type=positive_int, default=600, help="Steps of the export.")
    p.add_argument("--max-length", type=positive_int, default=64, help="Longest token sequence kept.")
    p.add_argument("--seed", type=int, default=0, help="Random seed (also of the split by movie).")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="Keep only this many training examples (smoke runs).")
    p.set_defaults(run=run)
    return p


def run(args) -> int:
    from ..quickstart import run_quickstart
    from .output import check_output_dir

    check_output_dir(args.output_dir)
    try:
        run_quickstart(output_dir=args.output_dir, finetune_epochs=args.finetune_epochs,
                       import_steps=args.import_steps, export_steps=args.export_steps, max_length=args.max_length,
                       seed=args.seed, limit=args.limit)
    except ImportError as err:  # the Rotten Tomatoes corpus ships in an optional package
        raise CLIError(str(err)) from err
    return 0
