"""Accuracy: the fraction of predictions equal to their references. Shipped with `hf_ckb` so it loads offline."""

import datasets
import evaluate

_DESCRIPTION = """
Accuracy is the proportion of correct predictions among all predictions:
Accuracy = (number of predictions equal to their reference) / (number of predictions).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): predicted labels.
    references (`list[int]`): ground-truth labels, as many as `predictions`.

Returns:
    `dict`: `{"accuracy": float}`, between 0.0 and 1.0.

Examples:
    >>> metric = hf_ckb.metrics.load_metric("accuracy")
    >>> metric.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'accuracy': 0.75}
"""

_CITATION = ""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    """Accuracy of integer class predictions."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}
            ),
        )

    def _compute(self, predictions, references) -> dict[str, float]:
        if len(predictions) == 0:
            raise ValueError("Accuracy needs at least one prediction; got none.")
        correct = sum(int(p) == int(r) for p, r in zip(predictions, references))
        return {"accuracy": float(correct / len(predictions))}
