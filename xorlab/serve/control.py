"""Repository changes made through the API (load/unload), shared by every gunicorn worker.

The API writes the set of unloaded models to one small JSON file in the server's runtime folder
(made by the gunicorn master, passed as XORLAB_RUNTIME_DIR). Each worker compares that file's
identity (inode, mtime) with what it last loaded at the start of every request, one stat, and
re-reads the repository when it changed: a change made through any worker holds for every request
that starts after the change's response, whichever worker serves it. The file also survives a
SIGHUP reload, so an unloaded model stays unloaded in the new workers.
Without a runtime folder (the Flask test client) the state lives in this process.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import orjson

RUNTIME_DIR = "XORLAB_RUNTIME_DIR"  # internal: set by the gunicorn master, not a user setting


class Control:
    def __init__(self, folder: str | None = None):
        folder = folder if folder is not None else os.environ.get(RUNTIME_DIR)
        self.path = Path(folder) / "control.json" if folder else None
        self._local: set[str] = set()
        self._local_stamp = 0
        self._lock = threading.Lock()

    def stamp(self) -> tuple[int, int]:
        """Changes whenever the unloaded set does (a new file is renamed in each time)."""
        if self.path is None:
            return (0, self._local_stamp)
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return (0, 0)
        return (info.st_ino, info.st_mtime_ns)

    def unloaded(self) -> set[str]:
        if self.path is None:
            return set(self._local)
        try:
            return set(orjson.loads(self.path.read_bytes())["unloaded"])
        except FileNotFoundError:
            return set()

    def update(self, *, load: str | None = None, unload: str | None = None) -> None:
        with self._lock:
            if self.path is None:
                self._local.discard(load)
                if unload:
                    self._local.add(unload)
                self._local_stamp += 1
                return
            # One writer at a time across workers; readers see the old file or the new one whole.
            with open(self.path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                names = self.unloaded()
                names.discard(load)
                if unload:
                    names.add(unload)
                tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
                tmp.write_bytes(orjson.dumps({"unloaded": sorted(names)}))
                os.replace(tmp, self.path)
