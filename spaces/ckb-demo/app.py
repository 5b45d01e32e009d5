"""A Gradio demo of a continuous knowledge base (CKB) bundle: the original networks, the same networks backed by
the CKB through their interfaces, and the networks exported from it, classifying one text side by side, with a
plot of which CKB slots each interface read, and a tab with the knowledge-accounting report (`hf-ckb inspect`).

The bundle comes from `HF_CKB_BUNDLE` (a local folder or a Hub repo id) and defaults to `ckb-quickstart`, the
folder `hf-ckb quickstart` writes. Run it with `python app.py`; `python app.py --help` lists the options.

This file is the page (Gradio Blocks). What it shows is computed by plain functions that the tests call without a
browser: loading and predicting in prediction.py, the table, plot and notes in views.py; screenshot.py regenerates
the README's screenshot in headless Chromium.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading

from prediction import BUNDLE_ENV, DEFAULT_BUNDLE, EMPTY_MESSAGE, VERSIONS, load_demo_bundle, model_keys
from views import classify, inspection_images, inspection_markdown, results_markdown

EXAMPLES = [  # three Rotten Tomatoes snippets of the quickstart's test split (movies it never trained on), and French
    "The actors are fantastic. They are what makes it worth the trip to the theatre.",
    "It all feels like a Monty Python sketch gone horribly wrong.",
    "A spiritual exploration of sorts, offering a message of hope that resonates.",
    "Une comédie charmante, drôle et pleine de tendresse.",
]

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
        with gr.Tabs():
            with gr.Tab("Classify", id="classify-tab"):
                text, button, examples, outputs = classify_tab(bundle)
            with gr.Tab("Inside the store", id="inspect-tab"):
                store_tab(bundle)

        def run(review):
            with lock:
                return classify(bundle, review)

        button.click(run, text, outputs, api_name="predict")
        text.submit(run, text, outputs, api_name="predict_on_submit", api_visibility="undocumented")
        examples.click(lambda sample: (sample[0], *run(sample[0])), examples, [text, *outputs],
                       api_name="predict_example", api_visibility="undocumented")
    return demo


def classify_tab(bundle) -> tuple:
    """The "Classify" tab: a review box, examples, each network's label, the table and the attention plot. Returns
    `(text box, button, examples, output components)`. Called inside the Blocks."""
    import gradio as gr

    with gr.Row():
        text = gr.Textbox(label="Review", placeholder="e.g. a witty, touching film", lines=3, scale=5,
                          elem_id="review")
        button = gr.Button("Classify", variant="primary", scale=1, elem_id="classify")
    examples = gr.Dataset(components=[text], samples=[[e] for e in EXAMPLES], label="Examples (click one)",
                          elem_id="examples", samples_per_page=len(EXAMPLES))
    notes = gr.Markdown(EMPTY_MESSAGE, elem_id="notes")
    keys = model_keys(bundle)
    labels = label_rows(keys)
    table = gr.Markdown(elem_id="probabilities")
    gr.Markdown("#### Which CKB slots the input read\nEach interface's high-level attention, averaged over the "
                "positions of the text: on the rows of the high-level memory $M^h$, on the reads $h_k$ of the "
                "low-level memories $M^l_k$, and on the input's own rows.", latex_delimiters=[
                    {"left": "$", "right": "$", "display": False}])
    plot = gr.Plot(show_label=False, elem_id="attention")
    return text, button, examples, [notes, *(labels[k] for k in keys), table, plot]


def store_tab(bundle) -> None:
    """The "Inside the store" tab: the bundle's knowledge-accounting report and its plots. Called inside the Blocks."""
    import gradio as gr

    gr.Markdown(inspection_markdown(bundle), elem_id="inspection")
    for path in inspection_images(bundle):
        gr.Image(path, show_label=False, interactive=False, elem_classes=["inspection-plot"])


def label_rows(keys: list[tuple[str, str]]) -> dict:
    """A row of `gr.Label`s per network, one per version of it in `keys`, in `VERSIONS` order; by (network, version).
    Called inside the Blocks."""
    import gradio as gr

    labels = {}
    for name in dict.fromkeys(n for n, _ in keys):
        with gr.Row():
            for version in VERSIONS:
                if (name, version) in keys:
                    labels[(name, version)] = gr.Label(label=f"{name.upper()} · {version}",
                                                       elem_id=f"{name}-{version.lower()}",
                                                       elem_classes=["prediction"])
    return labels


@contextlib.contextmanager
def serve_locally(bundle_path: str | None = None, port: int = 0):
    """The app served from this process on 127.0.0.1 at `port` (0: a free one); yields its URL and closes it."""
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    demo = build_demo(bundle_path)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, quiet=True, **launch_kwargs())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def argument_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the option every script of the Space takes: `--bundle`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bundle", default=None,
                        help=f"bundle folder or Hub repo id (default: ${BUNDLE_ENV}, then {DEFAULT_BUNDLE})")
    return parser


def main(argv=None):
    parser = argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=None, help="server port (default: Gradio's)")
    args = parser.parse_args(argv)
    build_demo(args.bundle).launch(server_port=args.port, **launch_kwargs())


if __name__ == "__main__":
    main()
