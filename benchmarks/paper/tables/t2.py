"""Table 2: several networks fused in one CKB and exported to each member, with the controls the paper lacks: the
logit-averaging ensemble of the teachers and the same-steps, no-fusion run (Table 1's single import + export: the
same number of import and export updates, the same seeds, no other network)."""

from ..paper import TABLE2
from ..report import table
from ..workspace import MORE_TEXT
from .common import diff_over_seeds, group, name, over_seeds, seeds_for

GROUPS = (("rnn", "cnn"), ("cnn", "ann"), ("ann", "rnn"), ("rnn", "cnn", "ann"))


def run(ws, groups=None) -> dict:
    groups = groups or GROUPS + ((("minilm", "decoder"),) if ws.scale.name != "ci" else ())
    rows = []
    levers = [(("rnn", "cnn"), "rnn", MORE_TEXT)]
    for members, target, tag in [(m, t, "") for m in groups for t in m] + levers:
        seeds = seeds_for(ws, members)
        ensemble = over_seeds(lambda s: ws.ensemble(members, s), seeds)
        teacher = lambda s, t=target: ws.teacher(t, s)[1]["accuracy"]  # noqa: E731
        control = lambda s, t=target: ws.exported((t,), s, t, tag=tag)["accuracy"]  # noqa: E731
        fused = lambda s, t=target: ws.exported(members, s, t, tag=tag)["accuracy"]  # noqa: E731
        paper = TABLE2["fused"].get((paper_key(members), target))
        lever = ", lever: + unlabelled review text" if tag else ""
        rows.append([f"{group(members)} ↔ CKB ↔ {name(target)}{lever}", over_seeds(teacher, seeds), ensemble,
                     over_seeds(control, seeds), over_seeds(fused, seeds), diff_over_seeds(fused, control, seeds),
                     diff_over_seeds(fused, teacher, seeds), paper,
                     TABLE2["ensemble"].get(paper_key(members)), TABLE2["single"].get(target)])
    return table(
        "Table 2 — several networks fused in one CKB",
        ["configuration", "teacher (single)", "ensemble (mean logits)", "control: same steps, no fusion", "fused",
         "fused − control (points)", "fused − teacher (points)", "paper: fused", "paper: ensemble",
         "paper: single"],
        rows,
        ["Control = the target imported alone and exported with the same import and export steps and seeds "
         "(Table 1's run); a fusion gain must beat it, not only the teacher. Differences are paired per seed.",
         f"Seeds {ws.scale.seeds} for {{RNN, CNN}}, {ws.scale.other_seeds} for the other groups.",
         "Lever row: import and export train on the training inputs plus 47,750 unlabelled sentences of Pang & "
         "Lee's movie reviews (python3-pattern's polarity v2.0 sample; 5.7× the inputs, same steps); its control is "
         "the single import + export with the same text and steps."])


def paper_key(members):
    return next((k for k in TABLE2["ensemble"] if set(k) == set(members)), tuple(members))
