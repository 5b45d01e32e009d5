"""Knockout screen of the interface designs (issue 10): does the CKB-backed network need the knowledge in its CKB?

For each network (the paper's RNN and CNN, each imported alone) and each design (`paper`, `memory`), the teacher is
fine-tuned once, imported into a fresh CKB, and the CKB-backed network scored with the CKB as imported, zeroed and
random (same std), interfaces unchanged (`hf_ckb.knowledge.knockout`). Checkpoints are selected on validation
(`import_networks`, Eq. A.1); the knockout is read on validation and, for the final rows only, on test.

    python -m benchmarks.knowledge.screen --scale small

writes `benchmarks/knowledge/results/screen-<scale>.md` and `.json` (`screen-<scale>-seed<n>.*` with `--seed n`).
"""

import argparse
import copy
import json
import os
import tempfile
import time
from dataclasses import dataclass

import torch

from hf_ckb import CKBConfig, CKBModel, InterfaceConfig
from hf_ckb.data import labelled_collator, load_rotten_tomatoes, tokenize_dataset, train_tokenizer
from hf_ckb.knowledge import knockout
from hf_ckb.networks import CNNConfig, CNNForSequenceClassification, RNNConfig, RNNForSequenceClassification
from hf_ckb.pipeline import finetune, import_networks, model_accuracy
from hf_ckb.utils import atomic_file

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
DESIGNS = ("paper", "memory")
SPLITS = ("validation", "test")
RANDOM_SEED = 1000  # + the run's seed: the random CKB of the knockout


@dataclass(frozen=True)
class Scale:
    train_limit: int
    eval_limit: int | None  # validation and test snippets (None: all)
    max_length: int
    finetune_epochs: float
    import_steps: int
    eval_steps: int
    ckb: dict


SCALES = {
    "tiny": Scale(48, 32, 24, 1, 4, 2, dict(num_low_level=2, low_level_size=4, high_level_size=4, hidden_size=32)),
    # the paper's small CKB (81,920 parameters) on a 3,000-snippet subset: minutes per import on 2 CPU cores
    "small": Scale(3000, None, 48, 2, 300, 150,
                   dict(num_low_level=10, low_level_size=30, high_level_size=20, hidden_size=256)),
}


def build_teachers(names, scale: Scale, workdir: str, seed: int):
    """The tokenized data and the fine-tuned teachers `{name: model}` (small networks at the paper's sizes)."""
    torch.manual_seed(seed)
    raw = load_rotten_tomatoes(seed=seed)
    raw["train"] = raw["train"].select(range(min(scale.train_limit, len(raw["train"]))))
    for split in SPLITS:
        if scale.eval_limit:
            raw[split] = raw[split].select(range(min(scale.eval_limit, len(raw[split]))))
    tokenizer = train_tokenizer(raw["train"]["text"], vocab_size=8000)
    data = tokenize_dataset(raw, tokenizer, max_length=scale.max_length)
    label_names = raw["train"].features["label"].names
    common = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                  id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)})
    classes = {"rnn": (RNNForSequenceClassification, RNNConfig), "cnn": (CNNForSequenceClassification, CNNConfig)}
    teachers = {}
    for name in names:
        model_cls, config_cls = classes[name]
        teachers[name] = finetune(model_cls(config_cls(**common)), tokenizer, data["train"], data["validation"],
                                  os.path.join(workdir, f"teacher-{name}"), epochs=scale.finetune_epochs, seed=seed)
    return tokenizer, data, teachers


def majority(dataset) -> float:
    labels = torch.tensor(dataset["label"])
    return 100 * float(labels.bincount().max()) / len(labels)


def knockout_row(teacher, name, design, tokenizer, data, scale: Scale, workdir: str, seed: int,
                 freeze_ckb: bool = False) -> dict:
    """Imports a copy of `teacher` alone with `design`, then the knockout on validation and test. `freeze_ckb`: the
    control where the CKB keeps its random initialisation and only the interface learns (its gradients are zeroed;
    AdamW's weight decay still shrinks it slightly, which `ckb_change` shows)."""
    start = time.time()
    torch.manual_seed(seed)
    ckb = CKBModel(CKBConfig(**scale.ckb))
    initial = [p.detach().clone() for p in (ckb.low_level, ckb.high_level)]
    hooks = [p.register_hook(torch.zeros_like) for p in (ckb.low_level, ckb.high_level)] if freeze_ckb else []
    run_dir = os.path.join(workdir, f"{design}-{name}{'-frozen' if freeze_ckb else ''}")
    module = import_networks({name: copy.deepcopy(teacher)}, {name: tokenizer}, {name: data["train"]},
                             {name: data["validation"]}, run_dir, ckb=ckb,
                             interface_configs={name: InterfaceConfig(design=design)}, steps=scale.import_steps,
                             eval_steps=scale.eval_steps, seed=seed)
    for hook in hooks:
        hook.remove()
    seconds = round(time.time() - start, 1)
    change = sum(float((p.detach() - p0).norm() ** 2) for p, p0 in zip((ckb.low_level, ckb.high_level), initial))
    row = {"import_seconds": seconds, "ckb_std": round(float(ckb.low_level.detach().std()), 4),
           "ckb_change": round((change / sum(float(p0.norm() ** 2) for p0 in initial)) ** 0.5, 4)}
    for split in SPLITS:
        # the random CKB's seed differs from the one the CKB was initialised with (else 'random' = the initial CKB)
        scores = knockout(module, name, data[split], labelled_collator(tokenizer, data[split]), seed=RANDOM_SEED + seed,
                          batch_size=128)
        row[split] = {"teacher": 100 * model_accuracy(teacher, tokenizer, data[split]),
                      "ckb_backed": 100 * scores["imported"]["accuracy"],
                      "zero_ckb": 100 * scores["zero"]["accuracy"], "random_ckb": 100 * scores["random"]["accuracy"],
                      "majority": majority(data[split]),
                      "cos": {kind: scores[kind]["cosine"] for kind in scores}}
    print(f"{design} {name} frozen={freeze_ckb}: {json.dumps(row)}", flush=True)
    return row


def format_markdown(results: dict, scale_name: str, command: str) -> str:
    lines = [f"# Knockout screen, `{scale_name}` scale", "", f"Command: `{command}`", "",
             "CKB-backed accuracy (%) with the CKB as imported, zeroed and random (same std), interfaces unchanged; "
             "cos: fidelity of the interface to the host function (teacher-forced). CKB change: "
             "||W - W_init|| / ||W_init||. 'frozen at init': the control where only the interface learns. "
             "Checkpoints selected on validation; knockouts read on validation (test for the final rows only).", ""]
    for split in SPLITS:
        lines += [f"## {split}", "", "| design | CKB in import | network | teacher | as imported | zeroed | random | "
                  "majority | cos imported | cos zeroed | cos random | CKB std | CKB change | import s |",
                  "|" + " --- |" * 14]
        for design_results in (results["paper_design"], results):
            for key, how in (("knockout", "trained"), ("frozen_ckb", "frozen at init")):
                for name, row in design_results[key].items():
                    r = row[split]
                    lines.append(f"| {design_results['design']} | {how} | {name.upper()} | {r['teacher']:.2f} | "
                                 f"{r['ckb_backed']:.2f} | {r['zero_ckb']:.2f} | {r['random_ckb']:.2f} | "
                                 f"{r['majority']:.2f} | {r['cos']['imported']:.3f} | {r['cos']['zero']:.3f} | "
                                 f"{r['cos']['random']:.3f} | {row['ckb_std']} | {row['ckb_change']} | "
                                 f"{row['import_seconds']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def run(scale_name: str = "small", networks=("cnn", "rnn"), seed: int = 0, results_dir: str = RESULTS,
        workdir: str | None = None) -> dict:
    """Runs the screen and writes `<results_dir>/<scale>.json` and `.md` (`<scale>-seed<seed>.*` for a seed other
    than 0); returns the results dict."""
    scale = SCALES[scale_name]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = workdir or tmp
        tokenizer, data, teachers = build_teachers(networks, scale, workdir, seed)
        arms = (("knockout", False), ("frozen_ckb", True))
        per_design = {design: {"design": design, **{key: {
            name: knockout_row(teachers[name], name, design, tokenizer, data, scale, workdir, seed, frozen)
            for name in networks} for key, frozen in arms}} for design in DESIGNS}
    results = {**per_design["memory"], "paper_design": per_design["paper"], "scale": scale_name,
               "train_examples": len(data["train"]), "import_steps": scale.import_steps, "seed": seed}
    command = f"python -m benchmarks.knowledge.screen --scale {scale_name}" + (f" --seed {seed}" if seed else "")
    stem = os.path.join(results_dir, f"screen-{scale_name}" if seed == 0 else f"screen-{scale_name}-seed{seed}")
    os.makedirs(results_dir, exist_ok=True)
    with atomic_file(f"{stem}.json") as path, open(path, "w") as f:
        json.dump(results, f, indent=2)
    with atomic_file(f"{stem}.md") as path, open(path, "w") as f:
        f.write(format_markdown(results, scale_name, command) + "\n")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--networks", nargs="+", choices=("cnn", "rnn"), default=["cnn", "rnn"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results-dir", default=RESULTS)
    args = parser.parse_args(argv)
    run(args.scale, tuple(args.networks), args.seed, args.results_dir)


if __name__ == "__main__":
    main()
