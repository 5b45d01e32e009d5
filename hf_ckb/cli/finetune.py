"""`hf-ckb finetune`: train a network on a labelled text dataset (the networks a CKB later imports)."""

import os

from .data import load_data
from .errors import CLIError
from .models import load_classifier, load_tokenizer, model_accuracy
from .options import Formatter, add_data_options, positive_float, positive_int
from .output import table, write_json

HELP = "Fine-tune one of the paper's networks (or any Hub/local classifier) on a text dataset."
DESCRIPTION = """\
Trains a sequence classifier on the dataset's train split, keeping the epoch with the best validation accuracy
(a validation split is carved from train, 10%, when the dataset has none).

--architecture builds the paper's network (rnn: a GRU, cnn: Kim's CNN, ann: a small Transformer) and trains a
BPE tokenizer on the train texts unless --tokenizer is given; --model starts from a saved or Hub model and its
own tokenizer, with a new head sized to the dataset's labels.

Writes to --output-dir: the model (config.json, model.safetensors), its tokenizer, finetune_metrics.json and
the Trainer's checkpoint-* folder. Prints the test accuracy when the dataset has a test split."""
EPILOG = """\
examples:
  hf-ckb finetune --architecture rnn --dataset rotten_tomatoes --output-dir models/rnn
  hf-ckb finetune --architecture cnn --dataset reviews.csv --text-column review --output-dir models/cnn
  hf-ckb finetune --model prajjwal1/bert-tiny --dataset data/ --output-dir models/bert --learning-rate 5e-5"""

ARCHITECTURES = ("rnn", "cnn", "ann")


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


def label_info(dataset) -> tuple[int, dict | None]:
    """`(num_labels, id2label)` from the `label` feature (a `ClassLabel`) or the label values (0..max)."""
    import datasets

    feature = dataset["train"].features["label"]
    if isinstance(feature, datasets.ClassLabel):
        return feature.num_classes, dict(enumerate(feature.names))
    values = {v for split in dataset.values() for v in split["label"]}
    if not all(isinstance(v, int) and v >= 0 for v in values):
        raise CLIError(f"Labels must be class names or integers >= 0; found {sorted(values, key=str)[:5]}.")
    return max(values) + 1, None


def build_network(architecture: str, tokenizer, num_labels: int, id2label: dict | None, max_length: int):
    from ..networks import (ANNConfig, ANNForSequenceClassification, CNNConfig, CNNForSequenceClassification,
                            RNNConfig, RNNForSequenceClassification)

    config_class, model_class = {"rnn": (RNNConfig, RNNForSequenceClassification),
                                 "cnn": (CNNConfig, CNNForSequenceClassification),
                                 "ann": (ANNConfig, ANNForSequenceClassification)}[architecture]
    extra = {"max_position_embeddings": max(512, max_length)} if architecture == "ann" else {}
    labels = {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}} if id2label else {}
    config = config_class(vocab_size=len(tokenizer), num_labels=num_labels, pad_token_id=tokenizer.pad_token_id,
                          **labels, **extra)
    return model_class(config)


def run(args) -> int:
    import torch

    from ..data import tokenize_dataset, train_tokenizer
    from ..pipeline import finetune

    if len(args.dataset) > 1 or any(len(v or []) > 1 for v in (args.text_column, args.label_column)):
        raise CLIError("finetune trains one network: give --dataset, --text-column and --label-column once.")
    raw = load_data(args.dataset[0], (args.text_column or ["text"])[0], (args.label_column or ["label"])[0],
                    seed=args.seed)
    num_labels, id2label = label_info(raw)
    torch.manual_seed(args.seed)
    if args.architecture:
        if args.tokenizer:
            tokenizer = load_tokenizer(args.tokenizer, "--tokenizer")
        else:
            try:
                tokenizer = train_tokenizer(raw["train"]["text"], vocab_size=args.vocab_size)
            except (ValueError, TypeError) as err:
                raise CLIError(f"Cannot train a tokenizer on the train texts: {err}") from err
        model = build_network(args.architecture, tokenizer, num_labels, id2label, args.max_length)
    else:
        labels = {"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}} if id2label else {}
        model, tokenizer = load_classifier(args.model, "--model", num_labels=num_labels,
                                           ignore_mismatched_sizes=True, **labels)
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
