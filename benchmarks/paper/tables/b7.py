"""Table B.7: networks of different tasks in one CKB: the RNN sentiment classifier and a two-layer Transformer
POS tagger (token classification, Penn Treebank WSJ sample), imported alone and jointly, exported to each."""

from ..paper import TABLE_B7
from ..report import table
from .common import diff_over_seeds, over_seeds


def run(ws) -> dict:
    seeds = ws.scale.other_seeds
    joint = ("rnn", "pos")
    rows = []
    for arch, task in (("rnn", "classification (Rotten Tomatoes)"), ("pos", "POS tagging (WSJ sample)")):
        teacher = lambda s, a=arch: ws.teacher(a, s)[1]["accuracy"]  # noqa: E731
        alone = lambda s, a=arch: ws.exported((a,), s, a)["accuracy"]  # noqa: E731
        fused = lambda s, a=arch: ws.exported(joint, s, a)["accuracy"]  # noqa: E731
        label = "RNN" if arch == "rnn" else "ANN (2L)"
        rows += [[label, task, over_seeds(teacher, seeds), TABLE_B7[arch]],
                 [f"{label} ↔ CKB ↔ {label}", task, over_seeds(alone, seeds), TABLE_B7[f"{arch}<->ckb<->{arch}"]],
                 [f"{{RNN, ANN (2L)}} ↔ CKB ↔ {label}", task, over_seeds(fused, seeds),
                  TABLE_B7[f"{{rnn,pos}}<->ckb<->{arch}"]],
                 ["  joint − alone (points)", task, diff_over_seeds(fused, alone, seeds), None]]
    fidelity = ws.imported(joint, seeds[0])[1]
    return table(
        "Table B.7 — networks of different tasks in one CKB", ["configuration", "task", "ours", "paper"], rows,
        ["POS: accuracy over words (first sub-token of each word), on the test 10% of the 1,001-line WSJ sample that "
         "Debian's python3-pattern ships (the paper: the full Penn Treebank); the tagger is trained from scratch on "
         "its 80%, so its level is far below the paper's. Both networks import on their own data in the same steps "
         f"(Eq. 18). Joint import fidelity cos: RNN {fidelity['rnn']['cosine']:.3f}, tagger "
         f"{fidelity['pos']['cosine']:.3f}. Seeds {seeds}."])
