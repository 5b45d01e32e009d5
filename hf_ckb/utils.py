"""Small helpers shared across the package."""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_file(path: str):
    """Yields a temporary path next to `path`; on success it replaces `path` in one step, else it is removed.

    A crash mid-write therefore leaves the previous file (or none), never a truncated one.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_directory(path: str):
    """Yields a temporary folder next to `path`; on success it takes the place of `path` (replacing an old one).

    Readers see either the old folder or the complete new one.
    """
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = tempfile.mkdtemp(dir=os.path.dirname(path), prefix=f".tmp-{os.path.basename(path)}-")
    try:
        yield tmp
        if os.path.isdir(path):
            old = tmp + ".old"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
