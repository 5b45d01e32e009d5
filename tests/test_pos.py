"""Part-of-speech tagging (token classification) end to end, a miniature of the paper's Table B.7: the WSJ sample of
Debian's `python3-pattern` (fetched by scripts/install.sh, never shipped), sub-token label alignment, per-token
label padding in the collators, and a two-layer Transformer tagger imported jointly with an RNN text classifier
into one CKB, then exported to a fresh tagger. Tiny sizes and a few steps: it checks the plumbing, not accuracy.
"""

import json
import math

import datasets
import pytest
import torch
from transformers import (AutoModelForTokenClassification, DataCollatorForTokenClassification,
                          DataCollatorWithPadding, Trainer, TrainingArguments)

import hf_ckb
from hf_ckb.data import (labelled_collator, labelled_predictions, load_pos_dataset, load_rotten_tomatoes,
                         pad_and_concat, pattern_corpus_path, tokenize_dataset, tokenize_tagged, train_tokenizer)
from hf_ckb.data.pos import align_labels, parse_tagged_sentence
from hf_ckb.networks import ANNConfig, ANNForTokenClassification, RNNConfig, RNNForSequenceClassification
from hf_ckb.pipeline import evaluate_export, export_network, import_networks
from hf_ckb.training import evaluate_network
from hf_ckb.training import trainer as trainer_module

WSJ_FILE = "tagged-en-wsj.txt"


def wsj_path() -> str:
    try:
        return pattern_corpus_path(WSJ_FILE)
    except FileNotFoundError:
        pytest.skip(f"{WSJ_FILE} is not installed: run scripts/install.sh (it fetches Debian's python3-pattern).")


@pytest.fixture(scope="module")
def wsj():
    wsj_path()
    return load_pos_dataset("wsj", seed=0)


# --------------------------------------------------------------------------------------------- loading
def test_wsj_splits_are_disjoint_and_cover_every_line(wsj):
    with open(wsj_path(), encoding="utf-8-sig") as f:
        lines = [line.split() for line in f if line.strip()]
    sizes = {name: split.num_rows for name, split in wsj.items()}
    assert sum(sizes.values()) == len(lines)  # 1,001 lines in python3-pattern 2.6+git20180818
    assert sizes["validation"] == sizes["test"] == round(0.1 * len(lines))
    ids = {name: set(split["id"]) for name, split in wsj.items()}
    assert len(ids["train"]) + len(ids["validation"]) + len(ids["test"]) == len(lines)
    assert set().union(*ids.values()) == set(range(len(lines)))  # disjoint and complete
    tags = wsj["train"].features["tags"].feature
    assert isinstance(tags, datasets.ClassLabel)
    all_tags = {item.rsplit("/", 1)[1] for line in lines for item in line}
    assert tags.names == sorted(all_tags)
    assert all(split.features == wsj["train"].features for split in wsj.values())
    example = wsj["test"][0]  # a loaded line matches the file
    assert [f"{w}/{tags.int2str(t)}" for w, t in zip(example["tokens"], example["tags"])] == lines[example["id"]]
    assert sum(len(words) for split in wsj.values() for words in split["tokens"]) == sum(map(len, lines))
    again, other = load_pos_dataset("wsj", seed=0), load_pos_dataset("wsj", seed=1)
    assert again["test"]["id"] == wsj["test"]["id"] and other["test"]["id"] != wsj["test"]["id"]


def test_word_with_a_slash_parses_and_bad_files_are_reported(tmp_path, monkeypatch):
    assert parse_tagged_sentence("and/or/CC 1\\/2/CD N.V./NNP ./.") == (["and/or", "1\\/2", "N.V.", "."],
                                                                       ["CC", "CD", "NNP", "."])
    corpus = tmp_path / "tagged.txt"
    corpus.write_text("I/PRP like/VBP and/or/CC hate/VBP it/PRP ./.\n\nYes/UH ./.\nNo/DT ./.\n", encoding="utf-8")
    ds = load_pos_dataset(path=str(corpus), validation_fraction=0.34, test_fraction=0.34)
    first = next(row for split in ds.values() for row in split if row["id"] == 0)
    names = ds["train"].features["tags"].feature.names
    assert names == [".", "CC", "DT", "PRP", "UH", "VBP"]
    assert first["tokens"][2] == "and/or" and names[first["tags"][2]] == "CC"
    assert sorted(split.num_rows for split in ds.values()) == [1, 1, 1]  # the blank line is skipped
    corpus.write_text("fine/JJ\nbroken-item ok/JJ\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2.*broken-item"):
        load_pos_dataset(path=str(corpus))
    with pytest.raises(ValueError, match="Unknown POS corpus"):
        load_pos_dataset("ptb")
    monkeypatch.setenv("HF_CKB_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="scripts/install.sh"):
        load_pos_dataset("wsj")


# --------------------------------------------------------------------------------------------- tokenizing
@pytest.fixture(scope="module")
def small_tokenizer():
    text = "the cat sat on the mat . a dog and a cat ran home . n.v. bought it ."
    return train_tokenizer([text] * 4, vocab_size=60, min_frequency=1)


def test_labels_go_to_the_first_sub_token_of_each_word(small_tokenizer):
    tokens = ["The", "cats", "N.V.", "ran"]
    names = ["DT", "NNS", "NNP", "VBD"]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    ds = datasets.Dataset.from_dict({"tokens": [tokens], "tags": [[0, 1, 2, 3]]}, features=features)
    pieces = [small_tokenizer.tokenize(word) for word in tokens]
    assert pieces[0] == ["the"] and len(pieces[1]) == 2 and len(pieces[2]) == 4  # "cat ##s", "n . v ."
    row = tokenize_tagged(ds, small_tokenizer)[0]
    assert set(row) == {"input_ids", "attention_mask", "labels"}
    assert row["input_ids"] == small_tokenizer.convert_tokens_to_ids([p for word in pieces for p in word])
    assert row["labels"] == [0, 1, -100, 2, -100, -100, -100, 3]
    assert tokenize_tagged(ds, small_tokenizer, max_length=3)[0]["labels"] == [0, 1, -100]  # truncated with ids
    # special tokens (word id None) and the later sub-tokens of a word are ignored
    assert align_labels([None, 0, 0, 1, 2, 2, None], [5, 6, 7]) == [-100, 5, -100, 6, 7, -100, -100]


def test_collators_pad_per_token_labels_with_minus_100(small_tokenizer):
    tagged = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [1, -100, 2]},
              {"input_ids": [8], "attention_mask": [1], "labels": [3]}]
    collate = labelled_collator(small_tokenizer, tagged)
    assert isinstance(collate, DataCollatorForTokenClassification)
    batch = collate(tagged)
    assert batch["labels"].tolist() == [[1, -100, 2], [3, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    per_example = [{"input_ids": [5, 6], "attention_mask": [1, 1], "label": 1}]
    assert type(labelled_collator(small_tokenizer, per_example)) is DataCollatorWithPadding
    assert type(labelled_collator(small_tokenizer, None)) is DataCollatorWithPadding
    with pytest.raises(ValueError, match="'labels'"):
        labelled_collator(small_tokenizer, [{"input_ids": [5], "label": [1]}])
    # batches of different lengths concatenate, padded with -100; accuracy inputs drop the -100 positions
    labels = pad_and_concat([torch.tensor([[1, 2, 3]]), torch.tensor([[4]])])
    assert labels.tolist() == [[1, 2, 3], [4, -100, -100]]
    logits = pad_and_concat([torch.zeros(1, 3, 5), torch.zeros(1, 1, 5)])
    assert logits.shape == (2, 3, 5) and (logits[1, 1:] == -100).all()
    assert pad_and_concat([torch.zeros(2, 5), torch.ones(1, 5)]).shape == (3, 5)  # per-example logits unchanged
    predictions, references = labelled_predictions(logits.numpy(), labels.numpy())
    assert references.tolist() == [1, 2, 3, 4] and predictions.tolist() == [0, 0, 0, 0]


# --------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def pos_run(wsj, tmp_path_factory):
    """Fine-tune a tiny two-layer ANN tagger on 64 WSJ sentences; import it jointly with a tiny (untrained) RNN
    classifier on Rotten Tomatoes snippets into one small CKB; export the tagger's interface to a fresh ANN."""
    out = tmp_path_factory.mktemp("pos")
    pos_tokenizer = train_tokenizer((" ".join(s) for s in wsj["train"]["tokens"]), vocab_size=800)
    pos = tokenize_tagged(wsj, pos_tokenizer, max_length=48)
    pos = {"train": pos["train"].select(range(64)), "validation": pos["validation"].select(range(32)),
           "test": pos["test"].select(range(40))}
    reviews = load_rotten_tomatoes(seed=0)
    review_tokenizer = train_tokenizer(reviews["train"].select(range(500))["text"], vocab_size=400)
    reviews = {"train": reviews["train"].select(range(64)), "validation": reviews["validation"].select(range(32))}
    reviews = {name: tokenize_dataset(split, review_tokenizer, max_length=32) for name, split in reviews.items()}

    num_tags = wsj["train"].features["tags"].feature.num_classes
    torch.manual_seed(0)
    tagger = ANNForTokenClassification(ANNConfig(
        vocab_size=len(pos_tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=64, num_labels=num_tags))
    classifier = RNNForSequenceClassification(RNNConfig(vocab_size=len(review_tokenizer), embedding_size=16,
                                                        hidden_size=16, num_labels=2))
    # what hf_ckb.pipeline.finetune does, with the per-token collator and metric
    args = TrainingArguments(str(out / "teacher"), max_steps=12, learning_rate=1e-2, per_device_train_batch_size=16,
                             per_device_eval_batch_size=16, report_to="none", use_cpu=True, disable_tqdm=True,
                             save_strategy="no", seed=0, dataloader_pin_memory=False)
    teacher = Trainer(model=tagger, args=args, train_dataset=pos["train"], eval_dataset=pos["validation"],
                      data_collator=labelled_collator(pos_tokenizer, pos["train"]), processing_class=pos_tokenizer,
                      compute_metrics=lambda p: {"accuracy": trainer_module.accuracy(
                          *labelled_predictions(p.predictions, p.label_ids))})
    teacher.train()
    teacher_metrics = teacher.evaluate()
    tagger.eval()

    ckb = hf_ckb.CKBModel(hf_ckb.CKBConfig(num_low_level=3, low_level_size=4, high_level_size=5, hidden_size=16))
    imported = import_networks({"rnn": classifier, "ann": tagger}, {"rnn": review_tokenizer, "ann": pos_tokenizer},
                               {"rnn": reviews["train"], "ann": pos["train"]},
                               {"rnn": reviews["validation"], "ann": pos["validation"]}, str(out / "import"),
                               ckb=ckb, steps=6, learning_rate=1e-2, batch_size=16, eval_steps=3)
    exported = export_network(imported.networks["ann"], "ann", pos_tokenizer, pos["train"], pos["validation"],
                              str(out / "export"), steps=6, learning_rate=1e-2, batch_size=16, eval_steps=3)
    return {"out": out, "pos": pos, "tokenizer": pos_tokenizer, "reviews": reviews,
            "review_tokenizer": review_tokenizer, "teacher": teacher_metrics, "imported": imported,
            "exported": exported, "source": imported.networks["ann"]}


def _finite_fraction(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0


def test_tagger_trains_imports_jointly_and_reports_token_accuracy(pos_run):
    assert _finite_fraction(pos_run["teacher"]["eval_accuracy"])
    imported = pos_run["imported"]
    assert imported.networks["rnn"].ckb is imported.networks["ann"].ckb is imported.ckb  # one shared CKB
    for name, data, tokenizer in (("ann", pos_run["pos"]["validation"], pos_run["tokenizer"]),
                                  ("rnn", pos_run["reviews"]["validation"], pos_run["review_tokenizer"])):
        metrics = evaluate_network(imported, name, data, labelled_collator(tokenizer, data))
        assert _finite_fraction(metrics["accuracy"]) and math.isfinite(metrics["cosine"]), (name, metrics)
    assert (pos_run["out"] / "import" / "config.json").is_file()  # a bundle: the CKB at its root
    assert (pos_run["out"] / "import" / "interfaces" / "ann").is_dir()
    # CKBTrainer's own evaluations during import and export padded the per-token labels too
    for run in ("import/checkpoints/import", "export/checkpoints/export-ann"):
        state = max((pos_run["out"] / run).glob("checkpoint-*/trainer_state.json"),
                    key=lambda path: int(path.parent.name.split("-")[-1]))
        evaluations = [e for e in json.loads(state.read_text())["log_history"] if "eval_ann_accuracy" in e]
        assert len(evaluations) == 2 and all(_finite_fraction(e["eval_ann_accuracy"]) for e in evaluations)


def test_exported_tagger_stands_alone_and_counts_every_labelled_token(pos_run, monkeypatch):
    test = pos_run["pos"]["test"]
    counted = []
    real_accuracy = trainer_module.accuracy

    def spy(predictions, references):
        counted.append(len(references))
        return real_accuracy(predictions, references)

    monkeypatch.setattr(trainer_module, "accuracy", spy)
    metrics = evaluate_export(pos_run["source"], pos_run["exported"], "ann", pos_run["tokenizer"], test)
    labelled = sum(label != -100 for row in test["labels"] for label in row)
    assert counted == [labelled] and labelled > 0  # every tagged word counted once, padding never
    assert _finite_fraction(metrics["accuracy"]) and math.isfinite(metrics["cosine"])

    saved = pos_run["out"] / "export" / "exported" / "ann"
    alone = ANNForTokenClassification.from_pretrained(saved).eval()
    assert type(AutoModelForTokenClassification.from_pretrained(saved)) is ANNForTokenClassification
    assert alone.config.num_hidden_layers == 2 and not any(".interfaces." in n for n, _ in alone.named_parameters())
    right = total = 0
    with torch.no_grad():  # one unpadded sentence at a time: no collator involved
        for row in test:
            logits = alone(input_ids=torch.tensor([row["input_ids"]])).logits[0]
            labels = torch.tensor(row["labels"])
            keep = labels != -100
            right += int((logits.argmax(-1)[keep] == labels[keep]).sum())
            total += int(keep.sum())
    assert total == labelled
    assert right / total == pytest.approx(metrics["accuracy"])
