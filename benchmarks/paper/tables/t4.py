"""Table 4: CKB capacity. The same network imported into CKBs of increasing size, then exported."""

from ..paper import TABLE4
from ..report import table
from .common import diff_over_seeds, name, over_seeds, seeds_for


def ckb_parameters(sizes: dict) -> int:
    return (sizes["num_low_level"] * sizes["low_level_size"] + sizes["high_level_size"]) * sizes["hidden_size"]


def size_tag(sizes: dict | None, default: dict) -> str:
    """The work dir keys' mark of a CKB of other than the `default` size (none for the default, or no `sizes`): a
    run at the default size is the very run the other tables use."""
    return "" if sizes is None or sizes == default else f"-ckb{ckb_parameters(sizes)}"


def run(ws) -> dict:
    arch = ws.scale.capacity_network
    seeds = seeds_for(ws, [arch])
    default = ws.scale.big_ckb if arch == "minilm" else ws.scale.small_ckb
    teacher = lambda s: ws.teacher(arch, s)[1]["accuracy"]  # noqa: E731
    rows = [[f"{name(arch)} alone", "–", "–", over_seeds(teacher, seeds), "–", "–", "–", "–",
             f"{TABLE4['BERT alone']:.2f}"]]
    paper = [v for k, v in TABLE4.items() if k != "BERT alone"]
    for i, sizes in enumerate(ws.scale.capacity):
        tag = size_tag(sizes, default)  # the size Table 1 uses is Table 1's very run
        imported = lambda s, z=sizes, t=tag: ws.imported((arch,), s, z, t)[1][arch]  # noqa: E731
        exported = lambda s, z=sizes, t=tag: ws.exported((arch,), s, arch, z, t)["accuracy"]  # noqa: E731
        shape = f"K={sizes['num_low_level']} × ({sizes['low_level_size']} × {sizes['hidden_size']}) + " \
                f"{sizes['high_level_size']} × {sizes['hidden_size']}"
        rows.append([f"{name(arch)} ↔ CKB ↔ {name(arch)}", f"{ckb_parameters(sizes) / 1e3:.2f}K", shape,
                     over_seeds(lambda s: imported(s)["accuracy"], seeds),
                     over_seeds(lambda s: imported(s)["cosine"], seeds, percent=False),
                     over_seeds(lambda s: imported(s)["rel_l2"], seeds, percent=False), over_seeds(exported, seeds),
                     diff_over_seeds(exported, teacher, seeds),
                     f"{paper[i]:.2f} ({list(TABLE4)[i + 1]})" if i < len(paper) else "–"])
    return table(
        "Table 4 — CKB capacity",
        ["configuration", "CKB parameters", "CKB shape", "CKB-backed", "fidelity cos", "fidelity rel. L2",
         "exported", "exported − teacher (points)", "paper (BERT, Amazon)"],
        rows,
        [f"Network: {name(arch)} (the paper sweeps BERT; at `ci` scale the ANN, whose global interface over a "
         "Transformer layer is the closest small analogue). Paper figures are matched by rank (smallest, middle, "
         "largest), not by size."])
