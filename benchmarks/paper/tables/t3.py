"""Table 3: knowledge moved across architectures, source -> CKB -> a target architecture never imported.

The paper does not say how the target's interface is obtained. Ours (`benchmarks.paper.transfer.transferred`):
import the source alone; train a new interface for the target architecture on the frozen CKB by distillation from
the CKB-backed source's predictions on unlabelled inputs; export it into a fresh target. The random-CKB control
runs the same procedure over a freshly initialised CKB."""

from ..paper import TABLE3
from ..report import table
from ..transfer import transferred
from .common import diff_over_seeds, name, over_seeds

PAIRS = (("rnn", "cnn"), ("rnn", "ann"), ("cnn", "rnn"), ("cnn", "ann"), ("ann", "rnn"), ("ann", "cnn"))


def run(ws, pairs=PAIRS) -> dict:
    seeds = ws.scale.other_seeds
    rows = []
    for source, target in pairs:
        via = lambda s, a=source, b=target: transferred(ws, a, b, s)  # noqa: E731
        control = lambda s, a=source, b=target: transferred(ws, a, b, s, random_ckb=True)["accuracy"]  # noqa: E731
        teacher = lambda s, a=source: ws.teacher(a, s)[1]["accuracy"]  # noqa: E731
        native = lambda s, b=target: ws.teacher(b, s)[1]["accuracy"]  # noqa: E731
        rows.append([f"{name(source)} → {name(target)}", over_seeds(teacher, seeds), over_seeds(native, seeds),
                     over_seeds(lambda s: via(s)["adapted"], seeds), over_seeds(lambda s: via(s)["accuracy"], seeds),
                     over_seeds(control, seeds), diff_over_seeds(lambda s: via(s)["accuracy"], control, seeds),
                     f"{TABLE3[(source, target)]:.2f}"])
    return table(
        "Table 3 — across architectures: source ↔ CKB → target",
        ["transfer", "source teacher", "target trained on labels", "target interface on the CKB",
         "exported target", "control: random CKB, same procedure", "imported − random CKB (points)", "paper"],
        rows,
        [f"Target interface: trained on the frozen CKB by distillation (KL, T=1) from the CKB-backed source's "
         f"predictions on the unlabelled training inputs, {ws.scale.import_steps // 2} steps; export "
         f"{ws.scale.export_steps // 2} steps; the target's embeddings and head come from that stage. "
         f"Seeds {seeds}."])
