"""The Gradio Space (spaces/ckb-demo/): its plain functions (prediction.py, views.py), its API through gradio_client,
and the page (app.py) in a real headless Chromium driven by Playwright (screenshot.py's launcher), against a tiny
untrained bundle built here (RNN + CNN with interfaces to one CKB, and an RNN exported from it)."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile

import pytest
import torch

SPACE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "spaces", "ckb-demo")
CHROMIUM = "/usr/bin/chromium"
LABELS = ["rotten", "fresh"]
SENTENCES = [
    "a gorgeous, witty and moving film.", "the plot is a mess and the jokes fall flat", "a tedious boring movie",
    "the best film of the year", "an utterly charming comedy", "the acting is wooden and the script is dull",
    "funny, touching and smart!", "two hours of my life i will never get back",
]
REVIEW = "A witty, moving film with a gorgeous score."

gradio = pytest.importorskip("gradio", reason="the Space needs gradio: scripts/install.sh --test installs it")
sys.path.insert(0, SPACE_DIR)  # the Space's modules import each other by name, as on a Space

import app  # noqa: E402
import prediction  # noqa: E402
import screenshot  # noqa: E402
import views  # noqa: E402


def make_bundle(directory: str, rotten_fresh_in_config: bool = True) -> str:
    """A tiny bundle: RNN and CNN hosts with interfaces to one CKB, an exported RNN, a BPE tokenizer; untrained."""
    from hf_ckb import Bundle, CKBConfig, CKBModel, InterfaceConfig, get_interface_model
    from hf_ckb.data import train_tokenizer
    from hf_ckb.networks import CNNConfig, CNNForSequenceClassification, RNNConfig, RNNForSequenceClassification
    from hf_ckb.training import prepare_export

    torch.manual_seed(0)
    tokenizer = train_tokenizer(SENTENCES, vocab_size=120, min_frequency=1)
    labels = {"id2label": dict(enumerate(LABELS)), "label2id": {n: i for i, n in enumerate(LABELS)}} \
        if rotten_fresh_in_config else {}
    rnn = RNNForSequenceClassification(RNNConfig(vocab_size=len(tokenizer), embedding_size=16, hidden_size=16,
                                                 num_labels=2, **labels)).eval()
    cnn = CNNForSequenceClassification(CNNConfig(vocab_size=len(tokenizer), embedding_size=16, window_sizes=[2, 3],
                                                 num_filters=8, num_labels=2, **labels)).eval()
    ckb = CKBModel(CKBConfig(num_low_level=3, low_level_size=4, high_level_size=5, hidden_size=16)).eval()
    interfaces = {name: get_interface_model(host, ckb, InterfaceConfig(num_heads=2))
                  for name, host in (("rnn", rnn), ("cnn", cnn))}
    exported = {"rnn": prepare_export(interfaces["rnn"])}
    results = {} if rotten_fresh_in_config else {"label_names": LABELS}
    return Bundle(ckb, interfaces, exported, tokenizers={"rnn": tokenizer, "cnn": tokenizer},
                  results=results).save_pretrained(directory)


def inspect_bundle(directory: str) -> dict:
    """Writes the bundle's knowledge-accounting report (inspect/) from the labelled `SENTENCES`."""
    from datasets import Dataset

    import hf_ckb
    from hf_ckb.data import tokenize_dataset

    bundle = hf_ckb.Bundle.from_pretrained(directory)
    data = Dataset.from_dict({"text": SENTENCES, "label": [1, 0, 0, 1, 1, 0, 1, 0]})
    return hf_ckb.inspect(bundle, tokenize_dataset(data, bundle.tokenizers["rnn"]), progress=False)


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    directory = make_bundle(str(tmp_path_factory.mktemp("space_bundle")))
    inspect_bundle(directory)
    return directory


@pytest.fixture(scope="module")
def bundle(bundle_dir):
    loaded, error = prediction.load_demo_bundle(bundle_dir)
    assert error is None, error
    return loaded


@pytest.fixture(scope="module")
def server(bundle_dir):
    """The app served on 127.0.0.1 at a free port for the module's tests; closed at the end."""
    with app.serve_locally(bundle_dir) as url:
        yield url


def check_probabilities(probabilities: dict):
    assert set(probabilities) == set(LABELS)
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)


# ------------------------------------------------------------------------------------------------ plain functions
def test_predict_every_network(bundle):
    result = prediction.predict(bundle, REVIEW)
    keys = [(p.network, p.version) for p in result.predictions]
    assert keys == [("cnn", "original"), ("cnn", "CKB-backed"), ("rnn", "original"), ("rnn", "CKB-backed"),
                    ("rnn", "exported")] == prediction.model_keys(bundle)
    for p in result.predictions:
        check_probabilities(p.probabilities)
        assert p.label in LABELS
    assert not result.notes
    # the original network is the host itself, without interfaces
    host = bundle.interfaces["rnn"]
    encoding = bundle.tokenizers["rnn"](REVIEW, return_tensors="pt")
    with torch.no_grad(), host.disable_interfaces():
        expected = torch.softmax(host(**encoding).logits[0], -1)
    got = next(p for p in result.predictions if p.version == "original" and p.network == "rnn").probabilities
    assert torch.allclose(torch.tensor([got[n] for n in LABELS]), expected, atol=1e-6)


def test_attention_over_ckb_slots(bundle):
    result = prediction.predict(bundle, REVIEW)
    n_tokens = len(bundle.tokenizers["rnn"](REVIEW)["input_ids"])
    assert [r.network for r in result.attention] == ["cnn", "rnn"]
    for reading in result.attention:
        assert len(reading.slots) == len(reading.weights) == 5 + 3 + 1  # n_h rows, K reads, the input's rows
        assert reading.slots[0] == "M^h 1" and reading.slots[5] == "h_1" and reading.slots[-1] == "input rows"
        assert all(0.0 <= w <= 1.0 for w in reading.weights)
        assert sum(reading.weights) == pytest.approx(1.0, abs=1e-5)
        assert reading.positions == n_tokens  # local interfaces: one row per position, averaged
    figure = views.attention_figure(result)
    assert len(figure.axes) == 2
    assert [a.get_title(loc="left").split()[0] for a in figure.axes] == ["CNN", "RNN"]


def test_empty_input_is_a_friendly_message(bundle):
    for text in ("", "   \n\t", None):
        notes, *labels, table, plot = views.classify(bundle, text)
        assert "Type or paste a review" in notes
        assert all(label is None for label in labels) and table == "" and plot is None
    with pytest.raises(prediction.EmptyInput):
        prediction.prepare_input("  ", bundle.tokenizers["rnn"])


def test_very_long_input_is_truncated_with_a_note(bundle):
    tokenizer = bundle.tokenizers["rnn"]
    limit = prediction.max_tokens(tokenizer)
    text = " ".join(SENTENCES * 200)  # thousands of tokens
    prepared = prediction.prepare_input(text, tokenizer)
    assert prepared.num_tokens == limit == prepared.encoding["input_ids"].shape[1]
    assert any("truncated to the first" in n for n in prepared.notes)
    huge = "great film " * 50_000  # over MAX_CHARS characters too
    result = prediction.predict(bundle, huge)
    assert any("very long" in n for n in result.notes) and any("truncated" in n for n in result.notes)
    for p in result.predictions:
        check_probabilities(p.probabilities)
    notes, *_ = views.classify(bundle, huge)
    assert "truncated" in notes


def test_non_english_input(bundle):
    for text in ("Une comédie charmante et drôle.", "素晴らしい映画でした", "Фильм просто ужасный!", "🎬🍿👍"):
        result = prediction.predict(bundle, text)
        assert len(result.predictions) == 5
        for p in result.predictions:
            check_probabilities(p.probabilities)
        latin = text.startswith("Une")  # accents are stripped: every letter is in the vocabulary
        assert latin or any("another language or script" in n for n in result.notes), text
    notes, *labels, table, plot = views.classify(bundle, "素晴らしい映画でした")
    assert "unknown" in notes and all(label is not None for label in labels)


def test_probability_table(bundle):
    result = prediction.predict(bundle, REVIEW)
    table = views.probability_table(result)
    lines = table.splitlines()
    assert lines[0] == "| network | version | prediction | p(rotten) | p(fresh) |"
    assert len(lines) == 2 + len(result.predictions)


def test_label_names_fallbacks(tmp_path):
    from hf_ckb.networks import RNNConfig

    default = RNNConfig(vocab_size=10, num_labels=2)
    assert prediction.label_names(default) == ["LABEL_0", "LABEL_1"]
    assert prediction.label_names(default, {"label_names": ["neg", "pos"]}) == ["neg", "pos"]
    quickstart_results = {"teacher_accuracy": {"rnn": 0.7}, "exported_rnn": {"accuracy": 0.7}}
    assert prediction.label_names(default, quickstart_results) == ["rotten", "fresh"]
    by_dataset = {"datasets": {"rnn": "rotten_tomatoes (split by movie)"}}
    assert prediction.label_names(default, by_dataset) == ["rotten", "fresh"]
    named = RNNConfig(vocab_size=10, num_labels=2, id2label={0: "bad", 1: "good"})
    assert prediction.label_names(named, quickstart_results) == ["bad", "good"]
    # a bundle whose configs say LABEL_i but whose results.json names the classes
    loaded, error = prediction.load_demo_bundle(make_bundle(str(tmp_path / "b"), rotten_fresh_in_config=False))
    assert error is None
    assert {p.label for p in prediction.predict(loaded, REVIEW).predictions} <= set(LABELS)


def test_missing_bundle(tmp_path, monkeypatch):
    missing = str(tmp_path / "nowhere")
    bundle, error = prediction.load_demo_bundle(missing)
    assert bundle is None and "No bundle found at" in error and "hf-ckb quickstart" in error
    monkeypatch.setenv(prediction.BUNDLE_ENV, missing)
    assert prediction.load_demo_bundle(None)[1] == error  # HF_CKB_BUNDLE is read when no path is given
    demo = app.build_demo(missing)  # an app that says so instead of crashing
    assert isinstance(demo, gradio.Blocks)
    texts = [getattr(b, "value", None) for b in demo.blocks.values()]
    assert any(isinstance(t, str) and "No bundle found at" in t for t in texts)


def test_repo_ids_go_to_the_hub(monkeypatch, bundle_dir):
    assert prediction.is_repo_id("someone/ckb-quickstart") and not prediction.is_repo_id("ckb-quickstart")
    assert not prediction.is_repo_id("./someone/ckb") and not prediction.is_repo_id("/tmp/x")
    import hf_ckb.bundle

    calls = []

    def fetched(repo, *args, **kwargs):  # the download Bundle.from_pretrained makes for a repo id
        calls.append(repo)
        return bundle_dir, "0" * 40

    monkeypatch.setattr(hf_ckb.bundle, "fetch_bundle", fetched)
    loaded, error = prediction.load_demo_bundle("someone/tiny-ckb")
    assert error is None and calls == ["someone/tiny-ckb"] and set(loaded.interfaces) == {"cnn", "rnn"}


def test_store_tab_shows_the_report_or_says_how_to_make_one(bundle, tmp_path):
    text = views.inspection_markdown(bundle)
    assert "| RNN | paper |" in text and "| CNN | paper |" in text
    assert "rnn & cnn" in text.replace("cnn & rnn", "rnn & cnn")
    assert [os.path.basename(p) for p in views.inspection_images(bundle)] == ["knockout.png", "reads.png"]
    plain, error = prediction.load_demo_bundle(make_bundle(str(tmp_path / "plain")))
    assert error is None
    assert "hf-ckb inspect" in views.inspection_markdown(plain) and views.inspection_images(plain) == []


def test_space_metadata():
    readme = open(os.path.join(SPACE_DIR, "README.md")).read()
    front = readme.split("---")[1]
    for key in ("title:", "emoji:", "sdk: gradio", "sdk_version:", "app_file: app.py", "pinned:",
                "license: apache-2.0", "tags:"):
        assert key in front, key
    requirements = open(os.path.join(SPACE_DIR, "requirements.txt")).read()
    assert "hf_ckb" in requirements.replace("-", "_") and "gradio" in requirements


# ------------------------------------------------------------------------------------------------ the running app
def test_gradio_client_api(server, bundle):
    from gradio_client import Client

    client = Client(server, verbose=False)
    notes, *labels, table, plot = client.predict(REVIEW, api_name="/predict")
    assert len(labels) == 5
    for label in labels:
        assert label["label"] in LABELS
        check_probabilities({c["label"]: c["confidence"] for c in label["confidences"]})
    assert "p(rotten)" in table and plot is not None
    # the same labels as the plain function
    expected = [p.label for p in prediction.predict(bundle, REVIEW).predictions]
    assert [label["label"] for label in labels] == expected
    notes, *labels, table, plot = client.predict("", api_name="/predict")
    assert "Type or paste a review" in notes and all(label is None or not label.get("label") for label in labels)


def test_page_in_headless_chromium(server, bundle, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: scripts/install.sh --test installs Debian's chromium")
    expected = {(p.network.upper(), p.version): p for p in prediction.predict(bundle, REVIEW).predictions}
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        with playwright.sync_playwright() as p:
            context = screenshot.launch_chromium(p, profile, CHROMIUM)
            try:
                page = context.new_page()
                requested = []
                page.on("request", lambda request: requested.append(request.url))
                page.goto(server, wait_until="networkidle")
                assert "Continuous knowledge base" in page.inner_text("body")
                screenshot.classify_in_page(page, REVIEW)
                rows = page.locator("#probabilities table tbody tr")
                header = [h.strip() for h in page.locator("#probabilities table thead th").all_inner_texts()]
                assert header == ["network", "version", "prediction", "p(rotten)", "p(fresh)"]
                assert rows.count() == 5
                for i in range(rows.count()):
                    network, version, label, *probs = [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
                    assert label in LABELS
                    values = [float(v) for v in probs]
                    assert all(0.0 <= v <= 1.0 for v in values) and sum(values) == pytest.approx(1.0, abs=2e-3)
                    want = expected[(network, version)]
                    assert label == want.label
                    assert values == pytest.approx([want.probabilities[n] for n in LABELS], abs=1e-3)
                # the label widgets show the same predictions, with percentages
                for (network, version), want in expected.items():
                    widget = page.locator(f"#{network.lower()}-{version.lower()}")
                    assert f"{network} · {version}" in widget.inner_text()
                    assert widget.locator('[data-testid="label-output-value"]').inner_text().strip() == want.label
                    meters = widget.locator("meter")
                    shown = {meters.nth(i).get_attribute("aria-label"): float(meters.nth(i).get_attribute("value"))
                             for i in range(meters.count())}
                    check_probabilities(shown)
                    assert shown == pytest.approx(want.probabilities, abs=1e-5)
                    percents = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)%", widget.inner_text())]
                    assert len(percents) == len(LABELS) and all(0 <= x <= 100 for x in percents)
                assert "All 5 networks say" in page.inner_text("#notes") or "disagree" in page.inner_text("#notes")
                shot = tmp_path / "space.png"
                page.screenshot(path=str(shot), full_page=True)
                assert shot.stat().st_size > 10_000
                # an empty submission: a friendly message instead of the table, no error
                page.locator("#review textarea").fill("")
                page.locator("#classify").click()
                page.locator("#notes").get_by_text("Type or paste a review").wait_for(timeout=30_000)
                page.locator("#probabilities table").wait_for(state="detached", timeout=30_000)
                assert page.locator(".toast-body.error").count() == 0
                # clicking an example fills the box and classifies it
                example = app.EXAMPLES[1]
                want = [[c.strip().strip("*") for c in line.strip().strip("|").split("|")]
                        for line in views.probability_table(prediction.predict(bundle, example)).splitlines()[2:]]
                page.locator("#examples button").nth(1).click()
                playwright.expect(page.locator("#review textarea")).to_have_value(example)
                page.locator("#probabilities table").wait_for(timeout=30_000)
                rows = page.locator("#probabilities table tbody tr")
                got = [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]
                assert got == want
                # the store tab: the report's table and both plots, loaded
                page.get_by_role("tab", name="Inside the store").click()
                page.locator("#inspection table").wait_for(timeout=30_000)
                assert page.locator("#inspection table tbody tr").count() == 2
                images = page.locator(".inspection-plot img")
                images.first.wait_for(timeout=30_000)
                assert images.count() == 2
                assert all(images.nth(i).evaluate("img => img.complete && img.naturalWidth > 100") for i in range(2))
                outside = [u for u in requested if not u.startswith(("http://127.0.0.1:", "data:", "blob:"))]
                assert not outside, f"the page fetched from outside this machine: {outside}"
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
