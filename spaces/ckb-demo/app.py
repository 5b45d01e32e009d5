"""A Gradio demo of a continuous knowledge base (CKB) bundle: the original networks, the same networks backed by
the CKB through their interfaces, and the networks exported from it, classifying one text side by side, with a
plot of which CKB slots each interface read.

The bundle comes from `HF_CKB_BUNDLE` (a local folder or a Hub repo id) and defaults to `ckb-quickstart`, the
folder `hf-ckb quickstart` writes. Run it with `python app.py`; `python app.py --help` lists the options (one of
them regenerates the README's screenshot in headless Chromium).

Everything the UI shows is computed by plain functions (`load_demo_bundle`, `prepare_input`, `predict`,
`probability_table`, `attention_figure`, `classify`) that the tests call without a browser.
"""

from __future__ import annotations

import argparse
import os
import re
import threading
from dataclasses import dataclass, field

import torch

DEFAULT_BUNDLE = "ckb-quickstart"
BUNDLE_ENV = "HF_CKB_BUNDLE"
MAX_CHARS = 20_000  # characters read before tokenizing: a pasted book is cut here, then to the tokenizer's limit
FALLBACK_MAX_TOKENS = 512  # for tokenizers whose model_max_length is the "no limit" sentinel
EMPTY_MESSAGE = "Type or paste a review (or click an example), then press **Classify**."
VERSIONS = ("original", "CKB-backed", "exported")
EXAMPLES = [  # three Rotten Tomatoes snippets of the quickstart's test split (movies it never trained on), and French
    "The actors are fantastic. They are what makes it worth the trip to the theatre.",
    "It all feels like a Monty Python sketch gone horribly wrong.",
    "A spiritual exploration of sorts, offering a message of hope that resonates.",
    "Une comédie charmante, drôle et pleine de tendresse.",
]
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# --------------------------------------------------------------------------------------------- loading the bundle
def missing_bundle_message(spec: str) -> str:
    return (f"No bundle found at `{spec}`: run `hf-ckb quickstart` (it writes `{DEFAULT_BUNDLE}/`) "
            f"or set `{BUNDLE_ENV}` to a bundle folder or Hub repo id.")


def is_repo_id(spec: str) -> bool:
    """`owner/name` that is not an existing local path."""
    return bool(_REPO_ID.match(spec)) and not os.path.exists(spec) and not spec.startswith((".", "~"))


def load_demo_bundle(spec: str | None = None):
    """Loads the bundle named by `spec` (default: `$HF_CKB_BUNDLE`, then `ckb-quickstart`).

    A local folder goes to `hf_ckb.bundle.load_bundle`; a Hub repo id to `hf_ckb.hub.load_bundle_from_hub` when that
    exists, else to `huggingface_hub.snapshot_download` then `load_bundle`. Returns `(bundle, None)` or
    `(None, message)`: a missing or unreadable bundle is a message for the UI, never an exception.
    """
    from hf_ckb.bundle import load_bundle

    spec = spec or os.environ.get(BUNDLE_ENV) or DEFAULT_BUNDLE
    try:
        if is_repo_id(spec):
            try:
                from hf_ckb.hub import load_bundle_from_hub
            except ImportError:
                from huggingface_hub import snapshot_download

                bundle = load_bundle(snapshot_download(spec))
            else:
                bundle = load_bundle_from_hub(spec)
        else:
            if not os.path.isfile(os.path.join(spec, "config.json")):
                return None, missing_bundle_message(spec)
            bundle = load_bundle(spec)
    except Exception as err:  # a broken download or folder: say so in the page
        return None, f"Could not load the bundle `{spec}`: {type(err).__name__}: {err}"
    if not bundle.interfaces and not bundle.exported:
        return None, f"The bundle `{spec}` holds a CKB but no networks (no interfaces/ or exported/)."
    for model in [*bundle.interfaces.values(), *bundle.exported.values()]:
        model.eval()  # interface blocks are attached after the host's eval(): dropout off everywhere
    return bundle, None


def label_names(config, results: dict | None = None) -> list[str]:
    """Class names for a classifier config: its `id2label` unless that is the `LABEL_i` default; else
    `results["label_names"]`; else, for a bundle trained on Rotten Tomatoes (the quickstart's), the dataset's
    `ClassLabel` names (rotten, fresh); else `LABEL_i` as given."""
    n = config.num_labels
    id2label = {int(k): v for k, v in (config.id2label or {}).items()}
    names = [str(id2label.get(i, f"LABEL_{i}")) for i in range(n)]
    if any(name != f"LABEL_{i}" for i, name in enumerate(names)):
        return names
    results = results or {}
    given = results.get("label_names")
    if isinstance(given, list) and len(given) == n:
        return [str(g) for g in given]
    datasets = results.get("datasets") if isinstance(results.get("datasets"), dict) else {}
    rotten_tomatoes = any("rotten_tomatoes" in str(d) for d in datasets.values())
    if rotten_tomatoes or ("teacher_accuracy" in results and "exported_rnn" in results):  # hf_ckb.quickstart's
        from hf_ckb.data.rotten_tomatoes import LABEL_NAMES

        if len(LABEL_NAMES) == n:
            return list(LABEL_NAMES)
    return names


# --------------------------------------------------------------------------------------------- predicting
@dataclass
class PreparedInput:
    """One text, tokenized for one tokenizer, with what the reader should know about it."""

    encoding: dict
    num_tokens: int
    notes: list[str] = field(default_factory=list)


class EmptyInput(ValueError):
    """The text holds nothing to classify."""


def max_tokens(tokenizer) -> int:
    limit = getattr(tokenizer, "model_max_length", None) or FALLBACK_MAX_TOKENS
    return int(limit) if limit < 1_000_000 else FALLBACK_MAX_TOKENS


def prepare_input(text: str | None, tokenizer) -> PreparedInput:
    """Tokenizes `text` like the training data (`truncation=True, max_length=` the tokenizer's limit), noting a cut
    and tokens the vocabulary does not know. Raises `EmptyInput` when nothing is left to classify."""
    text = (text or "").strip()
    if not text:
        raise EmptyInput(EMPTY_MESSAGE)
    notes = []
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
        notes.append(f"The text is very long: only its first {MAX_CHARS:,} characters were read.")
    limit = max_tokens(tokenizer)
    full = tokenizer(text)["input_ids"]
    if not full:
        raise EmptyInput("The text holds no token this tokenizer knows how to read: try a few words of a review.")
    if len(full) > limit:
        notes.append(f"The text has {len(full):,} tokens; it was truncated to the first {limit:,} "
                     "(the tokenizer's maximum length).")
    encoding = tokenizer(text, truncation=True, max_length=limit, return_tensors="pt")
    ids = encoding["input_ids"][0]
    unk = getattr(tokenizer, "unk_token_id", None)
    unknown = int((ids == unk).sum()) if unk is not None else 0
    if unknown:
        note = f"{unknown} of {len(ids)} tokens are unknown to the vocabulary"
        if unknown >= 0.25 * len(ids):
            note += (": the networks learnt from English reviews, so text in another language or script is "
                     "mostly guesswork")
        notes.append(note + ".")
    return PreparedInput(dict(encoding), len(ids), notes)


@dataclass
class ModelPrediction:
    network: str  # the bundle's name for it, e.g. "rnn"
    version: str  # one of VERSIONS
    probabilities: dict[str, float]  # label name -> probability, in label order

    @property
    def label(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


@dataclass
class AttentionReading:
    """The high-level attention of one interface, averaged over the positions of the input."""

    network: str
    slots: list[str]  # "M^h 1".."M^h n_h", "h_1".."h_K" (the K low-level reads), "input rows"
    weights: list[float]
    positions: int


@dataclass
class DemoResult:
    predictions: list[ModelPrediction] = field(default_factory=list)
    attention: list[AttentionReading] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    num_tokens: int = 0


def _probabilities(logits: torch.Tensor, names: list[str]) -> dict[str, float]:
    probs = torch.softmax(logits.float().reshape(-1, logits.shape[-1])[0], -1)
    return {name: float(p) for name, p in zip(names, probs)}


def _read_attention(model, encoding: dict, network: str, n_h: int, K: int) -> AttentionReading:
    """One parallel ('import' mode) pass keeping the interface's attention over `[M^h ; h_1..h_K]`; for local
    interfaces the rows are batch*positions with one query each, so every row is one position."""
    context = model.context
    context.keep_attention, context.attention = True, {}
    try:
        with model.mode("import"):
            model(**encoding)
    finally:
        context.keep_attention = False
    probs = next(iter(context.attention.values()))  # (N, T, n_h + K)
    rows = probs.float().reshape(-1, probs.shape[-1])
    mean = rows.mean(0)
    weights = [float(w) for w in mean] + [max(0.0, 1.0 - float(mean.sum()))]
    slots = [f"M^h {i + 1}" for i in range(n_h)] + [f"h_{k + 1}" for k in range(K)] + ["input rows"]
    return AttentionReading(network, slots, weights, rows.shape[0])


@torch.no_grad()
def predict(bundle, text: str | None) -> DemoResult:
    """Classifies `text` with every network of `bundle`: each interface's host as the original network and as the
    CKB-backed network, and each exported network; reads each interface's attention over the CKB's slots.

    Raises `EmptyInput` for a text with nothing to classify."""
    result = DemoResult()
    n_h, K = bundle.ckb.config.high_level_size, bundle.ckb.config.num_low_level
    prepared = {}
    for name in [*bundle.interfaces, *bundle.exported]:
        if name not in prepared:
            prepared[name] = prepare_input(text, bundle.tokenizers[name])
            for note in prepared[name].notes:
                if note not in result.notes:
                    result.notes.append(note)
    result.num_tokens = max(p.num_tokens for p in prepared.values())
    for name, model in bundle.interfaces.items():
        encoding = prepared[name].encoding
        names = label_names(model.base_model.config, bundle.results)
        with model.disable_interfaces():
            result.predictions.append(ModelPrediction(name, "original",
                                                      _probabilities(model(**encoding).logits, names)))
        with model.mode("interface"):
            result.predictions.append(ModelPrediction(name, "CKB-backed",
                                                      _probabilities(model(**encoding).logits, names)))
        result.attention.append(_read_attention(model, encoding, name, n_h, K))
    for name, model in bundle.exported.items():
        names = label_names(model.config, bundle.results)
        result.predictions.append(ModelPrediction(name, "exported",
                                                  _probabilities(model(**prepared[name].encoding).logits, names)))
    return result


# --------------------------------------------------------------------------------------------- showing
def probability_table(result: DemoResult) -> str:
    """The predictions as a markdown table: network, version, predicted label and each label's probability."""
    labels = []
    for p in result.predictions:
        labels += [n for n in p.probabilities if n not in labels]
    rows = ["| network | version | prediction | " + " | ".join(f"p({n})" for n in labels) + " |",
            "| --- | --- | --- | " + " | ".join("---:" for _ in labels) + " |"]
    for p in result.predictions:
        cells = [f"{p.probabilities[n]:.3f}" if n in p.probabilities else "" for n in labels]
        rows.append(f"| {p.network.upper()} | {p.version} | **{p.label}** | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def attention_figure(result: DemoResult):
    """A bar chart per interface: the share of its high-level attention on each row of `M^h`, on each low-level
    read `h_k` and on the input's own rows, averaged over positions. None when there is no interface."""
    if not result.attention:
        return None
    from matplotlib.figure import Figure  # not pyplot: figures are not kept in a global registry per request
    from matplotlib.patches import Patch

    fig = Figure(figsize=(10, 2.6 * len(result.attention) + 0.6))
    axes = fig.subplots(len(result.attention), 1, squeeze=False)
    colours = {"M^h": "#3b75af", "h_": "#ef8636", "input": "#9a9a9a"}
    for ax, reading in zip(axes[:, 0], result.attention):
        colour = [next(c for prefix, c in colours.items() if s.startswith(prefix)) for s in reading.slots]
        ticks = [s[4:] if s.startswith("M^h") else f"$h_{{{s[2:]}}}$" if s.startswith("h_") else "input"
                 for s in reading.slots]
        ax.bar(range(len(reading.slots)), reading.weights, color=colour)
        ax.set_xticks(range(len(reading.slots)), ticks, fontsize=7)
        ax.set_xlim(-0.7, len(reading.slots) - 0.3)
        ax.set_ylabel("attention")
        ax.set_title(f"{reading.network.upper()} interface — averaged over {reading.positions} position"
                     f"{'s' if reading.positions != 1 else ''}", fontsize=10, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    handles = [Patch(color=c) for c in colours.values()]
    fig.legend(handles, ["rows 1..$n_h$ of the high-level memory $M^h$",
                         "low-level reads $h_k$ (one per $M^l_k$)", "the input's own rows ($\\tilde{M}^h$)"],
               loc="lower center", ncol=3, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.06 if len(result.attention) > 1 else 0.1, 1, 1))
    return fig


def notes_markdown(result: DemoResult) -> str:
    agree = {p.label for p in result.predictions}
    head = (f"All {len(result.predictions)} networks say **{next(iter(agree))}**." if len(agree) == 1 else
            "The networks disagree: " + ", ".join(f"{p.network.upper()} {p.version} → **{p.label}**"
                                                   for p in result.predictions) + ".")
    return "\n\n".join([head, *(f"⚠️ {n}" for n in result.notes)])


def model_keys(bundle) -> list[tuple[str, str]]:
    """(network, version) of every prediction `predict` makes, in its order: the UI's output slots."""
    keys = []
    for name in bundle.interfaces:
        keys += [(name, "original"), (name, "CKB-backed")]
    keys += [(name, "exported") for name in bundle.exported]
    return keys


def classify(bundle, text: str | None) -> tuple:
    """What the UI shows for `text`: (notes markdown, one {label: p} dict per `model_keys`, table markdown,
    attention figure). Empty input gives a friendly note and empty outputs instead of an error."""
    keys = model_keys(bundle)
    try:
        result = predict(bundle, text)
    except EmptyInput as err:
        return (str(err), *([None] * len(keys)), "", None)
    by_key = {(p.network, p.version): p.probabilities for p in result.predictions}
    return (notes_markdown(result), *(by_key.get(k) for k in keys), probability_table(result),
            attention_figure(result))


def results_markdown(bundle) -> str:
    r = bundle.results or {}
    if "teacher_accuracy" not in r:
        return ""
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    parts = [f"{n.upper()}: original {pct(a)}, CKB-backed {pct(r['ckb_backed'][n]['accuracy'])}"
             for n, a in r["teacher_accuracy"].items() if n in r.get("ckb_backed", {})]
    if "exported_rnn" in r:
        parts.append(f"exported RNN {pct(r['exported_rnn']['accuracy'])}")
    return f"Test accuracy of this bundle ({r.get('test_examples', '?')} snippets): " + "; ".join(parts) + "."


# --------------------------------------------------------------------------------------------- the app
INTRO = """# Continuous knowledge base: one text, every network
A **CKB** (Chen, Sun & Liu 2021) is a small set of memory matrices shared by several networks. Each network got an
*interface* that imitates one of its functions by reading the CKB; the knowledge in the CKB was then *exported*
into a fresh network. Type a movie review to compare the **original** networks, the same networks running on the
**CKB** and the **exported** network, and to see which CKB slots each interface read."""


def theme():
    """Gradio's default look with system fonts: the default theme fetches its fonts from Google Fonts, which a Space
    offline (or behind a firewall) cannot reach. Gradio >= 6 takes it in `launch(theme=...)`."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "Helvetica", "Arial", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def launch_kwargs() -> dict:
    """Keyword arguments for `demo.launch` that the app needs whatever the host and port."""
    return {"theme": theme()}


def build_demo(bundle_path: str | None = None):
    """The Gradio app for the bundle at `bundle_path` (a folder or Hub repo id; default `$HF_CKB_BUNDLE`, then
    `ckb-quickstart`). A missing bundle gives an app that says how to make one."""
    import gradio as gr

    bundle, error = load_demo_bundle(bundle_path)
    lock = threading.Lock()  # a forward switches the shared interface mode: one request at a time
    with gr.Blocks(title="CKB demo", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        if bundle is None:
            gr.Markdown(f"### ⚠️ {error}", elem_id="bundle-error")
            gr.Textbox(label="Review", interactive=False, placeholder="No bundle loaded")
            return demo
        gr.Markdown(f"Bundle: `{bundle.path}`. {results_markdown(bundle)}", elem_id="bundle-info")
        with gr.Row():
            text = gr.Textbox(label="Review", placeholder="e.g. a witty, touching film", lines=3, scale=5,
                              elem_id="review")
            button = gr.Button("Classify", variant="primary", scale=1, elem_id="classify")
        examples = gr.Dataset(components=[text], samples=[[e] for e in EXAMPLES], label="Examples (click one)",
                              elem_id="examples", samples_per_page=len(EXAMPLES))
        notes = gr.Markdown(EMPTY_MESSAGE, elem_id="notes")
        keys = model_keys(bundle)
        labels = {}
        for name in dict.fromkeys(n for n, _ in keys):
            with gr.Row():
                for version in VERSIONS:
                    if (name, version) in keys:
                        slug = f"{name}-{version.lower()}"
                        labels[(name, version)] = gr.Label(label=f"{name.upper()} · {version}", elem_id=slug,
                                                           elem_classes=["prediction"])
        table = gr.Markdown(elem_id="probabilities")
        gr.Markdown("#### Which CKB slots the input read\nEach interface's high-level attention, averaged over the "
                    "positions of the text: on the rows of the high-level memory $M^h$, on the reads $h_k$ of the "
                    "low-level memories $M^l_k$, and on the input's own rows.", latex_delimiters=[
                        {"left": "$", "right": "$", "display": False}])
        plot = gr.Plot(show_label=False, elem_id="attention")
        outputs = [notes, *(labels[k] for k in keys), table, plot]

        def run(review):
            with lock:
                return classify(bundle, review)

        button.click(run, text, outputs, api_name="predict")
        text.submit(run, text, outputs, api_name="predict_on_submit", api_visibility="undocumented")
        examples.click(lambda sample: (sample[0], *run(sample[0])), examples, [text, *outputs],
                       api_name="predict_example", api_visibility="undocumented")
    return demo


# --------------------------------------------------------------------------------------------- screenshot
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright, user_data_dir: str, executable_path: str = "/usr/bin/chromium"):
    """A headless Chromium context from Debian's package (Playwright's own browser download is not used)."""
    return playwright.chromium.launch_persistent_context(
        user_data_dir, executable_path=executable_path, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900})


def take_screenshot(bundle_path: str | None, out: str, text: str = EXAMPLES[0], port: int = 0) -> str:
    """Launches the app on 127.0.0.1, types `text`, submits and saves a full-page screenshot to `out`."""
    import socket
    import tempfile

    from playwright.sync_api import sync_playwright

    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    demo = build_demo(bundle_path)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **launch_kwargs())
    try:
        with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
            context = launch_chromium(p, profile)
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            page.locator("#review textarea").fill(text)
            page.locator("#classify").click()
            page.locator("#probabilities table").wait_for(timeout=60_000)
            page.locator("#attention img").first.wait_for(timeout=60_000)
            page.wait_for_timeout(500)
            page.screenshot(path=out, full_page=True)
            context.close()
    finally:
        demo.close()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default=None,
                        help=f"bundle folder or Hub repo id (default: ${BUNDLE_ENV}, then {DEFAULT_BUNDLE})")
    parser.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the app to PNG and exit")
    parser.add_argument("--text", default=EXAMPLES[0], help="the review typed in for --screenshot")
    parser.add_argument("--port", type=int, default=None, help="server port (default: Gradio's)")
    args = parser.parse_args(argv)
    if args.screenshot:
        print(take_screenshot(args.bundle, args.screenshot, args.text, args.port or 0))
        return
    build_demo(args.bundle).launch(server_port=args.port, **launch_kwargs())


if __name__ == "__main__":
    main()
