"""Images and text in one CKB (issue 12 §2, the paper's own example in §2.4, never run there): scikit-learn's 8x8
digits classifier (`hf_ckb.networks.DigitsForImageClassification`, pixel tokens) and the RNN on Rotten Tomatoes,
each imported alone and both jointly into one CKB (Eq. 16-18), then each exported from it.

Per network (seed 0): the teacher; alone and joint, the CKB-backed accuracy, the exported network's accuracy and the
knockout (the CKB zeroed, and replaced by random matrices of the same spread: the control); for the joint CKB, the
knowledge accounting of `hf_ckb.inspect`: does each network use the CKB, how much of its attention read comes from
CKB rows, and how alike the two networks' slot preferences are (the overlap fusion would have to work with).
"""

from hf_ckb.bundle import Bundle
from hf_ckb.knowledge import inspect

from ..paper.workspace import Workspace
from .common import RANDOM_SEED, majority, percent, teacher

IMAGE_TEXT = ("digits", "rnn")
SEED = 0


def accounting(ws: Workspace, archs: tuple[str, ...]) -> dict:
    """`hf_ckb.inspect` of the import of `archs` (seed 0) on each network's test split: a `Workspace` artifact."""
    def build(path):
        module = ws.imported(archs, SEED)[0]
        bundle = Bundle(module.ckb, dict(module.networks), tokenizers={a: ws.data(a)[0] for a in archs})
        report = inspect(bundle, {a: ws.test_split(a)[1] for a in archs}, seed=RANDOM_SEED, write=False,
                         progress=False)
        report.pop("profiles")
        return None, report

    return ws.artifact(ws.design_key(f"images/inspect/{'+'.join(archs)}-s{SEED}"), build)[1]


def _arm(ws: Workspace, archs: tuple[str, ...], arch: str) -> dict:
    entry = accounting(ws, archs)["interfaces"][arch]
    return {"ckb_backed": round(entry["knockout"]["imported"]["accuracy"], 2),
            "zero_ckb": round(entry["knockout"]["zero"]["accuracy"], 2),
            "random_ckb": round(entry["knockout"]["random"]["accuracy"], 2),
            "exported": percent(ws.exported(archs, SEED, arch)["accuracy"]),
            "cos": round(entry["knockout"]["imported"]["cosine"], 4), "uses_ckb": entry["uses_ckb"],
            "ckb_share": round(entry["reads"]["ckb_share"], 4)}


def images_section(ws: Workspace) -> dict:
    """Per network of `IMAGE_TEXT`: teacher, majority, and the `alone` and `joint` arms; the joint CKB's overlap."""
    rows = {arch: {"teacher": teacher(ws, arch, SEED), "majority": majority(ws, arch),
                   "alone": _arm(ws, (arch,), arch), "joint": _arm(ws, IMAGE_TEXT, arch)} for arch in IMAGE_TEXT}
    rows["overlap"] = round(accounting(ws, IMAGE_TEXT)["overlap"]["|".join(sorted(IMAGE_TEXT))], 4)
    return rows
