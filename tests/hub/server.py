"""A loopback server speaking the subset of the Hugging Face Hub HTTP protocol used by push and pull.

Standard library only. It is driven by the *real* ``huggingface_hub`` client (no mocks): point ``HF_ENDPOINT`` at
``HubServer(...).start()`` and set ``HF_HUB_DISABLE_XET=1`` (see DESIGN.md section 5). Each endpoint below mirrors
what ``huggingface_hub`` 2.x sends and parses (``hf_api.py``, ``_commit_api.py``, ``lfs.py``, ``file_download.py``).

Storage: repo metadata (commits as full snapshots, branches, tags) lives in memory; file contents live on disk under
``root_dir/objects`` (regular blobs keyed by git sha1, LFS objects keyed by sha256). Nothing survives a restart.

Manual use: ``python -m tests.hub.server --port 8000 --root /tmp/hub``.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

USER = "tester"
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # files above this go through LFS, like on the Hub
MAX_BODY = 4 * 1024**3  # refuse request bodies above 4 GiB
CHUNK = 1024 * 1024
REPO_TYPES = ("model", "dataset", "space")
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
SHA1_RE = re.compile(r"[0-9a-f]{40}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
# Words that follow a repo id in /api/{type}s/{id}/... (used to tell "name" from "namespace/name").
API_ACTIONS = {"revision", "tree", "preupload", "commit", "branch", "tag", "refs", "commits", "paths-info"}

LFS_PATTERNS = (
    "*.7z *.arrow *.bin *.bz2 *.ckpt *.ftz *.gz *.h5 *.joblib *.lfs.* *.mlmodel *.model *.msgpack *.npy *.npz *.onnx "
    "*.ot *.parquet *.pb *.pickle *.pkl *.pt *.pth *.rar *.safetensors saved_model/**/* *.tar.* *.tar *.tflite *.tgz "
    "*.wasm *.xz *.zip *.zst *tfevents*"
).split()
DEFAULT_GITATTRIBUTES = "".join(f"{p} filter=lfs diff=lfs merge=lfs -text\n" for p in LFS_PATTERNS).encode()


class HubError(Exception):
    """Raised by handlers; turned into a JSON error response with an optional X-Error-Code header."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".000Z"


@dataclass(frozen=True)
class Entry:
    """One file of a commit: ``oid`` is the git blob sha1 (of the pointer for LFS files), ``lfs`` the sha256."""

    oid: str
    size: int
    lfs: str | None = None

    def tree_json(self, path: str) -> dict:
        out = {"type": "file", "oid": self.oid, "size": self.size, "path": path}
        if self.lfs:
            out["lfs"] = {"oid": self.lfs, "size": self.size, "pointerSize": len(lfs_pointer(self.lfs, self.size))}
        return out


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    date: float
    files: dict[str, Entry]


@dataclass
class Repo:
    type: str
    id: str
    private: bool
    created: float
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name (or "refs/pr/N") -> commit sha
    tags: dict[str, str] = field(default_factory=dict)
    n_prs: int = 0

    def resolve(self, rev: str) -> Commit:
        for name in (rev, rev.removeprefix("refs/heads/"), rev.removeprefix("refs/tags/")):
            if name in self.branches:
                return self.commits[self.branches[name]]
            if name in self.tags:
                return self.commits[self.tags[name]]
        if rev in self.commits:
            return self.commits[rev]
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")


class HubServer:
    """In-process Hub. ``start()`` returns the base url; ``stop()`` shuts it down. Also a context manager.

    For tests: ``events`` records what happened (``("lfs_upload", oid, size)``, ``("commit", repo_type, repo_id,
    sha, {path: "regular" | "lfs"})``), ``requests`` every ``(method, path)`` served, ``unknown`` the requests that
    matched no endpoint; ``file_entries(repo_id, revision, repo_type)`` gives ``{path: Entry}``.
    """

    def __init__(self, root_dir: str | os.PathLike | None = None, host: str = "127.0.0.1", port: int = 0):
        if root_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hubserver-")
            root_dir = self._tmp.name
        self.root = Path(root_dir)
        (self.root / "objects" / "git").mkdir(parents=True, exist_ok=True)
        (self.root / "objects" / "lfs").mkdir(parents=True, exist_ok=True)
        self.host, self.port = host, port
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lock = threading.RLock()
        self.events: list[tuple] = []
        self.requests: list[tuple[str, str]] = []
        self.unknown: list[tuple[str, str]] = []
        self._counter = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url: str | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> str:
        handler = type("BoundHubHandler", (HubHandler,), {"hub": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> "HubServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---------------------------------------------------------------- storage
    def _git_path(self, oid: str) -> Path:
        return self.root / "objects" / "git" / oid

    def lfs_path(self, oid: str) -> Path:
        return self.root / "objects" / "lfs" / oid

    def blob_path(self, entry: Entry) -> Path:
        return self.lfs_path(entry.lfs) if entry.lfs else self._git_path(entry.oid)

    def store_regular(self, data: bytes) -> Entry:
        oid = git_blob_sha1(data)
        path = self._git_path(oid)
        if not path.exists():
            tmp = path.with_suffix(f".tmp{threading.get_ident()}")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return Entry(oid=oid, size=len(data))

    def repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository not found: {repo_type} {repo_id}", "RepoNotFound")
        return repo

    def file_entries(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, Entry]:
        with self.lock:
            return dict(self.repo(repo_type, repo_id).resolve(revision).files)

    def new_commit(self, repo: Repo, branch: str, files: dict[str, Entry], title: str, message: str = "") -> Commit:
        with self.lock:
            parent = repo.branches.get(branch)
            self._counter += 1
            listing = sorted((p, e.oid) for p, e in files.items())
            material = json.dumps([parent, title, time.time_ns(), self._counter, listing]).encode()
            commit = Commit(hashlib.sha1(material).hexdigest(), parent, title, message, time.time(), dict(files))
            repo.commits[commit.sha] = commit
            repo.branches[branch] = commit.sha
            return commit

    def create_repo(self, repo_type: str, repo_id: str, private: bool = False) -> Repo:
        with self.lock:
            repo = Repo(type=repo_type, id=repo_id, private=private, created=time.time())
            self.repos[(repo_type, repo_id)] = repo
            attrs = self.store_regular(DEFAULT_GITATTRIBUTES)
            self.new_commit(repo, "main", {".gitattributes": attrs}, "initial commit")
            return repo


def _lfs_by_attributes(commit: Commit, path: str, server: HubServer) -> bool:
    entry = commit.files.get(".gitattributes")
    text = server.blob_path(entry).read_text(errors="replace") if entry else ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0].startswith("#") or "filter=lfs" not in parts[1:]:
            continue
        pattern = parts[0].lstrip("/")
        if "/" not in pattern:
            if fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern):
                return True
        elif fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern.replace("**/", "")):
            return True
    return False


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are dropped after this (bounded handlers)
    hub: HubServer  # set by HubServer.start

    def log_message(self, fmt, *args):  # quiet: unknown requests are logged separately
        pass

    # ---------------------------------------------------------------- plumbing
    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _iter_body(self):
        """Yield the request body in chunks (Content-Length or chunked transfer encoding), bounded by MAX_BODY."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            total = 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers
                        pass
                    return
                total += size
                if total > MAX_BODY:
                    raise HubError(413, "Request body too large")
                yield from self._read_exactly(size)
                self.rfile.readline(16)
        else:
            left = int(self.headers.get("Content-Length") or 0)
            if left > MAX_BODY:
                raise HubError(413, "Request body too large")
            yield from self._read_exactly(left)

    def _read_exactly(self, left: int):
        """Yields `left` bytes of the body in chunks; a body that ends early is a 400."""
        while left:
            data = self.rfile.read(min(left, CHUNK))
            if not data:
                raise HubError(400, "Truncated body")
            left -= len(data)
            yield data

    def _dispatch(self, method: str):
        self.body_consumed = False
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        raw_segments = url.path.split("/")[1:]
        self.hub.requests.append((method, url.path))
        try:
            if method not in ("PUT",):
                self.body = b"".join(self._iter_body())
                self.body_consumed = True
            route = self._route(method, raw_segments)
            if route is None:
                self.hub.unknown.append((method, self.path))
                print(f"[hub-server] unknown request: {method} {self.path}", file=sys.stderr, flush=True)
                raise HubError(404, f"Unknown endpoint: {method} {url.path}")
            route()
        except HubError as e:
            if not self.body_consumed:
                self.close_connection = True
            headers = dict(e.headers)
            if e.code:
                headers["X-Error-Code"] = e.code
            headers["X-Error-Message"] = e.message
            self._json(e.status, {"error": e.message}, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # never leave a client hanging on a server bug
            print(f"[hub-server] error on {method} {self.path}: {e!r}", file=sys.stderr, flush=True)
            self.close_connection = True
            self._json(500, {"error": f"internal error: {e!r}"})

    def _send(self, status: int, body: bytes, headers: dict | None = None, content_type: str = "application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None):
        self._send(status, json.dumps(obj).encode(), headers)

    def _payload(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except ValueError:
            raise HubError(400, "Invalid JSON body")

    def _base(self) -> str:
        return f"http://{self.headers.get('Host') or f'{self.hub.host}:{self.hub.port}'}"

    def _repo_url(self, repo: Repo) -> str:
        return f"{self._base()}/{URL_PREFIX[repo.type]}{repo.id}"

    def _require_auth(self):
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            raise HubError(401, "Invalid username or password.")

    # ---------------------------------------------------------------- routing
    def _route(self, method: str, raw: list[str]):
        seg = [unquote(s) for s in raw]
        if seg[:2] == ["api", "whoami-v2"] and method == "GET":
            return self.whoami
        if seg[:3] == ["api", "repos", "create"] and method == "POST":
            return self.create_repo
        if seg[:3] == ["api", "repos", "delete"] and method == "DELETE":
            return self.delete_repo
        if seg[:2] == ["api", "validate-yaml"] and method == "POST":
            return lambda: self._json(200, {"errors": [], "warnings": []})
        if len(seg) >= 3 and seg[0] == "api" and seg[1].endswith("s") and seg[1][:-1] in REPO_TYPES:
            return self._route_api(method, seg[1][:-1], raw[2:])
        if seg[:1] == ["lfs-upload"] and len(seg) == 2 and method == "PUT":
            return lambda: self.lfs_put(seg[1])
        # git / resolve urls: [datasets/|spaces/]{id}.git/info/lfs/objects/{batch,verify}, {id}/resolve/{rev}/{path}
        repo_type = "model"
        if seg and seg[0] in ("datasets", "spaces"):
            repo_type, raw, seg = seg[0][:-1], raw[1:], seg[1:]
        for n in (2, 1):
            if len(seg) > n and seg[n - 1].endswith(".git") and seg[n : n + 3] == ["info", "lfs", "objects"]:
                repo_id = "/".join(seg[:n])[: -len(".git")]
                action = seg[n + 3 : n + 4]
                if method == "POST" and action == ["batch"]:
                    return lambda: self.lfs_batch(repo_type, repo_id)
                if method == "POST" and action == ["verify"]:
                    return lambda: self.lfs_verify(repo_type, repo_id)
            if len(seg) > n + 2 and seg[n] == "resolve" and method in ("GET", "HEAD"):
                repo_id, rev = "/".join(seg[:n]), seg[n + 1]
                path = "/".join(seg[n + 2 :])
                return lambda: self.resolve(repo_type, repo_id, rev, path)
        return None

    def _route_api(self, method: str, repo_type: str, raw: list[str]):
        seg = [unquote(s) for s in raw]
        n = 2 if len(seg) >= 2 and seg[1] not in API_ACTIONS else 1
        repo_id, rest = "/".join(seg[:n]), seg[n:]
        if not rest and method == "GET":
            return lambda: self.repo_info(repo_type, repo_id, None)
        if not rest:
            return None
        action, args = rest[0], rest[1:]
        if action == "revision" and len(args) == 1 and method == "GET":
            return lambda: self.repo_info(repo_type, repo_id, args[0])
        if action == "tree" and args and method == "GET":
            return lambda: self.tree(repo_type, repo_id, args[0], "/".join(args[1:]))
        if action == "paths-info" and len(args) == 1 and method == "POST":
            return lambda: self.paths_info(repo_type, repo_id, args[0])
        if action == "preupload" and len(args) == 1 and method == "POST":
            return lambda: self.preupload(repo_type, repo_id, args[0])
        if action == "commit" and len(args) == 1 and method == "POST":
            return lambda: self.commit(repo_type, repo_id, args[0])
        if action == "branch" and len(args) == 1 and method in ("POST", "DELETE"):
            return lambda: self.branch(method, repo_type, repo_id, args[0])
        if action == "tag" and len(args) == 1 and method in ("POST", "DELETE"):
            return lambda: self.tag(method, repo_type, repo_id, args[0])
        if action == "refs" and not args and method == "GET":
            return lambda: self.refs(repo_type, repo_id)
        if action == "commits" and len(args) == 1 and method == "GET":
            return lambda: self.commits(repo_type, repo_id, args[0])
        return None

    # ---------------------------------------------------------------- account / repos
    def whoami(self):
        self._require_auth()
        self._json(200, {
            "type": "user", "id": "0" * 24, "name": USER, "fullname": "Test User", "email": f"{USER}@example.com",
            "emailVerified": True, "canPay": False, "isPro": False, "periodEnd": None, "avatarUrl": "", "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write",
                                                             "createdAt": iso(0)}},
        })

    def create_repo(self):
        self._require_auth()
        body = self._payload()
        repo_type = body.get("type") or "model"
        if repo_type not in REPO_TYPES or not body.get("name"):
            raise HubError(400, f"Invalid repo type or name: {body}")
        repo_id = f"{body.get('organization') or USER}/{body['name']}"
        private = body.get("visibility", "public") != "public" if "visibility" in body else bool(body.get("private"))
        with self.hub.lock:
            existing = self.hub.repos.get((repo_type, repo_id))
            if existing is not None:
                url = self._repo_url(existing)
                return self._json(409, {"error": f"You already created this {repo_type} repo", "url": url})
            repo = self.hub.create_repo(repo_type, repo_id, private)
        repo_hash = hashlib.sha1(repo_id.encode()).hexdigest()[:24]
        self._json(200, {"url": self._repo_url(repo), "name": repo_id, "id": repo_hash})

    def delete_repo(self):
        self._require_auth()
        body = self._payload()
        repo_id = f"{body.get('organization') or USER}/{body.get('name')}"
        with self.hub.lock:
            self.hub.repo(body.get("type") or "model", repo_id)
            del self.hub.repos[(body.get("type") or "model", repo_id)]
        self._json(200, {})

    def repo_info(self, repo_type: str, repo_id: str, rev: str | None):
        with self.hub.lock:
            repo = self.hub.repo(repo_type, repo_id)
            commit = repo.resolve(rev or "main")
        blobs = self.query.get("blobs", "").lower() in ("1", "true")
        siblings = []
        for path in sorted(commit.files):
            sib = {"rfilename": path}
            if blobs:
                e = commit.files[path]
                sib.update(size=e.size, blobId=e.oid)
                if e.lfs:
                    sib["lfs"] = {"size": e.size, "sha256": e.lfs, "pointerSize": len(lfs_pointer(e.lfs, e.size))}
            siblings.append(sib)
        info = {
            "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24], "id": repo_id, "author": repo_id.split("/")[0],
            "sha": commit.sha, "lastModified": iso(commit.date), "createdAt": iso(repo.created),
            "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
            "siblings": siblings, "usedStorage": sum(e.size for e in commit.files.values()),
        }
        if repo_type == "model":
            info["modelId"] = repo_id
        self._json(200, info)

    # ---------------------------------------------------------------- listing
    def _listing(self, commit: Commit, path: str, recursive: bool) -> list[dict]:
        path = path.strip("/")
        prefix = f"{path}/" if path else ""
        if path and path in commit.files:
            return [commit.files[path].tree_json(path)]
        under = {p: e for p, e in commit.files.items() if p.startswith(prefix)}
        if path and not under:
            raise HubError(404, f"{path} does not exist on {commit.sha}", "EntryNotFound",
                           {"X-Repo-Commit": commit.sha})
        dirs: dict[str, list[str]] = {}
        out_files = []
        for p in sorted(under):
            rel = p[len(prefix):].split("/")
            for depth in range(1, len(rel)):
                d = prefix + "/".join(rel[:depth])
                dirs.setdefault(d, []).append(p)
                if not recursive:
                    break
            if recursive or len(rel) == 1:
                out_files.append(commit.files[p].tree_json(p))
        out_dirs = []
        for d, members in sorted(dirs.items()):
            tree_oid = hashlib.sha1("\n".join(f"{m}:{commit.files[m].oid}" for m in members).encode()).hexdigest()
            out_dirs.append({"type": "directory", "oid": tree_oid, "size": 0, "path": d})
        return out_dirs + out_files

    def tree(self, repo_type: str, repo_id: str, rev: str, path: str):
        with self.hub.lock:
            commit = self.hub.repo(repo_type, repo_id).resolve(rev)
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        self._json(200, self._listing(commit, path, recursive))

    def paths_info(self, repo_type: str, repo_id: str, rev: str):
        with self.hub.lock:
            commit = self.hub.repo(repo_type, repo_id).resolve(rev)
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            paths = self._payload().get("paths", [])
        else:
            paths = parse_qs(self.body.decode()).get("paths", [])
        out = []
        for p in paths:
            p = p.strip("/")
            if p in commit.files:
                out.append(commit.files[p].tree_json(p))
            elif any(f.startswith(p + "/") for f in commit.files):
                out.append({"type": "directory", "oid": hashlib.sha1(p.encode()).hexdigest(), "size": 0, "path": p})
        self._json(200, out)

    def refs(self, repo_type: str, repo_id: str):
        with self.hub.lock:
            repo = self.hub.repo(repo_type, repo_id)
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s}
                        for b, s in repo.branches.items() if not b.startswith("refs/")]
            prs = [{"name": b, "ref": b, "targetCommit": s}
                   for b, s in repo.branches.items() if b.startswith("refs/pr/")]
            tags = [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": s} for t, s in repo.tags.items()]
        out = {"branches": branches, "tags": tags, "converts": []}
        if self.query.get("include_prs"):
            out["pullRequests"] = prs
        self._json(200, out)

    def commits(self, repo_type: str, repo_id: str, rev: str):
        with self.hub.lock:
            repo = self.hub.repo(repo_type, repo_id)
            commit, out = repo.resolve(rev), []
            while commit is not None and len(out) < len(repo.commits):
                out.append({"id": commit.sha, "title": commit.title, "message": commit.message,
                            "authors": [{"user": USER}], "date": iso(commit.date)})
                commit = repo.commits.get(commit.parent) if commit.parent else None
        self._json(200, out)

    # ---------------------------------------------------------------- refs
    def branch(self, method: str, repo_type: str, repo_id: str, name: str):
        self._require_auth()
        with self.hub.lock:
            repo = self.hub.repo(repo_type, repo_id)
            if method == "DELETE":
                if name not in repo.branches or name == "main":
                    raise HubError(404, f"Branch {name} not found", "RevisionNotFound")
                del repo.branches[name]
                return self._json(200, {})
            if name in repo.branches:
                raise HubError(409, f"Branch {name} already exists")
            body = self._payload()
            if body.get("emptyBranch"):
                raise HubError(400, "emptyBranch is not supported by the test server")
            repo.branches[name] = repo.resolve(body.get("startingPoint") or "main").sha
        self._json(200, {})

    def tag(self, method: str, repo_type: str, repo_id: str, arg: str):
        self._require_auth()
        with self.hub.lock:
            repo = self.hub.repo(repo_type, repo_id)
            if method == "DELETE":
                if repo.tags.pop(arg, None) is None:
                    raise HubError(404, f"Tag {arg} not found", "RevisionNotFound")
                return self._json(200, {})
            tag = self._payload().get("tag")
            if not tag:
                raise HubError(400, "Missing tag")
            if tag in repo.tags:
                raise HubError(409, f"Tag {tag} already exists")
            repo.tags[tag] = repo.resolve(arg).sha
        self._json(200, {})

    # ---------------------------------------------------------------- upload
    def preupload(self, repo_type: str, repo_id: str, rev: str):
        self._require_auth()
        with self.hub.lock:
            repo = self.hub.repo(repo_type, repo_id)
            commit = repo.resolve(rev)
        out = []
        for f in self._payload().get("files", []):
            path, size = f["path"], int(f.get("size", 0))
            sample = base64.b64decode(f.get("sample", ""))
            lfs = size > LFS_SIZE_THRESHOLD or b"\0" in sample or _lfs_by_attributes(commit, path, self.hub)
            existing = commit.files.get(path)
            oid = None if existing is None else (existing.lfs or existing.oid)
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self._json(200, {"files": out, "commitOid": commit.sha})

    def lfs_batch(self, repo_type: str, repo_id: str):
        self._require_auth()
        with self.hub.lock:
            self.hub.repo(repo_type, repo_id)
        body = self._payload()
        if body.get("operation") != "upload":
            raise HubError(400, "Only the upload operation is supported")
        base = self._base()
        objects = []
        for obj in body.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            if not SHA256_RE.fullmatch(oid):
                objects.append({"oid": oid, "size": size, "error": {"code": 422, "message": "Invalid oid"}})
                continue
            item = {"oid": oid, "size": size, "authenticated": True}
            path = self.hub.lfs_path(oid)
            if not (path.exists() and path.stat().st_size == size):  # no "actions": already uploaded
                item["actions"] = {
                    "upload": {"href": f"{base}/lfs-upload/{oid}", "header": {}},
                    "verify": {"href": f"{base}/{URL_PREFIX[repo_type]}{repo_id}.git/info/lfs/objects/verify",
                               "header": {}},
                }
            objects.append(item)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   content_type="application/vnd.git-lfs+json")

    def lfs_put(self, oid: str):
        if not SHA256_RE.fullmatch(oid):
            raise HubError(400, "Invalid oid")
        h, size = hashlib.sha256(), 0
        tmp = self.hub.lfs_path(oid).with_suffix(f".incoming{threading.get_ident()}")
        try:
            with open(tmp, "wb") as f:
                for data in self._iter_body():
                    h.update(data)
                    size += len(data)
                    f.write(data)
            self.body_consumed = True
            if h.hexdigest() != oid:
                raise HubError(400, f"sha256 mismatch: expected {oid}, got {h.hexdigest()}")
            os.replace(tmp, self.hub.lfs_path(oid))
        finally:
            tmp.unlink(missing_ok=True)
        with self.hub.lock:
            self.hub.events.append(("lfs_upload", oid, size))
        self._send(200, b"", {"ETag": f'"{oid}"'})

    def lfs_verify(self, repo_type: str, repo_id: str):
        body = self._payload()
        path = self.hub.lfs_path(str(body.get("oid")))
        if not path.exists() or path.stat().st_size != int(body.get("size", -1)):
            raise HubError(404, f"LFS object {body.get('oid')} not found or wrong size")
        self._json(200, {})

    def commit(self, repo_type: str, repo_id: str, rev: str):
        self._require_auth()
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The commit payload must start with a header line")
        header = lines[0]["value"]
        with self.hub.lock:
            repo = self.hub.repo(repo_type, repo_id)
            branch = rev.removeprefix("refs/heads/")
            if self.query.get("create_pr"):
                start = repo.resolve(branch).sha
                repo.n_prs += 1
                branch = f"refs/pr/{repo.n_prs}"
                repo.branches[branch] = start
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {rev} (commits go to branches)", "RevisionNotFound")
            head = repo.commits[repo.branches[branch]]
            parent = header.get("parentCommit")
            if parent and parent != head.sha:
                raise HubError(412, f"A commit has happened since. Please refresh and try again. ({head.sha})")
            files, modes = dict(head.files), {}
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value", {})
                path = str(value.get("path", "")).strip("/")
                if key == "file":
                    data = base64.b64decode(value["content"]) if value.get("encoding", "base64") == "base64" \
                        else value["content"].encode()
                    if len(data) > LFS_SIZE_THRESHOLD or b"\0" in data[:8000]:
                        raise HubError(400, f"Your push was rejected because it contains binary files: {path}")
                    files[path], modes[path] = self.hub.store_regular(data), "regular"
                elif key == "lfsFile":
                    oid = value.get("oid", "")
                    blob = self.hub.lfs_path(oid)
                    if not SHA256_RE.fullmatch(oid) or not blob.exists():
                        raise HubError(422, f"Your push was rejected because an LFS pointer pointed to a file that "
                                            f"does not exist: {path} ({oid})")
                    size = blob.stat().st_size
                    if value.get("size") is not None and int(value["size"]) != size:
                        raise HubError(422, f"LFS object size mismatch for {path}")
                    files[path] = Entry(oid=git_blob_sha1(lfs_pointer(oid, size)), size=size, lfs=oid)
                    modes[path] = "lfs"
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    gone = [p for p in files if p.startswith(path + "/")] if path else list(files)
                    if not gone:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in gone:
                        del files[p]
                else:
                    raise HubError(400, f"Unknown commit operation key: {key}")
            commit = self.hub.new_commit(repo, branch, files, header.get("summary", ""), header.get("description", ""))
            self.hub.events.append(("commit", repo_type, repo_id, commit.sha, modes))
        out = {"success": True, "commitOid": commit.sha, "commitUrl": f"{self._repo_url(repo)}/commit/{commit.sha}",
               "hookOutput": ""}
        if self.query.get("create_pr"):
            out["pullRequestUrl"] = f"{self._repo_url(repo)}/discussions/{repo.n_prs}"
        self._json(200, out)

    # ---------------------------------------------------------------- download
    def resolve(self, repo_type: str, repo_id: str, rev: str, path: str):
        with self.hub.lock:
            commit = self.hub.repo(repo_type, repo_id).resolve(rev)
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        headers = {"X-Repo-Commit": commit.sha, "Accept-Ranges": "bytes",
                   "ETag": f'"{entry.lfs or entry.oid}"',
                   "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}"}
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.lfs}"'
            headers["X-Linked-Size"] = str(entry.size)
        start, end, status = 0, entry.size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", rng)
            if not m or (not m[1] and not m[2]):
                raise HubError(416, f"Unsupported range {rng}", headers={"Content-Range": f"bytes */{entry.size}"})
            if m[1]:
                start, end = int(m[1]), min(int(m[2]) if m[2] else entry.size - 1, entry.size - 1)
            else:
                start = max(entry.size - int(m[2]), 0)
            if start >= entry.size or start > end:
                raise HubError(416, f"Range not satisfiable {rng}", headers={"Content-Range": f"bytes */{entry.size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        length = max(end - start + 1, 0)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(self.hub.blob_path(entry), "rb") as f:
            f.seek(start)
            left = length
            while left > 0:
                data = f.read(min(left, CHUNK))
                if not data:
                    break
                self.wfile.write(data)
                left -= len(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Loopback Hugging Face Hub server for tests.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--root", default=None, help="storage folder (a temporary one if omitted)")
    args = parser.parse_args(argv)
    server = HubServer(args.root, port=args.port)
    url = server.start()
    print(f"Hub test server on {url}  (HF_ENDPOINT={url} HF_HUB_DISABLE_XET=1 HF_TOKEN=hf_dummy)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
