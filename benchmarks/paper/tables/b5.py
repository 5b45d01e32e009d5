"""Table B.5: a big RNN's knowledge into a small one, through the CKB vs on labels vs standard KD."""

from ..paper import TABLE_B5
from ..report import table
from ..transfer import distilled, transferred
from .common import over_seeds


def run(ws) -> dict:
    seeds = ws.scale.other_seeds
    rows = [
        ["RNN-256 (teacher)", over_seeds(lambda s: ws.teacher("rnn", s)[1]["accuracy"], seeds), TABLE_B5["teacher"]],
        ["RNN-64 trained on labels", over_seeds(lambda s: ws.teacher("rnn64", s)[1]["accuracy"], seeds),
         TABLE_B5["labels"]],
        ["RNN-64 by standard KD", over_seeds(lambda s: distilled(ws, "rnn64", "rnn", s), seeds), TABLE_B5["kd"]],
        ["RNN-64 by RNN-256 ↔ CKB ↔ RNN-64", over_seeds(lambda s: transferred(ws, "rnn", "rnn64", s)["accuracy"],
                                                        seeds), TABLE_B5["ckb"]],
        ["control: the same with a random CKB",
         over_seeds(lambda s: transferred(ws, "rnn", "rnn64", s, random_ckb=True)["accuracy"], seeds), None],
    ]
    return table(
        "Table B.5 — distillation through the CKB", ["configuration", "ours", "paper"], rows,
        ["RNN-64: a GRU of width 64. It was never imported, so it reads the CKB as Table 3's targets do: a new "
         "interface trained on the frozen CKB from the CKB-backed RNN-256's predictions, then exported. KD: the "
         "RNN-64 trained on the RNN-256's logits (KL, T=1) for as many steps as the label-trained RNN-64. "
         f"Seeds {seeds}."])
