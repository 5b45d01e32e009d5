"""The `TrainingArguments` every hf_ckb run starts from, in one place.

Each run (fine-tuning, import/export, distillation) evaluates and checkpoints at the same cadence, keeps the best
checkpoint by a validation accuracy and restores it at the end, uses a cosine schedule with warmup, and reports to
nothing. What differs between runs is passed as overrides.
"""

from transformers import TrainingArguments


def run_arguments(output_dir: str, *, steps: int | None = None, epochs: float | None = None,
                  learning_rate: float = 1e-3, batch_size: int = 32, eval_steps: int = 200, seed: int = 0,
                  metric: str = "accuracy", args_class: type = TrainingArguments, **overrides) -> TrainingArguments:
    """Arguments for a run of `steps` optimizer steps (evaluated and saved every `eval_steps`), or of `epochs`
    epochs (evaluated and saved every epoch), that keeps the checkpoint with the best `metric`."""
    if (steps is None) == (epochs is None):
        raise ValueError("Give exactly one of steps and epochs.")
    if steps is not None:
        eval_steps = max(1, min(eval_steps, steps))
        cadence = dict(max_steps=steps, eval_strategy="steps", eval_steps=eval_steps, save_strategy="steps",
                       save_steps=eval_steps, logging_steps=max(eval_steps // 4, 1), warmup_steps=max(steps // 20, 1),
                       lr_scheduler_type="cosine")
    else:
        cadence = dict(num_train_epochs=epochs, eval_strategy="epoch", save_strategy="epoch", logging_steps=100)
    defaults = dict(learning_rate=learning_rate, weight_decay=0.01, per_device_train_batch_size=batch_size,
                    per_device_eval_batch_size=128, seed=seed, save_total_limit=2, load_best_model_at_end=True,
                    metric_for_best_model=metric, greater_is_better=True, report_to="none",
                    dataloader_pin_memory=False, **cadence)
    return args_class(output_dir=output_dir, **{**defaults, **overrides})


__all__ = ["run_arguments"]
