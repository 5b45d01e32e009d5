"""Table 1: each network imported alone into a CKB and exported into a fresh network of its own architecture."""

from ..paper import TABLE1
from ..report import table
from .common import diff_over_seeds, name, over_seeds, seeds_for

NETWORKS = ("rnn", "cnn", "ann", "minilm", "decoder")


def run(ws, networks=NETWORKS) -> dict:
    rows = []
    for arch in networks:
        seeds = seeds_for(ws, [arch])
        teacher = lambda s, a=arch: ws.teacher(a, s)[1]["accuracy"]  # noqa: E731
        imported = lambda s, a=arch: ws.imported((a,), s)[1][a]  # noqa: E731
        exported = lambda s, a=arch: ws.exported((a,), s, a)["accuracy"]  # noqa: E731
        params = ws.imported((arch,), seeds[0])[1]["parameters"]
        paper_t, paper_e = TABLE1[arch][3], TABLE1[f"{arch}<->ckb<->{arch}"][3]
        rows.append([label(ws, arch), f"{ws.teacher(arch, seeds[0])[1]['parameters'] / 1e6:.2f}M",
                     f"{params[arch] / 1e6:.2f}M", f"{params['ckb'] / 1e3:.2f}K", over_seeds(teacher, seeds),
                     over_seeds(lambda s: imported(s)["accuracy"], seeds),
                     over_seeds(lambda s: imported(s)["cosine"], seeds, percent=False),
                     over_seeds(lambda s: imported(s)["rel_l2"], seeds, percent=False), over_seeds(exported, seeds),
                     diff_over_seeds(exported, teacher, seeds), f"{paper_t:.2f} → {paper_e:.2f}",
                     f"{paper_e - paper_t:+.2f}"])
    return table(
        "Table 1 — one network in and out: A ↔ CKB ↔ A",
        ["network", "model θ", "interface φ", "CKB", "teacher", "CKB-backed", "fidelity cos", "fidelity rel. L2",
         "exported", "exported − teacher (points)", "paper: teacher → exported", "paper Δ"],
        rows,
        [f"Parameters as the paper counts them (no word embeddings, no classifier); φ and CKB from the import. "
         f"Fidelity of the interface to the host's function on test inputs (teacher-forced): cosine and relative "
         f"L2 ‖pred − target‖/‖target‖ (lower is better). CKB-backed = the host with its function replaced by the "
         f"interface. Seeds {ws.scale.seeds} for RNN/CNN, {ws.scale.other_seeds} elsewhere; the data split is fixed."] +
        [note(ws, a) for a in networks if note(ws, a)])


def label(ws, arch: str) -> str:
    if arch == "minilm":
        where = "last layer (local)" if ws.scale.minilm_target.endswith(".5") else "encoder (global)"
        return f"MiniLM (pretrained, fine-tuned; interface on the {where})"
    if arch == "decoder":
        return ("SmolLM2-135M (pretrained decoder, fine-tuned)" if ws.scale.decoder == "smollm2"
                else "GPT-2 architecture, 2 layers × 256, trained from scratch")
    return name(arch)


def note(ws, arch: str) -> str | None:
    if arch == "minilm":
        return ("MiniLM stands in for bert-base (no BERT weights ship offline); the paper's BERT row imports the "
                f"whole 12-layer encoder through one global interface; here: `{ws.scale.minilm_target}`, CKB width "
                f"{ws.scale.big_ckb['hidden_size']}, {ws.scale.minilm_train_limit or 'all'} training snippets, "
                f"{ws.scale.big_steps} import/export steps.")
    if arch == "decoder":
        return ("The decoder row: no GPT-2 weights ship offline. `ci`: a GPT-2-architecture classifier trained from "
                "scratch (global causal interface on its 2-layer stack `transformer.h`); `full`: SmolLM2-135M.")
    return None
