"""Images (issue 12 §2): scikit-learn's digits as a `datasets` image dataset, the digits network and its image
processor through the Auto classes and `pipeline`, a bundle holding an image network, and the modality errors."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import hf_ckb
from hf_ckb.data import load_digits_dataset, tokenize_dataset
from hf_ckb.networks import DigitsConfig, DigitsForImageClassification, DigitsImageProcessor


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset(seed=0)


def tiny_digits(seed=0):
    torch.manual_seed(seed)
    return DigitsForImageClassification(DigitsConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2))


def test_digits_dataset_is_split_by_seed_with_images_and_class_labels(digits):
    import datasets
    from sklearn.datasets import load_digits

    assert {k: len(v) for k, v in digits.items()} == {"train": 1258, "validation": 180, "test": 359}
    assert isinstance(digits["train"].features["image"], datasets.Image)
    assert digits["train"].features["label"].names == [str(d) for d in range(10)]
    again = load_digits_dataset(seed=0)["test"]["label"]
    assert again == digits["test"]["label"] and load_digits_dataset(seed=1)["test"]["label"] != again
    # the processor gives back scikit-learn's 17 intensity levels exactly (token id = level + 1)
    ids = DigitsImageProcessor()(digits["test"][0]["image"])["input_ids"][0] - 1
    originals = {tuple(x.reshape(-1).astype(int)) for x in load_digits().images}
    assert tuple(int(v) for v in ids) in originals


def test_processor_resizes_other_sizes_and_refuses_what_is_not_an_image():
    processor = DigitsImageProcessor()
    big = Image.fromarray(np.full((32, 24, 3), 255, dtype=np.uint8))  # RGB, another size: resized, grayscale
    out = processor([big, np.zeros((8, 8), dtype=np.uint8)], return_tensors="pt")
    assert out["input_ids"].shape == (2, 64) and out["attention_mask"].all()
    assert (out["input_ids"][0] == 17).all() and (out["input_ids"][1] == 1).all()  # white: top level; black: 0
    with pytest.raises(TypeError, match="text rather than images"):
        processor("a movie review")
    with pytest.raises(ValueError, match="uint8"):
        processor(np.zeros((8, 8), dtype=np.float32))


def test_auto_classes_and_pipeline_load_the_digits_network(tmp_path, digits):
    from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

    model = tiny_digits()
    model.save_pretrained(tmp_path)
    DigitsImageProcessor().save_pretrained(tmp_path)
    loaded, processor = AutoModelForImageClassification.from_pretrained(tmp_path), AutoImageProcessor.from_pretrained(
        tmp_path)
    assert isinstance(loaded, DigitsForImageClassification) and isinstance(processor, DigitsImageProcessor)
    image = digits["test"][0]["image"]
    predictions = pipeline("image-classification", model=loaded, image_processor=processor)(image, top_k=10)
    assert len(predictions) == 10 and sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-4)
    with torch.no_grad():
        logits = loaded(**processor(image, return_tensors="pt")).logits[0]
    assert predictions[0]["label"] == loaded.config.id2label[int(logits.argmax())]


def test_each_network_gets_its_own_modality_or_a_clear_error(digits, tiny_tokenizer):
    from datasets import Dataset

    with pytest.raises(ValueError, match="reads text, but the dataset holds images"):
        tokenize_dataset(digits["test"], tiny_tokenizer)
    with pytest.raises(ValueError, match="reads images, but the dataset has no image column 'image'"):
        tokenize_dataset(Dataset.from_dict({"text": ["a film"], "label": [1]}), DigitsImageProcessor())
    with pytest.raises(ValueError, match="column 'image' holds"):
        tokenize_dataset(Dataset.from_dict({"image": ["not an image"], "label": [1]}), DigitsImageProcessor())


def test_an_image_network_imports_into_a_bundle_and_is_inspected(digits, tmp_path):
    from hf_ckb.pipeline import import_networks
    from conftest import build_ckb

    processor = DigitsImageProcessor()
    data = tokenize_dataset(digits, processor)
    small = {split: data[split].select(range(32)) for split in ("train", "validation")}
    import_networks({"digits": tiny_digits()}, {"digits": processor}, {"digits": small["train"]},
                    {"digits": small["validation"]}, str(tmp_path), ckb=build_ckb(), steps=2, eval_steps=2,
                    batch_size=16)
    bundle = hf_ckb.Bundle.from_pretrained(str(tmp_path))
    assert isinstance(bundle.tokenizers["digits"], DigitsImageProcessor)  # saved with the host, loaded back
    report = hf_ckb.inspect(bundle, data["test"].select(range(40)), write=False, progress=False)
    entry = report["interfaces"]["digits"]
    assert entry["examples"] == 40 and 0 <= entry["knockout"]["imported"]["accuracy"] <= 100


def test_cli_finetunes_imports_exports_and_evaluates_an_image_network(tmp_path, capsys):
    from hf_ckb.cli import main

    model, kb = str(tmp_path / "digits"), str(tmp_path / "kb")
    assert main(["finetune", "--architecture", "digits", "--dataset", "digits", "--epochs", "0.2",
                 "--output-dir", model]) == 0
    assert os.path.isfile(os.path.join(model, "preprocessor_config.json"))
    quick = ["--steps", "2", "--eval-steps", "2"]
    assert main(["import", "--network", f"digits={model}", "--dataset", "digits", "--output-dir", kb, *quick]) == 0
    assert main(["export", "--bundle", kb, "--network", "digits", "--dataset", "digits", *quick]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--bundle", kb, "--dataset", "digits", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["networks"]
    assert row["examples"] == 359 and row["exported_accuracy"] is not None
    card = open(os.path.join(kb, "README.md")).read()
    assert "| digits | images |" in card
    # the wrong modality, both ways: a clear error naming the column
    assert main(["evaluate", "--bundle", kb, "--dataset", "rotten_tomatoes"]) == 2
    assert "reads images, but the dataset holds none" in capsys.readouterr().err
    assert main(["evaluate", "--bundle", kb, "--dataset", "digits", "--image-column", "picture"]) == 2
    assert "Column 'picture' is missing" in capsys.readouterr().err
