"""Table B.6: transfer learning through the CKB: a pretrained encoder imported on unlabelled text, then the
CKB-based classifier fine-tuned on labels."""

from ..paper import TABLE_B6
from ..report import table
from ..transfer import ckb_based, imported_unlabelled
from .common import over_seeds


def run(ws) -> dict:
    seeds = ws.scale.other_seeds
    fidelity = over_seeds(lambda s: imported_unlabelled(ws, s)[1]["cosine"], seeds, percent=False)
    rows = [
        ["MiniLM random init + FT", over_seeds(lambda s: ws.teacher("minilm-scratch", s)[1]["accuracy"], seeds),
         TABLE_B6["random_init_ft"]],
        ["MiniLM pretrained + FT", over_seeds(lambda s: ws.teacher("minilm", s)[1]["accuracy"], seeds),
         TABLE_B6["pretrained_ft"]],
        ["CKB-based model, random CKB + FT", over_seeds(lambda s: ckb_based(ws, s, imported=False), seeds),
         TABLE_B6["random_ckb_ft"]],
        ["CKB-based model, CKB imported from pretrained MiniLM on unlabelled text + FT",
         over_seeds(lambda s: ckb_based(ws, s, imported=True), seeds), TABLE_B6["imported_ckb_ft"]],
    ]
    s = ws.scale
    return table(
        "Table B.6 — transfer learning through the CKB", ["configuration", "ours", "paper (ALBERT, Amazon)"], rows,
        ["MiniLM stands in for ALBERT. The import: the pretrained (not fine-tuned) MiniLM encoder through one global "
         f"interface, CKB width {s.big_ckb['hidden_size']}, {s.big_steps} steps on the training inputs without "
         f"labels; its test fidelity cosine {fidelity['mean']:.3f}. CKB-based model = MiniLM's embeddings, the "
         "interface over the CKB instead of the encoder, MiniLM's pooler and a fresh classifier; fine-tuned "
         f"{s.big_steps} steps at lr 5e-4 (interface, CKB, pooler, classifier; embeddings frozen), the same for the "
         f"random CKB. The MiniLM rows fine-tune the whole model {s.minilm_epochs} epoch(s) on "
         f"{s.minilm_train_limit or 'all'} snippets (lr 5e-5 "
         f"pretrained, 1e-4 from random init). Seeds {seeds}."])
