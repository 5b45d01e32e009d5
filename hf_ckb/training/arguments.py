"""The `TrainingArguments` every hf_ckb run starts from, in one place.

Each run (fine-tuning, import/export, distillation) evaluates and checkpoints at the same cadence, keeps the best
checkpoint by a validation accuracy and restores it at the end, uses a cosine schedule with warmup, and reports to
nothing. What differs between runs is passed as overrides.
"""

from transformers import TrainingArguments


def run_cadence(*, steps: int | None = None, epochs: float | None = None, eval_steps: int = 200) -> dict:
    """When a run of `steps` optimizer steps (or of `epochs` epochs) evaluates, saves and logs, its schedule, and
    that it keeps the best checkpoint: the `TrainingArguments` every hf_ckb run shares."""
    if (steps is None) == (epochs is None):
        raise ValueError("Give exactly one of steps and epochs.")
    keep_best = dict(save_total_limit=2, load_best_model_at_end=True, greater_is_better=True, report_to="none",
                     dataloader_pin_memory=False, per_device_eval_batch_size=128)
    if epochs is not None:
        return dict(num_train_epochs=epochs, eval_strategy="epoch", save_strategy="epoch", logging_steps=100,
                    **keep_best)
    eval_steps = max(1, min(eval_steps, steps))
    return dict(max_steps=steps, eval_strategy="steps", eval_steps=eval_steps, save_strategy="steps",
                save_steps=eval_steps, logging_steps=max(eval_steps // 4, 1), warmup_steps=max(steps // 20, 1),
                lr_scheduler_type="cosine", **keep_best)


def run_arguments(output_dir: str, *, steps: int | None = None, epochs: float | None = None,
                  learning_rate: float = 1e-3, batch_size: int = 32, eval_steps: int = 200, seed: int = 0,
                  metric: str = "accuracy", **overrides) -> TrainingArguments:
    """`TrainingArguments` for a stock-loop run (`run_cadence`, AdamW with weight decay 0.01) that keeps the
    checkpoint with the best `metric`."""
    defaults = dict(learning_rate=learning_rate, weight_decay=0.01, per_device_train_batch_size=batch_size, seed=seed,
                    metric_for_best_model=metric, **run_cadence(steps=steps, epochs=epochs, eval_steps=eval_steps))
    return TrainingArguments(output_dir=output_dir, **{**defaults, **overrides})


__all__ = ["run_arguments", "run_cadence"]
