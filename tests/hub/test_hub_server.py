"""The loopback Hub server driven by the real huggingface_hub / transformers clients, in subprocesses."""

from __future__ import annotations

import hashlib
import http.client
import json
import random
from urllib.parse import urlsplit


def _last_json(proc) -> dict:
    """The client scripts print one JSON object as their last stdout line."""
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_push_then_pull_in_a_fresh_cache(hub_backend, hub_env_factory, run_client, tmp_path):
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden": 16, "name": "roundtrip"}))
    big = random.Random(0).randbytes(11 * 1024 * 1024)  # > 10 MB and not matched by .gitattributes => LFS by size
    (folder / "weights.dat").write_bytes(big)

    push = run_client(
        f"""
import json
from huggingface_hub import HfApi
api = HfApi()
url = api.create_repo("tester/roundtrip")
again = api.create_repo("tester/roundtrip", exist_ok=True)
info = api.upload_folder(folder_path={str(folder)!r}, repo_id="tester/roundtrip", commit_message="add files")
print(json.dumps({{"url": str(url), "again": str(again), "repo_id": url.repo_id, "oid": info.oid}}))
""",
        hub_env_factory(),
    )
    pushed = _last_json(push)
    assert pushed["repo_id"] == "tester/roundtrip"
    assert pushed["url"] == pushed["again"] == f"{hub_backend.url}/tester/roundtrip"

    # The server's record: the big file came through the LFS batch + PUT, the json as a regular file.
    big_sha = hashlib.sha256(big).hexdigest()
    assert ("lfs_upload", big_sha, len(big)) in hub_backend.events
    commit_event = [e for e in hub_backend.events if e[0] == "commit" and e[2] == "tester/roundtrip"][-1]
    assert commit_event[3] == pushed["oid"]
    assert commit_event[4] == {"config.json": "regular", "weights.dat": "lfs"}
    entries = hub_backend.file_entries("tester/roundtrip")
    assert entries["weights.dat"].lfs == big_sha and entries["config.json"].lfs is None

    pull = run_client(
        """
import json, os
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
api = HfApi()
assert not os.listdir(os.environ["HF_HOME"]), "HF_HOME must start empty"
snap = snapshot_download("tester/roundtrip")
single = {f: hf_hub_download("tester/roundtrip", f, cache_dir=os.path.join(os.environ["HF_HOME"], "other"))
          for f in ("config.json", "weights.dat")}
print(json.dumps({"snap": snap, "single": single, "files": api.list_repo_files("tester/roundtrip"),
                  "sha": api.model_info("tester/roundtrip").sha}))
""",
        hub_env_factory(),
    )
    pulled = _last_json(pull)
    assert pulled["sha"] == pushed["oid"]
    assert sorted(pulled["files"]) == [".gitattributes", "config.json", "weights.dat"]
    assert pulled["snap"].endswith(pushed["oid"])
    for name in ("config.json", "weights.dat"):
        original = (folder / name).read_bytes()
        assert open(f"{pulled['snap']}/{name}", "rb").read() == original
        assert open(pulled["single"][name], "rb").read() == original


def test_branches_and_commit_revisions(hub_env_factory, run_client):
    push = run_client(
        """
import json
from huggingface_hub import HfApi
api = HfApi()
api.create_repo("tester/revs")
c1 = api.upload_file(path_or_fileobj=b"version one", path_in_repo="data.txt", repo_id="tester/revs").oid
api.create_branch("tester/revs", branch="v2")
c2 = api.upload_file(path_or_fileobj=b"version two", path_in_repo="data.txt", repo_id="tester/revs", revision="v2").oid
refs = api.list_repo_refs("tester/revs")
print(json.dumps({"c1": c1, "c2": c2, "branches": {b.name: b.target_commit for b in refs.branches}}))
""",
        hub_env_factory(),
    )
    shas = _last_json(push)
    assert shas["branches"] == {"main": shas["c1"], "v2": shas["c2"]}

    pull = run_client(
        f"""
import json
from huggingface_hub import HfApi, hf_hub_download
read = lambda rev: open(hf_hub_download("tester/revs", "data.txt", revision=rev), "rb").read().decode()
print(json.dumps({{"main": read(None), "v2": read("v2"), "c1": read({shas["c1"]!r}), "c2": read({shas["c2"]!r}),
                  "sha_v2": HfApi().model_info("tester/revs", revision="v2").sha}}))
""",
        hub_env_factory(),
    )
    got = _last_json(pull)
    assert got == {"main": "version one", "v2": "version two", "c1": "version one", "c2": "version two",
                   "sha_v2": shas["c2"]}


def test_errors_map_to_client_exceptions(hub_env, run_client):
    proc = run_client(
        """
import json
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
api = HfApi()
api.create_repo("tester/errors")
api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id="tester/errors")
cases = {
    "repo_download": (lambda: hf_hub_download("tester/no-such-repo", "config.json"), RepositoryNotFoundError),
    "repo_info": (lambda: api.model_info("tester/no-such-repo"), RepositoryNotFoundError),
    "repo_snapshot": (lambda: snapshot_download("tester/no-such-repo"), RepositoryNotFoundError),
    "file": (lambda: hf_hub_download("tester/errors", "missing.bin"), EntryNotFoundError),
    "revision_download": (lambda: hf_hub_download("tester/errors", "config.json", revision="nope"),
                          RevisionNotFoundError),
    "revision_info": (lambda: api.model_info("tester/errors", revision="nope"), RevisionNotFoundError),
    "revision_commit": (lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="tester/errors",
                                                revision="nope"), RevisionNotFoundError),
}
out = {}
for name, (call, expected) in cases.items():
    try:
        call()
        out[name] = "no error"
    except Exception as e:
        out[name] = "ok" if isinstance(e, expected) else f"{type(e).__name__}: {e}"
out["exists"] = [api.repo_exists("tester/errors"), api.repo_exists("tester/no-such-repo"),
                 api.file_exists("tester/errors", "config.json"), api.file_exists("tester/errors", "missing.bin")]
print(json.dumps(out))
""",
        hub_env,
    )
    out = _last_json(proc)
    assert out.pop("exists") == [True, False, True, False]
    assert out == {name: "ok" for name in out}, out


def test_transformers_push_to_hub_and_from_pretrained(hub_backend, hub_env_factory, run_client):
    push = run_client(
        """
import json, torch
from transformers import BertConfig, BertModel
torch.manual_seed(0)
config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
model = BertModel(config).eval()
model.push_to_hub("tester/tiny-bert")
with torch.no_grad():
    out = model(input_ids=torch.tensor([[1, 5, 7, 2, 9]])).last_hidden_state
print(json.dumps({"checksum": out.double().sum().item(), "first": out[0, 0, :4].tolist()}))
""",
        hub_env_factory(),
    )
    pull = run_client(
        """
import json, torch
from transformers import AutoModel
model = AutoModel.from_pretrained("tester/tiny-bert").eval()
with torch.no_grad():
    out = model(input_ids=torch.tensor([[1, 5, 7, 2, 9]])).last_hidden_state
print(json.dumps({"checksum": out.double().sum().item(), "first": out[0, 0, :4].tolist(), "cls": type(model).__name__}))
""",
        hub_env_factory(),
    )
    before, after = _last_json(push), _last_json(pull)
    assert after.pop("cls") == "BertModel"
    assert after == before
    entries = hub_backend.file_entries("tester/tiny-bert")
    assert entries["model.safetensors"].lfs is not None  # *.safetensors is LFS by .gitattributes
    assert entries["config.json"].lfs is None
    assert not hub_backend.unknown, hub_backend.unknown


def test_raw_http_ranges_chunked_upload_and_unknown_endpoints(hub_backend, hub_server):
    """Protocol details the client paths above may not exercise, checked with the standard library."""
    repo = hub_backend.create_repo("model", "tester/raw")
    data = bytes(range(256)) * 10
    oid = hashlib.sha256(data).hexdigest()
    host = urlsplit(hub_server)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)

    def request(method, path, body=None, headers=None, chunked=False):
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        resp = conn.getresponse()
        return resp, resp.read()

    auth = {"Authorization": "Bearer hf_dummy"}
    resp, _ = request("PUT", f"/lfs-upload/{oid}", body=iter([data[:1000], data[1000:]]), headers=auth, chunked=True)
    assert resp.status == 200
    resp, _ = request("PUT", f"/lfs-upload/{'0' * 64}", body=b"wrong", headers=auth)
    assert resp.status == 400
    line = {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": len(data)}}
    payload = "\n".join(json.dumps(x) for x in ({"key": "header", "value": {"summary": "raw"}}, line)).encode()
    resp, body = request("POST", "/api/models/tester/raw/commit/main", body=payload,
                         headers={**auth, "Content-Type": "application/x-ndjson"})
    assert resp.status == 200 and json.loads(body)["commitOid"] == repo.branches["main"]

    resp, body = request("HEAD", "/tester/raw/resolve/main/w.bin")
    assert resp.status == 200 and body == b""
    assert resp.getheader("X-Linked-Etag") == f'"{oid}"' and resp.getheader("X-Linked-Size") == str(len(data))
    assert resp.getheader("X-Repo-Commit") == repo.branches["main"]
    for rng, expected in (("bytes=5-9", data[5:10]), ("bytes=2550-", data[2550:]), ("bytes=-3", data[-3:])):
        resp, body = request("GET", "/tester/raw/resolve/main/w.bin", headers={"Range": rng})
        assert resp.status == 206 and body == expected, rng
    resp, _ = request("GET", "/tester/raw/resolve/main/w.bin", headers={"Range": "bytes=99999-"})
    assert resp.status == 416
    resp, _ = request("GET", "/tester/raw/resolve/main/nope.txt")
    assert resp.status == 404 and resp.getheader("X-Error-Code") == "EntryNotFound"

    resp, body = request("GET", "/api/models/tester/raw/tree/main?recursive=true")
    assert {e["path"] for e in json.loads(body)} == {".gitattributes", "w.bin"}
    resp, body = request("GET", "/api/spaceships/whatever")
    assert resp.status == 404 and "error" in json.loads(body)
    assert ("GET", "/api/spaceships/whatever") in hub_backend.unknown
    hub_backend.unknown.remove(("GET", "/api/spaceships/whatever"))
    conn.close()


def test_dataset_repo_pull_request_and_tag(hub_backend, hub_env, run_client):
    proc = run_client(
        """
import json
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
api = HfApi()
url = api.create_repo("tester/ds", repo_type="dataset")
api.upload_file(path_or_fileobj=b"a,b\\n1,2\\n", path_in_repo="data/train.csv", repo_id="tester/ds",
                repo_type="dataset")
pr = api.upload_file(path_or_fileobj=b"a,b\\n3,4\\n", path_in_repo="data/train.csv", repo_id="tester/ds",
                     repo_type="dataset", create_pr=True)
api.create_tag("tester/ds", tag="v1.0", repo_type="dataset")
snap = snapshot_download("tester/ds", repo_type="dataset", revision="v1.0")
read = lambda rev: open(hf_hub_download("tester/ds", "data/train.csv", repo_type="dataset", revision=rev)).read()
tree = [f.path for f in api.list_repo_tree("tester/ds", repo_type="dataset")]
print(json.dumps({"url": str(url), "pr": pr.pr_revision, "main": read(None), "pr_file": read(pr.pr_revision),
                  "tag": open(snap + "/data/train.csv").read(), "tree": tree}))
""",
        hub_env,
    )
    out = _last_json(proc)
    assert out["url"] == f"{hub_backend.url}/datasets/tester/ds"
    assert out["pr"] == "refs/pr/1"
    assert out["main"] == out["tag"] == "a,b\n1,2\n" and out["pr_file"] == "a,b\n3,4\n"
    assert sorted(out["tree"]) == [".gitattributes", "data"]  # non-recursive listing shows the folder
