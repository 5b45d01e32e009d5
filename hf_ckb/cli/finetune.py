"""`hf-ckb finetune`: train a network on a labelled text dataset (the networks a CKB later imports)."""

import os

from .data import load_data
from .errors import CLIError
from .models import load_classifier, load_config, load_tokenizer, model_accuracy
from .options import Formatter, add_data_options, positive_float, positive_int
from .output import check_output_dir, table, write_json

HELP = "Fine-tune one of the paper's networks (or any Hub/local classifier) on a text dataset."
DESCRIPTION = """\
Trains a sequence classifier on the dataset's train split, keeping the epoch with the best validation accuracy
(a validation split is carved from train, 10%, when the dataset has none).

--architecture builds the paper's network (rnn: a GRU, cnn: Kim's CNN, ann: a small Transformer) and trains a
BPE tokenizer on the train texts unless --tokenizer is given; digits builds the image network (the small
Transformer over an image's pixel tokens, with its image processor) for an image dataset (--dataset digits, an
image folder or a Hub image dataset, --image-column). --model starts from a saved or Hub model and its own
tokenizer (or image processor).

Labels: a model that names its classes (its config's id2label) keeps its head, and the dataset's class names
must be among them (integer labels are its class ids). Otherwise the labels define the classes: names get ids
in sorted order, integers are ids, and the saved config records them (id2label/label2id), which later commands
read back; --model then gets a new head sized to them.

Writes to --output-dir: the model (config.json, model.safetensors), its tokenizer, finetune_metrics.json and
the Trainer's checkpoints in checkpoints/finetune/. The folder is a network (a host to import with `hf-ckb import
--network NAME=DIR`), not a bundle. Prints the test accuracy when the dataset has a test split."""
EPILOG = """\
examples:
  hf-ckb finetune --architecture rnn --dataset rotten_tomatoes --output-dir models/rnn
  hf-ckb finetune --architecture cnn --dataset reviews.csv --text-column review --output-dir models/cnn
  hf-ckb finetune --model prajjwal1/bert-tiny --dataset data/ --output-dir models/bert --learning-rate 5e-5
  hf-ckb finetune --architecture digits --dataset digits --epochs 20 --learning-rate 3e-3 --output-dir models/digits"""

TEXT_ARCHITECTURES = ("rnn", "cnn", "ann")
ARCHITECTURES = (*TEXT_ARCHITECTURES, "digits")  # digits: the image network (hf_ckb.networks.digits)


def add_parser(subparsers):
    p = subparsers.add_parser("finetune", help=HELP, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=Formatter)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--architecture", choices=ARCHITECTURES, help="Build the paper's network of this kind.")
    which.add_argument("--model", metavar="PATH_OR_HUB_ID", help="Start from this saved or Hub model.")
    add_data_options(p, per_network=False)
    p.add_argument("--tokenizer", metavar="PATH_OR_ID",
                   help="Tokenizer to use (default: a BPE tokenizer trained on the train split with "
                        "--architecture, the model's own with --model).")
    p.add_argument("--vocab-size", type=positive_int, default=8000, help="Vocabulary of the trained BPE tokenizer.")
    p.add_argument("--output-dir", required=True, metavar="DIR",
                   help="Folder that receives the model and its tokenizer.")
    p.add_argument("--epochs", type=positive_float, default=2, help="Training epochs.")
    p.add_argument("--learning-rate", type=positive_float, default=1e-3, help="Learning rate.")
    p.add_argument("--batch-size", type=positive_int, default=32, help="Examples per step.")
    p.add_argument("--seed", type=int, default=0, help="Random seed.")
    p.set_defaults(run=run)
    return p


MIN_CLASSES = 2


EMBEDDING_WIDTH = {"rnn": "embedding_size", "cnn": "embedding_size", "ann": "hidden_size"}  # config key per kind


def build_network(architecture: str, tokenizer, names: list[str], max_length: int, embedding_width: int | None = None):
    """A new network of `architecture` whose config records the class `names` (in id order); its word embeddings
    `embedding_width` wide when given (else the architecture's default)."""
    from ..networks import (ANNConfig, ANNForSequenceClassification, CNNConfig, CNNForSequenceClassification,
                            DigitsConfig, DigitsForImageClassification, RNNConfig, RNNForSequenceClassification)

    if architecture == "digits":  # pixel tokens: the vocabulary is the processor's, not a tokenizer's
        return DigitsForImageClassification(DigitsConfig(**label_config(names)))
    config_class, model_class = {"rnn": (RNNConfig, RNNForSequenceClassification),
                                 "cnn": (CNNConfig, CNNForSequenceClassification),
                                 "ann": (ANNConfig, ANNForSequenceClassification)}[architecture]
    extra = {"max_position_embeddings": max(512, max_length)} if architecture == "ann" else {}
    if embedding_width is not None:
        extra[EMBEDDING_WIDTH[architecture]] = embedding_width
    config = config_class(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **label_config(names),
                          **extra)
    return model_class(config)


def label_config(names: list[str]) -> dict:
    """The config entries that record class `names` (in id order) in a model."""
    return {"num_labels": len(names), "id2label": dict(enumerate(names)),
            "label2id": {name: i for i, name in enumerate(names)}}


def _load_labelled(args):
    """`(dataset, whether --model names its classes)`: the labels go through the classes of a --model that names
    them; otherwise they define the classes (see the command's description)."""
    from ..data import has_label_names

    if len(args.dataset) > 1 or any(len(v or []) > 1 for v in (args.text_column, args.label_column,
                                                                  args.image_column)):
        raise CLIError("finetune trains one network: give --dataset and each column option once.")
    config = load_config(args.model, "--model") if args.model else None
    named = config is not None and has_label_names(config)
    images = args.architecture == "digits" or bool(args.model and os.path.isfile(
        os.path.join(args.model, "preprocessor_config.json")))
    raw = load_data(args.dataset[0], (args.text_column or ["text"])[0], (args.label_column or ["label"])[0],
                    seed=args.seed, labels=config if named else None,
                    image_column=(args.image_column or ["image"])[0] if images else None)
    names = raw["train"].features["label"].names
    if len(names) < MIN_CLASSES:
        raise CLIError(f"Dataset {args.dataset[0]!r} has labels of {len(names)} class ({', '.join(names)}): "
                       f"finetune needs at least {MIN_CLASSES}.")
    return raw, named


def run(args) -> int:
    import torch

    from ..data import tokenize_dataset, train_tokenizer
    from ..pipeline import finetune

    check_output_dir(args.output_dir)
    raw, named = _load_labelled(args)
    names = raw["train"].features["label"].names
    torch.manual_seed(args.seed)
    if args.architecture == "digits":
        from ..networks import DigitsImageProcessor

        tokenizer = DigitsImageProcessor()
        model = build_network(args.architecture, tokenizer, names, args.max_length)
    elif args.architecture:
        if args.tokenizer:
            tokenizer = load_tokenizer(args.tokenizer, "--tokenizer")
        else:
            try:
                tokenizer = train_tokenizer(raw["train"]["text"], vocab_size=args.vocab_size)
            except (ValueError, TypeError) as err:
                raise CLIError(f"Cannot train a tokenizer on the train texts: {err}") from err
        model = build_network(args.architecture, tokenizer, names, args.max_length)
    else:  # a model that names its classes keeps its head; any other gets one for the dataset's classes
        labels = {} if named else dict(label_config(names), ignore_mismatched_sizes=True)
        model, tokenizer = load_classifier(args.model, "--model", **labels)
        if args.tokenizer:
            tokenizer = load_tokenizer(args.tokenizer, "--tokenizer", model)
    data = tokenize_dataset(raw, tokenizer, max_length=args.max_length)
    model = finetune(model, tokenizer, data["train"], data["validation"], args.output_dir, epochs=args.epochs,
                     learning_rate=args.learning_rate, batch_size=args.batch_size, seed=args.seed)
    tokenizer.save_pretrained(args.output_dir)
    metrics = {"validation_accuracy": model_accuracy(model, tokenizer, data["validation"])}
    if "test" in data:
        metrics["test_accuracy"] = model_accuracy(model, tokenizer, data["test"])
    write_json(os.path.join(args.output_dir, "finetune_metrics.json"), metrics)
    print("\n" + table(["split", "examples", "accuracy"],
                       [[split, len(data[split]), metrics[f"{split}_accuracy"]]
                        for split in ("validation", "test") if f"{split}_accuracy" in metrics]))
    print(f"\nSaved the model and its tokenizer to {args.output_dir}/")
    return 0
