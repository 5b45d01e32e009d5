"""Pushing CKB bundles to the loopback Hub (tests/hub/server.py) and pulling them back, with the real
huggingface_hub client in subprocesses (each pull in a fresh process with an empty HF_HOME).

The bundle is built in this process from the paper's tiny networks (no training: random interfaces are enough to
check that every tensor and every output comes back bit for bit)."""

from __future__ import annotations

import json
import shutil

import pytest

SENTENCES = ["a good film with a fine plot", "the acting was bad", "a bad plot and a good cast",
             "fine acting in a bad film", "the plot was good"] * 3
TEXTS = ["a good film", "the acting was bad and the plot was fine"]
RESULTS = {
    "interfaces": {"rnn": {"cosine": 0.9312, "rel_l2": 0.2875, "accuracy": 0.7011, "split": "test"},
                   "cnn": {"cosine": 0.8123, "rel_l2": 0.4567, "accuracy": 0.6543, "split": "test"}},
    "teacher_accuracy": {"rnn": 0.7282, "cnn": 0.7131},
    "exported": {"rnn": {"cosine": 0.9044, "rel_l2": 0.3321, "accuracy": 0.6987, "source_interface": "rnn"}},
    "datasets": {"cnn": "rotten_tomatoes"},
    "recipe": {"steps": 600, "learning_rate": 0.001, "loss": "nmse"},
}

# Shared by the client scripts: `outputs(bundle)` digests the CKB and every network's logits on TEXTS.
COMMON = f"""
import hashlib, json, os, sys
import torch
torch.set_num_threads(1)
TEXTS = {TEXTS!r}

def digest(tensor):
    return hashlib.sha256(tensor.detach().contiguous().cpu().numpy().tobytes()).hexdigest()

def logits(model, tokenizer, mode=None):
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        if mode is None:
            return model(**batch).logits
        with model.mode(mode):
            return model(**batch).logits

def outputs(bundle):
    out = {{"ckb": [digest(bundle.ckb.low_level), digest(bundle.ckb.high_level)],
           "fingerprint": bundle.ckb.fingerprint()}}
    for name, net in sorted(bundle.interfaces.items()):
        out["interface/" + name] = digest(logits(net, bundle.tokenizers[name], "interface"))
        out["host/" + name] = digest(logits(net, bundle.tokenizers[name], "host"))
    for name, model in sorted(bundle.exported.items()):
        out["exported/" + name] = digest(logits(model, bundle.tokenizers[name]))
    return out

def emit(obj):
    print(json.dumps(obj))
"""


def build_bundle(directory, seed: int = 0) -> str:
    """A bundle of a tiny CKB, an RNN and a CNN with (untrained) interfaces, an exported RNN and a BPE tokenizer."""
    import torch

    from hf_ckb import CKBConfig, CKBModel, InterfaceConfig, InterfaceModel
    from hf_ckb import Bundle
    from hf_ckb.data import train_tokenizer
    from hf_ckb.networks import CNNConfig, CNNForSequenceClassification, RNNConfig, RNNForSequenceClassification

    tokenizer = train_tokenizer(SENTENCES, vocab_size=60, min_frequency=1)
    torch.manual_seed(seed)
    small = dict(vocab_size=len(tokenizer), embedding_size=16, num_labels=2)
    rnn = RNNForSequenceClassification(RNNConfig(hidden_size=16, **small)).eval()
    cnn = CNNForSequenceClassification(CNNConfig(window_sizes=[2, 3], num_filters=8, **small)).eval()
    exported = RNNForSequenceClassification(RNNConfig(hidden_size=16, **small)).eval()
    ckb = CKBModel(CKBConfig(num_low_level=3, low_level_size=4, high_level_size=5, hidden_size=16)).eval()
    nets = {"rnn": InterfaceModel(rnn, ckb, InterfaceConfig(num_heads=2, dataset="rotten_tomatoes",
                                                            host_model_id="tester/rnn-teacher", host_revision="v1.0")),
            "cnn": InterfaceModel(cnn, ckb, InterfaceConfig(num_heads=2))}
    for net in nets.values():  # the interfaces' output layers start at zero: make them say something
        for name, param in net.named_parameters():
            if ".interfaces." in name:
                torch.nn.init.normal_(param.data, std=0.5)
    Bundle(ckb, nets, exported={"rnn": exported}, tokenizers={"rnn": tokenizer, "cnn": tokenizer},
           results=RESULTS).save_pretrained(str(directory))
    return str(directory)


@pytest.fixture(scope="module")
def built_bundle(tmp_path_factory) -> str:
    return build_bundle(tmp_path_factory.mktemp("built") / "bundle")


@pytest.fixture
def bundle_dir(built_bundle, tmp_path) -> str:
    """A fresh copy of the built bundle (pushing records the CKB's commit in it)."""
    return str(shutil.copytree(built_bundle, tmp_path / "bundle"))


def _last_json(proc) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _commits(hub_backend, repo_id: str) -> list[tuple[str, dict]]:
    return [(e[3], e[4]) for e in hub_backend.events if e[0] == "commit" and e[2] == repo_id]


def test_bundle_round_trip_in_a_fresh_process(hub_backend, hub_env_factory, run_client, bundle_dir):
    pushed = _last_json(run_client(COMMON + f"""
from hf_ckb import Bundle
from hf_ckb.hub import push_bundle, push_exported
before = outputs(Bundle.from_pretrained({bundle_dir!r}))
info = push_bundle({bundle_dir!r}, "tester/bundle")
exported = push_exported({bundle_dir!r}, "rnn", "tester/exported-rnn", bundle_repo_id="tester/bundle")
recorded = json.load(open(os.path.join({bundle_dir!r}, "interfaces", "rnn", "interface_config.json")))
emit({{"outputs": before, "oid": info.oid, "exported_oid": exported.oid, "ckb_revision": recorded["ckb_revision"]}})
""", hub_env_factory()))

    # Two commits: the CKB alone, then the rest with every interface recording the first one.
    (ckb_sha, ckb_files), (bundle_sha, bundle_files) = _commits(hub_backend, "tester/bundle")
    assert bundle_sha == pushed["oid"] and ckb_sha == pushed["ckb_revision"]
    assert sorted(ckb_files) == ["config.json", "configuration_ckb.py", "model.safetensors", "modeling_ckb.py"]
    assert {"README.md", "results.json", "interfaces/rnn/interface_config.json", "interfaces/cnn/interface_model"
            ".safetensors", "hosts/rnn/model.safetensors", "hosts/cnn/tokenizer.json",
            "exported/rnn/config.json", "exported/rnn/README.md"} <= set(bundle_files)
    assert bundle_files["interfaces/rnn/interface_model.safetensors"] == "lfs"  # *.safetensors by .gitattributes

    pulled = _last_json(run_client(COMMON + """
assert not os.listdir(os.environ["HF_HOME"]), "HF_HOME must start empty"
from huggingface_hub import ModelCard
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer
from hf_ckb import CKBModel, InterfaceModel
from hf_ckb import Bundle
bundle = Bundle.from_pretrained("tester/bundle")
ckb = CKBModel.from_pretrained("tester/bundle")
auto = AutoModel.from_pretrained("tester/bundle")
host = AutoModelForSequenceClassification.from_pretrained("tester/bundle", subfolder="hosts/rnn").eval()
tokenizer = AutoTokenizer.from_pretrained("tester/bundle", subfolder="hosts/rnn")
single = InterfaceModel.from_pretrained(host, ckb, "tester/bundle", subfolder="interfaces/rnn")
recorded = single.interface_configs["default"].ckb_revision
# One interface alone, pushed from a CKB that came from the Hub: it records that CKB's commit.
single.push_to_hub("tester/interface-only", subfolder="rnn")
fresh_host = AutoModelForSequenceClassification.from_pretrained("tester/bundle", subfolder="hosts/rnn").eval()
again = InterfaceModel.from_pretrained(fresh_host, ckb, "tester/interface-only", subfolder="rnn", revision="main")
partial = Bundle.from_pretrained("tester/bundle", interfaces=["cnn"],
                                 cache_dir=os.path.join(os.environ["HF_HOME"], "p"))
walk = sorted(os.path.relpath(os.path.join(root, f), partial.path).replace(os.sep, "/")
              for root, _, files in os.walk(partial.path) for f in files)
exported = AutoModelForSequenceClassification.from_pretrained("tester/exported-rnn").eval()
card, exported_card = ModelCard.load("tester/bundle"), ModelCard.load("tester/exported-rnn")
emit({"bundle": outputs(bundle), "by_load_bundle": outputs(Bundle.from_pretrained("tester/bundle")),
      "revision": bundle.revision, "ckb_commit": ckb.config._commit_hash, "auto": type(auto).__name__,
      "auto_ckb": [digest(auto.low_level), digest(auto.high_level)],
      "ckb": [digest(ckb.low_level), digest(ckb.high_level)],
      "single": digest(logits(single, tokenizer, "interface")),
      "recorded": recorded,
      "again": digest(logits(again, tokenizer, "interface")),
      "again_recorded": again.interface_configs["default"].ckb_revision,
      "partial": sorted(partial.interfaces), "partial_files": walk,
      "exported_alone": digest(logits(exported, tokenizer)),
      "card": card.data.to_dict(), "card_text": card.text, "exported_card": exported_card.data.to_dict(),
      "exported_text": exported_card.text})
""", hub_env_factory()))

    # Bit-identical: the CKB, every interface (CKB-backed logits), every host and the exported network.
    assert pulled["bundle"] == pulled["by_load_bundle"] == pushed["outputs"]
    assert pulled["ckb"] == pulled["auto_ckb"] == pushed["outputs"]["ckb"] and pulled["auto"] == "CKBModel"
    assert pulled["single"] == pushed["outputs"]["interface/rnn"]
    assert pulled["exported_alone"] == pushed["outputs"]["exported/rnn"]
    assert pulled["revision"] == pulled["ckb_commit"] == pushed["oid"]
    assert pulled["recorded"] == ckb_sha
    assert pulled["again"] == pushed["outputs"]["interface/rnn"] and pulled["again_recorded"] == pushed["oid"]
    assert set(hub_backend.file_entries("tester/interface-only")) == {
        ".gitattributes", "rnn/interface_config.json", "rnn/interface_model.safetensors"}
    # Network by network: only the CKB, the root files and that network's interface and host were downloaded.
    assert pulled["partial"] == ["cnn"]
    assert not [f for f in pulled["partial_files"] if "rnn" in f or f.startswith("exported/")]
    assert {"config.json", "model.safetensors", "interfaces/cnn/interface_model.safetensors",
            "hosts/cnn/model.safetensors"} <= set(pulled["partial_files"])

    # The card that came back: metadata and the real figures.
    meta = pulled["card"]
    assert meta["library_name"] == "hf_ckb"
    assert {"continuous-knowledge-base", "hf_ckb"} <= set(meta["tags"])
    assert meta["base_model"] == ["tester/rnn-teacher"] and meta["datasets"] == ["rotten_tomatoes"]
    assert set(meta["metrics"]) == {"accuracy", "cosine_similarity"}
    values = {m["name"]: m["value"] for r in meta["model-index"][0]["results"] for m in r["metrics"]}
    assert values["rnn: CKB-backed accuracy"] == 0.7011 and values["cnn: fidelity (cosine)"] == 0.8123
    text = pulled["card_text"]
    for figure in ("| 3 | 4 | 5 | 16 | 272 |", "0.9312", "0.2875", "70.1%", "72.8%", "65.4%", "69.9%",
                   "tester/rnn-teacher", "v1.0", "`gru`", "recurrent", "`convs`", "window",
                   "RNNForSequenceClassification (ckb_rnn)",
                   "- steps: 600", "- loss: nmse", 'CKBModel.from_pretrained("tester/bundle")',
                   'Bundle.from_pretrained("tester/bundle")', pushed["outputs"]["fingerprint"]):
        assert figure in text, figure
    assert "tester/bundle" in pulled["exported_card"]["base_model"]
    assert pulled["exported_card"]["pipeline_tag"] == "text-classification"
    for figure in ("[tester/bundle]", "| source interface | rnn |", "0.9044", "69.9%", "tester/rnn-teacher",
                   'from_pretrained("tester/exported-rnn")'):
        assert figure in pulled["exported_text"], figure


def test_revisions_and_a_large_ckb_through_lfs(hub_backend, hub_env_factory, run_client):
    pushed = _last_json(run_client(COMMON + """
from huggingface_hub import hf_hub_download
from hf_ckb import CKBConfig, CKBModel
torch.manual_seed(0)
big = CKBModel(CKBConfig(num_low_level=40, low_level_size=40, high_level_size=20, hidden_size=2048))  # 13.3 MB
c1 = big.push_to_hub("tester/revs").oid
small = CKBModel(CKBConfig(num_low_level=2, low_level_size=3, high_level_size=4, hidden_size=8))
c2 = small.push_to_hub("tester/revs", revision="v2", commit_message="v2: a smaller CKB").oid
emit({"c1": c1, "c2": c2, "v1": big.fingerprint(), "v2": small.fingerprint(),
      "card": open(hf_hub_download("tester/revs", "README.md")).read(),
      "card_v2": open(hf_hub_download("tester/revs", "README.md", revision="v2")).read()})
""", hub_env_factory()))

    entry = hub_backend.file_entries("tester/revs")["model.safetensors"]
    assert entry.size > 10 * 1024 * 1024 and entry.lfs is not None
    assert ("lfs_upload", entry.lfs, entry.size) in hub_backend.events
    assert hub_backend.file_entries("tester/revs", pushed["c2"])["model.safetensors"].lfs != entry.lfs
    # transformers' push_to_hub would have written its generic card; ours landed.
    assert "library_name: hf_ckb" in pushed["card"] and "| 40 | 40 | 20 | 2048 | 3,317,760 |" in pushed["card"]
    assert 'CKBModel.from_pretrained("tester/revs")' in pushed["card"]
    assert "| 2 | 3 | 4 | 8 | 80 |" in pushed["card_v2"]  # an unedited CKB card follows the CKB

    pulled = _last_json(run_client(COMMON + f"""
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
from transformers import AutoModel
from hf_ckb import CKBModel, InterfaceModel
from hf_ckb import Bundle
from hf_ckb.networks import RNNConfig, RNNForSequenceClassification
got = {{}}
for rev in (None, "main", "v2", {pushed["c1"]!r}, {pushed["c2"]!r}):
    ckb = CKBModel.from_pretrained("tester/revs", revision=rev)
    got[str(rev)] = [ckb.fingerprint(), ckb.config._commit_hash]
got["auto_v2"] = AutoModel.from_pretrained("tester/revs", revision="v2").fingerprint()
errors = {{}}
def expect(name, call, kind):
    try:
        call()
        errors[name] = "no error"
    except kind as err:
        errors[name] = str(err)
    except Exception as err:
        errors[name] = "wrong type " + type(err).__name__ + ": " + str(err)
host = RNNForSequenceClassification(RNNConfig(vocab_size=50, embedding_size=8, hidden_size=8))
expect("repo", lambda: Bundle.from_pretrained("tester/no-such-repo"), RepositoryNotFoundError)
expect("revision", lambda: Bundle.from_pretrained("tester/revs", revision="nope"), RevisionNotFoundError)
expect("interface", lambda: InterfaceModel.from_pretrained(host, ckb, "tester/revs", subfolder="interfaces/rnn"),
       FileNotFoundError)
expect("interface_by_name", lambda: Bundle.from_pretrained("tester/revs", interfaces=["rnn"]), FileNotFoundError)
emit({{"got": got, "errors": errors}})
""", hub_env_factory()))

    got, v1, v2 = pulled["got"], [pushed["v1"], pushed["c1"]], [pushed["v2"], pushed["c2"]]
    assert got == {"None": v1, "main": v1, "v2": v2, pushed["c1"]: v1, pushed["c2"]: v2, "auto_v2": pushed["v2"]}
    errors = pulled["errors"]
    assert "tester/no-such-repo" in errors["repo"] and "Repository Not Found" in errors["repo"]
    assert "nope" in errors["revision"]
    assert "tester/revs (revision main) has no interface in 'interfaces/rnn'" in errors["interface"]
    assert "interfaces there: none" in errors["interface"]
    assert "has no interface 'rnn'; its interfaces: none" in errors["interface_by_name"]


def test_stale_pairing_is_caught_and_can_be_overridden(hub_backend, hub_env_factory, run_client, bundle_dir):
    with open(f"{bundle_dir}/README.md", "a") as f:  # a user's edit: the push keeps it
        f.write("\nMy own notes about this CKB.\n")
    pushed = _last_json(run_client(COMMON + f"""
from hf_ckb import CKBModel
from hf_ckb.hub import push_bundle
bundle_commit = push_bundle({bundle_dir!r}, "tester/stale").oid
ckb = CKBModel.from_pretrained({bundle_dir!r})
with torch.no_grad():
    ckb.low_level.add_(0.01)  # "retrained"
retrained = ckb.push_to_hub("tester/stale", commit_message="retrained CKB, interfaces not updated").oid
recorded = json.load(open(os.path.join({bundle_dir!r}, "interfaces", "rnn", "interface_config.json")))
emit({{"bundle_commit": bundle_commit, "retrained": retrained, "ckb_revision": recorded["ckb_revision"],
       "new_fingerprint": ckb.fingerprint()}})
""", hub_env_factory()))
    assert _commits(hub_backend, "tester/stale")[-1] == (pushed["retrained"], {"config.json": "regular",
                                                                                "model.safetensors": "lfs"})

    pulled = _last_json(run_client(COMMON + f"BUNDLE_COMMIT = {pushed['bundle_commit']!r}\n" + """
from huggingface_hub import hf_hub_download
from hf_ckb import CKBMismatchError, CKBModel, InterfaceModel
from hf_ckb import Bundle
from hf_ckb.networks import RNNForSequenceClassification
out = {}
for name, kwargs in (("bundle", {}), ("one", {"interfaces": ["rnn"]})):
    try:
        Bundle.from_pretrained("tester/stale", **kwargs)
        out[name] = "loaded"
    except CKBMismatchError as err:
        out[name] = str(err)
ckb = CKBModel.from_pretrained("tester/stale")
host = RNNForSequenceClassification.from_pretrained("tester/stale", subfolder="hosts/rnn").eval()
try:
    InterfaceModel.from_pretrained(host, ckb, "tester/stale", subfolder="interfaces/rnn")
    out["single"] = "loaded"
except CKBMismatchError as err:
    out["single"] = str(err)
forced = Bundle.from_pretrained("tester/stale", interfaces=["rnn"], allow_ckb_mismatch=True)
out["forced"] = [sorted(forced.interfaces), forced.ckb.fingerprint()]
rnn_config = forced.interfaces["rnn"].interface_configs["default"]
out["recorded"] = rnn_config.ckb_revision
pinned = CKBModel.from_pretrained("tester/stale", revision=rnn_config.ckb_revision)
out["pinned"] = type(InterfaceModel.from_pretrained(
    RNNForSequenceClassification.from_pretrained("tester/stale", subfolder="hosts/rnn"), pinned, "tester/stale",
    subfolder="interfaces/rnn")).__name__
out["old_bundle"] = sorted(Bundle.from_pretrained("tester/stale", revision=BUNDLE_COMMIT).interfaces)
out["card"] = open(hf_hub_download("tester/stale", "README.md")).read()
emit(out)
""", hub_env_factory()))

    for case in ("bundle", "one", "single"):
        assert "was trained with CKB" in pulled[case] and f"revision {pushed['ckb_revision']}" in pulled[case], case
        assert "allow_ckb_mismatch=True" in pulled[case]
    assert pulled["forced"] == [["rnn"], pushed["new_fingerprint"]]
    assert pulled["recorded"] == pushed["ckb_revision"]
    assert pulled["pinned"] == "InterfaceModel"
    assert pulled["old_bundle"] == ["cnn", "rnn"]  # the bundle's own commit still pairs
    assert pulled["card"].rstrip().endswith("My own notes about this CKB.")  # neither push replaced the edited card


def test_cli_push_and_pull_round_trip(hub_backend, hub_env_factory, run_client, bundle_dir, tmp_path):
    out1, out2, out3 = (str(tmp_path / name) for name in ("pulled", "pulled-rnn", "nothing"))
    (tmp_path / "bundle" / "README.md").unlink()  # a bundle without a card gets one when pushed
    reviews = tmp_path / "reviews"
    reviews.mkdir()
    (reviews / "test.csv").write_text("text,label\n" + "".join(f"{s},{int('good' in s)}\n" for s in SENTENCES))
    result = _last_json(run_client(COMMON + f"""
import contextlib, io
from hf_ckb import Bundle
from hf_ckb.cli import main

def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return [status, out.getvalue(), err.getvalue()]

res = {{"inspect": cli("inspect", {bundle_dir!r}, "--dataset", {str(reviews)!r}),
       "push": cli("push", {bundle_dir!r}, "tester/cli", "--commit-message", "first bundle"),
        "push_v2": cli("push", {bundle_dir!r}, "tester/cli", "--revision", "v2", "--private"),
        "pull": cli("pull", "tester/cli", "--output-dir", {out1!r}),
        "pull_rnn": cli("pull", "tester/cli", "--revision", "v2", "--interface", "rnn", "--output-dir", {out2!r}),
        "no_repo": cli("pull", "tester/no-such-repo", "--output-dir", {out3!r}),
        "no_revision": cli("pull", "tester/cli", "--revision", "nope", "--output-dir", {out3!r}),
        "no_interface": cli("pull", "tester/cli", "--interface", "nope", "--output-dir", {out3!r}),
        "no_bundle": cli("push", {out3!r} + "-missing", "tester/cli")}}
res["outputs"] = [outputs(Bundle.from_pretrained({bundle_dir!r})), outputs(Bundle.from_pretrained({out1!r}))]
res["rnn_only"] = sorted(Bundle.from_pretrained({out2!r}).interfaces)
res["pulled_inspect"] = sorted(os.listdir(os.path.join({out1!r}, "inspect")))
emit(res)
""", hub_env_factory()))

    for name in ("inspect", "push", "push_v2", "pull", "pull_rnn"):
        assert result[name][0] == 0, result[name]
    assert "Pushed" in result["push"][1] and "tester/cli" in result["push"][1]
    assert "interfaces cnn, rnn; exported networks rnn" in result["pull"][1]
    assert result["outputs"][0] == result["outputs"][1]  # pulled folder == pushed bundle, bit for bit
    assert result["rnn_only"] == ["rnn"]
    repo = hub_backend.repos[("model", "tester/cli")]
    card = hub_backend.blob_path(hub_backend.file_entries("tester/cli")["README.md"]).read_text()
    assert 'Bundle.from_pretrained("tester/cli")' in card and "| rnn | 0.9312 | 0.2875 | 70.1% | 72.8% |" in card
    # the knowledge-accounting report travels with the bundle, and the card shows it
    assert {"inspect/inspect.json", "inspect/knockout.png", "inspect/reads.png"} <= set(
        hub_backend.file_entries("tester/cli"))
    assert result["pulled_inspect"] == ["inspect.json", "knockout.png", "reads.png"]
    assert "## What is in the store" in card and "![Knockout](inspect/knockout.png)" in card
    assert repo.commits[repo.branches["main"]].title == "first bundle"
    # The bundle did not change between the two pushes: the v2 branch got no new commit.
    assert repo.branches["v2"] == repo.branches["main"]
    for name, words in (("no_repo", "repository 'tester/no-such-repo' not found"),
                        ("no_revision", "revision 'nope' not found in 'tester/cli'"),
                        ("no_interface", "has no interface 'nope'; its interfaces: ['cnn', 'rnn']"),
                        ("no_bundle", "is not a folder")):
        status, _, err = result[name]
        assert status == 2 and err.startswith("hf-ckb: error: ") and words in err, (name, err)
        assert len(err.strip().splitlines()) == 1, err


def test_bundle_push_to_hub_of_a_loaded_and_of_a_never_saved_bundle(hub_backend, hub_env_factory, run_client,
                                                                    bundle_dir):
    pushed = _last_json(run_client(COMMON + f"""
import shutil, tempfile
from hf_ckb import Bundle
loaded = Bundle.from_pretrained({bundle_dir!r})
loaded.push_to_hub("tester/from-folder")            # pushes the folder it was loaded from
fresh = Bundle(loaded.ckb, dict(loaded.interfaces), exported=dict(loaded.exported), tokenizers=loaded.tokenizers)
fresh.push_to_hub("tester/in-memory")               # never saved: written to a temporary folder first
emit({{"outputs": outputs(loaded), "path_after": fresh.path}})
""", hub_env_factory()))
    assert pushed["path_after"] is None  # the temporary folder is not remembered as the bundle's home
    for repo in ("tester/from-folder", "tester/in-memory"):
        pulled = _last_json(run_client(COMMON + f"""
from hf_ckb import Bundle
emit(outputs(Bundle.from_pretrained({repo!r})))
""", hub_env_factory()))
        assert pulled == pushed["outputs"], repo
