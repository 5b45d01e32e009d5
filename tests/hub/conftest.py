"""Fixtures for tests that talk to the loopback Hub server (tests/hub/server.py) through the real client.

``huggingface_hub`` reads HF_ENDPOINT / HF_HOME / HF_HUB_DISABLE_XET / HF_HUB_OFFLINE at import time, so client code
runs in a subprocess started with ``hub_env``:

    def test_push(hub_env, run_client):
        run_client("from huggingface_hub import HfApi; HfApi().create_repo('tester/x')", hub_env)

``hub_env`` has a fresh, empty HF_HOME per test; ``hub_env_factory()`` makes more (e.g. one to push, one to pull).
``hub_backend`` is the in-process ``HubServer`` (inspect ``events`` / ``file_entries``), ``hub_server`` its url.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .server import HubServer

REPO_ROOT = Path(__file__).resolve().parents[2]
DUMMY_TOKEN = "hf_" + "x" * 34
# Variables that would make the client offline or point it at a cache/endpoint other than ours.
_DROP = (
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
    "TRANSFORMERS_CACHE", "HF_DATASETS_CACHE", "HF_XET_CACHE", "HF_ASSETS_CACHE", "HF_TOKEN_PATH",
    "HF_STORED_TOKENS_PATH", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_ENABLE_HF_TRANSFER", "HF_ENDPOINT", "HF_TOKEN",
    "HF_HOME", "XDG_CACHE_HOME",
)


def make_hub_env(url: str, hf_home: str | os.PathLike) -> dict[str, str]:
    """Environment for a client subprocess talking to the server at ``url`` with its own (empty) HF_HOME."""
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    Path(hf_home).mkdir(parents=True, exist_ok=True)
    env.update(
        HF_ENDPOINT=url,
        HF_TOKEN=DUMMY_TOKEN,
        HF_HOME=str(hf_home),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


def run_client_code(code: str, env: dict[str, str], timeout: float = 180, cwd=None) -> subprocess.CompletedProcess:
    """Run ``python -c code`` with ``env``; raise AssertionError carrying stdout/stderr if it fails or times out."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=cwd or REPO_ROOT, capture_output=True, text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"client subprocess timed out after {timeout}s\nstdout:\n{e.stdout}\nstderr:\n{e.stderr}")
    if proc.returncode != 0:
        raise AssertionError(
            f"client subprocess failed (rc={proc.returncode})\n--- code ---\n{code}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="session")
def hub_backend(tmp_path_factory):
    """The running in-process HubServer (one per test session)."""
    server = HubServer(tmp_path_factory.mktemp("hub-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def hub_server(hub_backend) -> str:
    """Base url of the session's loopback Hub, e.g. http://127.0.0.1:PORT."""
    return hub_backend.url


@pytest.fixture
def hub_env_factory(hub_server, tmp_path):
    """Call it to get a new client environment, each with its own empty HF_HOME."""
    counter = itertools.count()
    return lambda: make_hub_env(hub_server, tmp_path / f"hf_home_{next(counter)}")


@pytest.fixture
def hub_env(hub_env_factory) -> dict[str, str]:
    """Client environment (HF_ENDPOINT, dummy HF_TOKEN, empty HF_HOME, HF_HUB_DISABLE_XET=1, online)."""
    return hub_env_factory()


@pytest.fixture
def run_client():
    """``run_client(code, env, timeout=180) -> CompletedProcess``: run client code in a subprocess, raise on failure."""
    return run_client_code
