"""The paper's figures (Chen, Sun & Liu 2021; accuracies in %, Amazon unless said), keyed as our rows are."""

TABLE1 = {  # configuration -> (model params, interface params, CKB params, Amazon accuracy)
    "rnn": ("0.20M", None, None, 84.30), "rnn<->ckb<->rnn": (None, "1.05M", "81.92K", 84.40),
    "cnn": ("0.26M", None, None, 84.35), "cnn<->ckb<->cnn": (None, "0.79M", "81.92K", 84.15),
    "ann": ("0.79M", None, None, 84.15), "ann<->ckb<->ann": (None, "1.31M", "81.92K", 84.15),
    "minilm": ("85.64M", None, None, 87.90), "minilm<->ckb<->minilm": (None, "19.09M", "1.70M", 87.60),
    "decoder": ("85.64M", None, None, 87.80), "decoder<->ckb<->decoder": (None, "19.09M", "1.70M", 87.75),
}

TABLE2 = {  # single teachers, logit ensembles, and {members} <-> CKB <-> target
    "single": {"rnn": 84.30, "cnn": 84.35, "ann": 84.15, "minilm": 87.90, "decoder": 87.80},
    "ensemble": {("rnn", "cnn"): 85.25, ("cnn", "ann"): 85.40, ("ann", "rnn"): 85.00, ("rnn", "cnn", "ann"): 85.35,
                 ("minilm", "decoder"): 88.45},
    "fused": {(("rnn", "cnn"), "rnn"): 85.05, (("rnn", "cnn"), "cnn"): 84.05, (("cnn", "ann"), "cnn"): 84.25,
              (("cnn", "ann"), "ann"): 84.30, (("ann", "rnn"), "ann"): 84.35, (("ann", "rnn"), "rnn"): 85.20,
              (("rnn", "cnn", "ann"), "rnn"): 84.95, (("rnn", "cnn", "ann"), "cnn"): 83.95,
              (("rnn", "cnn", "ann"), "ann"): 84.10, (("minilm", "decoder"), "minilm"): 88.20,
              (("minilm", "decoder"), "decoder"): 88.35},
}

TABLE3 = {("rnn", "cnn"): 83.35, ("rnn", "ann"): 83.10, ("cnn", "rnn"): 82.70, ("cnn", "ann"): 83.85,
          ("ann", "rnn"): 82.05, ("ann", "cnn"): 83.10}

TABLE4 = {"BERT alone": 87.90, "81.92K": 86.55, "1.70M": 87.60, "3.11M": 87.65}

TABLE_B5 = {"teacher": 84.30, "labels": 83.30, "kd": 83.00, "ckb": 83.00}

TABLE_B6 = {"random_init_ft": 79.20, "pretrained_ft": 84.50, "random_ckb_ft": 82.10, "imported_ckb_ft": 84.10}

TABLE_B7 = {"rnn": 84.30, "pos": 94.73, "rnn<->ckb<->rnn": 84.40, "pos<->ckb<->pos": 94.41,
            "{rnn,pos}<->ckb<->rnn": 84.80, "{rnn,pos}<->ckb<->pos": 94.63}
