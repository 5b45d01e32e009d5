"""Tests for `hf_ckb.data`: the Rotten Tomatoes split, generic loading, tokenization and the trained tokenizer."""

import json

import pytest

from hf_ckb.data import load_rotten_tomatoes, load_text_dataset, tokenize_dataset, train_tokenizer

EXPECTED_SIZES = {"train": 10_268, "validation": 1_162, "test": 1_378}


@pytest.fixture(scope="module")
def rotten_tomatoes():
    return load_rotten_tomatoes(seed=0)


def test_rotten_tomatoes_sizes(rotten_tomatoes):
    assert set(rotten_tomatoes) == set(EXPECTED_SIZES)
    for split, expected in EXPECTED_SIZES.items():
        assert abs(len(rotten_tomatoes[split]) - expected) <= 0.03 * expected, (split, len(rotten_tomatoes[split]))
    assert sum(len(split) for split in rotten_tomatoes.values()) == 12_808


def test_rotten_tomatoes_no_movie_in_two_splits(rotten_tomatoes):
    movies = {name: set(split["movie_name"]) for name, split in rotten_tomatoes.items()}
    assert not movies["train"] & movies["validation"]
    assert not movies["train"] & movies["test"]
    assert not movies["validation"] & movies["test"]


def test_rotten_tomatoes_schema_and_labels(rotten_tomatoes):
    assert rotten_tomatoes["train"].features["label"].names == ["rotten", "fresh"]
    for split in rotten_tomatoes.values():
        assert split.column_names == ["text", "label", "movie_name"]
        assert set(split["label"]) == {0, 1}
        assert all(isinstance(text, str) and text for text in split["text"][:100])


def test_rotten_tomatoes_deterministic_per_seed(rotten_tomatoes):
    again = load_rotten_tomatoes(seed=0)
    other = load_rotten_tomatoes(seed=1)
    assert again["test"]["text"] == rotten_tomatoes["test"]["text"]
    assert set(other["test"]["movie_name"]) != set(rotten_tomatoes["test"]["movie_name"])


def test_load_csv_renames_columns_and_maps_string_labels(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("review,sentiment,extra\ngreat film,pos,1\nawful,neg,2\nfine,pos,3\n")
    ds = load_text_dataset(str(path), text_column="review", label_column="sentiment")
    assert list(ds) == ["train"]
    assert ds["train"]["text"] == ["great film", "awful", "fine"]
    assert ds["train"]["label"] == [1, 0, 1]
    assert ds["train"].features["label"].names == ["neg", "pos"]
    assert "extra" in ds["train"].column_names


def test_load_jsonl_with_validation_carve_out(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"sentence": f"text {i}", "label": i % 3} for i in range(20)]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    ds = load_text_dataset(str(path), text_column="sentence", validation_split_fraction=0.25, seed=3)
    assert (len(ds["train"]), len(ds["validation"])) == (15, 5)
    assert set(ds["train"]["text"]).isdisjoint(ds["validation"]["text"])
    again = load_text_dataset(str(path), text_column="sentence", validation_split_fraction=0.25, seed=3)
    assert again["validation"]["text"] == ds["validation"]["text"]
    assert sorted(list(ds["train"]["label"]) + list(ds["validation"]["label"])) == sorted(row["label"] for row in rows)


def test_load_missing_column_names_it(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,stars\ngood,5\n")
    with pytest.raises(ValueError, match="'label'") as info:
        load_text_dataset(str(path))
    assert "stars" in str(info.value)


def test_load_zero_rows_fails(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("text,label\n")
    with pytest.raises(ValueError, match="'train'"):
        load_text_dataset(str(path))


def test_load_missing_file_fails(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_text_dataset(str(tmp_path / "nope.csv"))


def test_load_rotten_tomatoes_by_name():
    ds = load_text_dataset("rotten_tomatoes", split="validation")
    assert list(ds) == ["validation"] and ds["validation"].column_names == ["text", "label", "movie_name"]


def test_tokenizer_round_trip_and_tokenize_dataset(tmp_path, rotten_tomatoes):
    from transformers import AutoTokenizer

    tokenizer = train_tokenizer(rotten_tomatoes["train"]["text"][:2000], vocab_size=2000)
    assert tokenizer.pad_token_id == 0 and tokenizer.padding_side == "right"
    texts = ["A three-hour cinema master class.", "Très ennuyeux, zzqx!"]
    ids = tokenizer(texts)["input_ids"]
    assert all(0 not in row and tokenizer.convert_tokens_to_ids("[CLS]") not in row for row in ids)
    tokenizer.save_pretrained(tmp_path / "tok")
    reloaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert reloaded(texts)["input_ids"] == ids
    assert reloaded.pad_token_id == 0
    padded = reloaded(texts, padding=True)["input_ids"]
    assert padded[0][-1] == 0 or padded[1][-1] == 0

    tokenized = tokenize_dataset(rotten_tomatoes["validation"].select(range(8)), tokenizer, max_length=5)
    assert set(tokenized.column_names) == {"input_ids", "attention_mask", "label"}
    assert max(len(row) for row in tokenized["input_ids"]) <= 5


@pytest.mark.parametrize("rows, column, count", [("great film,pos\n,neg\n,pos\n", "review", 2),
                                                 ("great film,pos\nawful,\n", "sentiment", 1)])
def test_load_empty_cells_name_the_column_and_count(tmp_path, rows, column, count):
    path = tmp_path / "reviews.csv"
    path.write_text("review,sentiment\n" + rows)
    with pytest.raises(ValueError, match=rf"Column '{column}' .* has {count} empty cell\(s\)"):
        load_text_dataset(str(path), text_column="review", label_column="sentiment")


def test_load_blank_text_is_empty(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "fine", "label": 1}\n{"text": "   ", "label": 0}\n{"text": "", "label": 0}\n')
    with pytest.raises(ValueError, match=r"Column 'text' .* has 2 empty cell\(s\) \(the first in data row 2\)"):
        load_text_dataset(str(path))


def test_load_text_column_of_numbers_is_refused(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\n1,pos\n2,neg\n")
    with pytest.raises(ValueError, match=r"Column 'text' .* holds int64 values, not text"):
        load_text_dataset(str(path))


def test_load_latin1_file_says_so_and_how_to_fix_it(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_bytes("text,label\ncafé crème,pos\nbad,neg\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"not UTF-8 text .*iconv -f latin1 -t utf-8"):
        load_text_dataset(str(path))


def test_carving_validation_from_one_row_states_the_minimum(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text,label\ngood,pos\n")
    with pytest.raises(ValueError, match=r"has 1 row\(s\): carving a validation split needs at least 2"):
        load_text_dataset(str(path), validation_split_fraction=0.1)
    path.write_text("text,label\ngood,pos\nbad,neg\n")
    ds = load_text_dataset(str(path), validation_split_fraction=0.1)
    assert (len(ds["train"]), len(ds["validation"])) == (1, 1)
