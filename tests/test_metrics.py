"""Tests for `hf_ckb.metrics`: metric modules shipped inside the package, loaded offline."""

import pytest

from hf_ckb.metrics import available_metrics, load_metric


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_accuracy_exact_fraction():
    metric = load_metric("accuracy")
    assert metric.compute(predictions=[0, 1, 1, 0, 2], references=[0, 1, 0, 0, 1]) == {"accuracy": 3 / 5}
    assert metric.compute(predictions=[1, 1], references=[1, 1]) == {"accuracy": 1.0}


def test_accuracy_add_batch():
    metric = load_metric()
    metric.add_batch(predictions=[0, 1], references=[0, 0])
    metric.add_batch(predictions=[1], references=[1])
    assert metric.compute() == {"accuracy": pytest.approx(2 / 3)}


def test_unknown_metric_lists_shipped_ones():
    assert "accuracy" in available_metrics()
    with pytest.raises(ValueError, match="accuracy"):
        load_metric("f1")
