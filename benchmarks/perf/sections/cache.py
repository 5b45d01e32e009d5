"""Section 2, the teacher cache: import of the paper's RNN and of all-MiniLM-L6-v2 with a bfloat16 cache, without
one and (where asked) with a float32 cache, same seed and data order, stepped in turn; then MiniLM through
`CKBTrainer` for two epochs (the cache is on by default)."""

from __future__ import annotations

import tempfile
import time

import torch

from common import (log, make_ckb, make_network, median, minilm_host, rotten_tomatoes_texts, sync,
                    tokenized_dataset, word_tokenizer)
from steps import import_step, paper_adamw

FULL = dict(rnn=dict(n=1000, n_val=300, max_length=64, batch=32, epochs=3, lr=1e-3),
            minilm=dict(n=1000, n_val=300, max_length=48, batch=32, epochs=3, lr=1e-3), exact=False)
QUICK = dict(rnn=dict(n=64, n_val=32, max_length=16, batch=16, epochs=2, lr=1e-3),
             minilm=dict(n=32, n_val=16, max_length=16, batch=16, epochs=2, lr=1e-3), exact=True, trainer=True)


def run(cfg, device):
    out = {}
    tok = word_tokenizer()
    out["rnn"] = cache_experiment("rnn", lambda: make_network("rnn", len(tok)).to(device), tok, cfg["rnn"], device,
                                  with_exact=True)
    host, mtok = minilm_host(device)
    state = {k: v.clone() for k, v in host.state_dict().items()}

    def fresh_minilm():  # the same weights for every run
        from transformers import AutoModelForSequenceClassification

        from hf_ckb.data import minilm_path

        model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)
        model.load_state_dict(state)
        return model.eval().to(device)

    out["minilm"] = cache_experiment("minilm", fresh_minilm, mtok, cfg["minilm"], device, with_exact=cfg["exact"])
    if cfg.get("trainer", True):
        out["minilm_trainer"] = trainer_epochs(fresh_minilm, mtok, "minilm", cfg["minilm"], device)
    return out


def cache_experiment(name, make_host, tokenizer, cfg, device, with_exact: bool):
    """Import with a bf16 teacher cache, without a cache (and with a float32 cache), same seed and data order,
    stepped in turn (A, B, A, B, ...): per-epoch times and final fidelity."""
    from transformers import DataCollatorWithPadding

    from hf_ckb.training import evaluate_network

    texts, val_texts = rotten_tomatoes_texts()[: cfg["n"]], rotten_tomatoes_texts("validation")[: cfg["n_val"]]
    train = tokenized_dataset(tokenizer, texts, cfg["max_length"])
    val = tokenized_dataset(tokenizer, val_texts, cfg["max_length"])
    collator = DataCollatorWithPadding(tokenizer)
    variants = {"bf16_cache": torch.bfloat16, "no_cache": None}
    if with_exact:
        variants["fp32_cache"] = torch.float32
    runs = {variant: start_run(name, make_host, dtype, train, collator, cfg, device)
            for variant, dtype in variants.items()}
    for epoch in range(cfg["epochs"]):
        step_epoch(runs, device)
        log(f"cache {name} epoch {epoch + 1}: " + ", ".join(f"{v} {r['epoch_s'][-1]:.1f} s" for v, r in runs.items()))
    out = timings(runs, cfg)
    out["cache"] = runs["bf16_cache"]["module"].teacher_cache.stats()
    out["validation_fidelity"] = {
        variant: {k: v for k, v in evaluate_network(run["module"], name, val, collator, 64, device).items()
                  if k in ("cosine", "rel_l2")} for variant, run in runs.items()}
    ref = runs["no_cache"]["module"].trainable_state_dict()
    out["max_abs_param_diff_vs_no_cache"] = {
        v: max(float((r["module"].trainable_state_dict()[k] - t).abs().max()) for k, t in ref.items())
        for v, r in runs.items() if v != "no_cache"}
    out.update(storage_error(runs))
    log(f"cache {name}: epoch2/epoch1 {out['bf16_cache_epoch2_over_epoch1']:.2f} (interleaved "
        f"{out['epoch2_over_epoch1_interleaved']:.2f}), cached/uncached {out['cached_epoch_over_uncached_epoch']:.2f} "
        f"(median step ratio {out['cached_over_uncached_step_median']:.2f}), fidelity {out['validation_fidelity']}")
    return out


def start_run(name, make_host, dtype, train, collator, cfg, device) -> dict:
    """One variant: a fresh host, the same CKB and interface initialisation, a teacher cache of `dtype` (None: no
    cache), its optimiser and a loader in the same shuffled order as every other variant's."""
    from torch.utils.data import DataLoader

    from hf_ckb import InterfaceConfig, InterfaceModel
    from hf_ckb.training import CKBTrainingModule, JointCollator, JointDataset

    host = make_host()
    ckb = make_ckb(device, seed=0)
    torch.manual_seed(1)
    module = CKBTrainingModule(ckb, {name: InterfaceModel(host, ckb, InterfaceConfig())})
    module.train()
    if dtype is not None:
        module.enable_teacher_cache(2**31, dtype)
    loader = DataLoader(JointDataset({name: train}), batch_size=cfg["batch"], shuffle=True,
                        generator=torch.Generator().manual_seed(0), collate_fn=JointCollator({name: collator}))
    return {"module": module, "opt": paper_adamw(module, cfg["lr"]), "loader": loader, "epoch_s": [], "steps": []}


def step_epoch(runs: dict, device) -> None:
    """One epoch of every run, a step of each in turn; appends each run's step times and their sum."""
    spent = {v: [] for v in runs}
    for batches in zip(*(r["loader"] for r in runs.values())):
        for (variant, run), b in zip(runs.items(), batches):
            b = {k: {c: t.to(device) for c, t in v.items()} for k, v in b.items()}
            start = time.perf_counter()
            import_step(run["module"], run["opt"], b)()
            sync(device)
            spent[variant].append(time.perf_counter() - start)
    for variant, run in runs.items():
        run["epoch_s"].append(sum(spent[variant]))
        run["steps"].append(spent[variant])


def timings(runs: dict, cfg) -> dict:
    """Epoch times and their ratios, raw and against the uncached step run right after each cached one."""
    out = {"examples": cfg["n"], "max_length": cfg["max_length"], "batch": cfg["batch"], "epochs": cfg["epochs"],
           "epoch_seconds": {v: r["epoch_s"] for v, r in runs.items()}}
    cached, uncached = runs["bf16_cache"], runs["no_cache"]

    def later(run):  # the mean epoch after the first
        return sum(run["epoch_s"][1:]) / (cfg["epochs"] - 1)

    out["bf16_cache_epoch2_over_epoch1"] = cached["epoch_s"][1] / cached["epoch_s"][0]
    out["cached_epoch_over_uncached_epoch"] = later(cached) / later(uncached)
    out["first_epoch_with_over_without_cache"] = cached["epoch_s"][0] / uncached["epoch_s"][0]
    # robust to load that comes and goes: each cached step against the uncached step run right after it
    step_ratio = [median([a / b for a, b in zip(c, u)]) for c, u in zip(cached["steps"], uncached["steps"])]
    out["median_step_ratio_cached_over_uncached_by_epoch"] = step_ratio
    out["cached_over_uncached_step_median"] = median(step_ratio[1:])
    out["epoch2_over_epoch1_interleaved"] = step_ratio[1] / step_ratio[0]  # the uncached run as the yardstick
    return out


def storage_error(runs: dict) -> dict:
    """The bf16 cache's storage error on the teacher's outputs (rel. L2 against the float32 cache's, over up to 256
    entries), or its bound when no float32 run was made."""
    if "fp32_cache" not in runs:
        return {"bf16_target_rel_l2_error_bound": 2**-9}  # round-to-nearest bf16: 8 significant bits
    entries = list(runs["bf16_cache"]["module"].teacher_cache.entries.items())[:256]
    exact = runs["fp32_cache"]["module"].teacher_cache
    num = sum(float((exact.entries[k][1] - y.float()).pow(2).sum()) for k, (_, y) in entries)
    den = sum(float(exact.entries[k][1].pow(2).sum()) for k, _ in entries)
    return {"bf16_target_rel_l2_error": (num / den) ** 0.5}


def trainer_epochs(make_host, tokenizer, name, cfg, device):
    """The user's path: CKBTrainer (cache on by default) for two epochs; seconds per epoch from a callback."""
    from transformers import TrainerCallback

    from hf_ckb import InterfaceConfig, InterfaceModel
    from hf_ckb.training import CKBTrainer, CKBTrainingModule, ckb_training_args

    class EpochTimer(TrainerCallback):
        def __init__(self):
            self.seconds = []

        def on_epoch_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_epoch_end(self, *a, **k):
            self.seconds.append(time.perf_counter() - self.start)

    train = tokenized_dataset(tokenizer, rotten_tomatoes_texts()[: cfg["n"]], cfg["max_length"])
    ckb = make_ckb(device)
    module = CKBTrainingModule(ckb, {name: InterfaceModel(make_host(), ckb, InterfaceConfig())})
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as tmp:
        args = ckb_training_args(tmp, "import", num_train_epochs=2, per_device_train_batch_size=cfg["batch"],
                                 learning_rate=cfg["lr"], disable_tqdm=True, logging_steps=10**6, seed=0,
                                 use_cpu=torch.device(device).type == "cpu", dataloader_num_workers=0)
        trainer = CKBTrainer(module, args, train_datasets={name: train}, tokenizers={name: tokenizer},
                             callbacks=[timer])
        trainer.train()
    stats = module.teacher_cache.stats() if module.teacher_cache is not None else None
    out = {"epoch_seconds": timer.seconds, "epoch2_over_epoch1": timer.seconds[1] / timer.seconds[0], "cache": stats}
    log(f"trainer {name}: epochs {timer.seconds}, epoch2/epoch1 {out['epoch2_over_epoch1']:.2f}")
    return out
