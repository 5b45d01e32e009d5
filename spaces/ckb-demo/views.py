"""What the Space shows of a prediction: the probability table, the attention plot, the notes, the bundle's test
accuracies, and `classify`, which turns one text into every output of the page."""

from __future__ import annotations

from prediction import DemoResult, EmptyInput, model_keys, predict


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


INSPECT_HOWTO = ("This bundle has no knowledge-accounting report yet. Make one with "
                 "`hf-ckb inspect {path} --dataset rotten_tomatoes` and reload the page.")


def inspection_markdown(bundle) -> str:
    """The bundle's knowledge-accounting report (`hf-ckb inspect`) as markdown: per network, the knockout and its
    slot use; the overlaps; what was skipped. Says how to make one when the bundle has none."""
    from hf_ckb.knowledge.report import read_report
    from hf_ckb.model_cards import inspection_summary

    summary = inspection_summary(read_report(bundle.path) if bundle.path else None, bundle.ckb.fingerprint())
    if summary is None:
        return INSPECT_HOWTO.format(path=bundle.path or "BUNDLE")
    rows = ["| network | design | host | CKB as imported | zeroed | random | majority | uses the CKB | CKB share |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    rows += [f"| {r['name'].upper()} | {r['design']} | {r['host']} | {r['imported']} | {r['zero']} | {r['random']} | "
             f"{r['majority']} | {r['uses']} | {r['share']} |" for r in summary["rows"]]
    parts = ["Accuracy of each network with its function running on the CKB as imported, zeroed, and replaced by "
             "random matrices of the same spread: a network that loses nothing without the CKB does not use it.",
             "\n".join(rows)]
    if summary["overlap"]:
        parts.append("Overlap of the networks' slot preferences (1: they favour the same CKB rows): "
                     + "; ".join(f"{pair} {value}" for pair, value in summary["overlap"]) + ".")
    if summary["skipped"]:
        parts.append("Not inspected: " + "; ".join(f"{n} ({why})" for n, why in summary["skipped"]) + ".")
    if summary["stale"]:
        parts.append("⚠️ This report was measured on an earlier CKB: run `hf-ckb inspect` again.")
    return "\n\n".join(parts)


def inspection_images(bundle) -> list[str]:
    """Paths of the report's plots (knockout bars, slot-use heat map) that the bundle holds."""
    import os

    from hf_ckb.knowledge.report import PLOTS
    from hf_ckb.layout import INSPECT

    paths = [os.path.join(bundle.path or "", INSPECT, name) for name in PLOTS.values()]
    return [p for p in paths if os.path.isfile(p)]
