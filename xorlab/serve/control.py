"""Repository changes made through the API (load/unload), shared by every gunicorn worker.

The API writes one small JSON file in the server's runtime folder (made by the gunicorn master,
passed as XORLAB_RUNTIME_DIR): the models unloaded, and for each model how many times it was
loaded. Each worker compares that file's identity (inode, mtime) with what it last applied at
the start of every request, one stat, and applies what changed to those models only: a load
re-reads that model from disk and nothing else. A change made through any worker holds for every
request that starts after the change's response, whichever worker serves it; the file also
survives a SIGHUP reload, so an unloaded model stays unloaded in the new workers.
Without a runtime folder (the Flask test client) the state lives in this process.
"""

from __future__ import annotations

import fcntl
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import orjson

RUNTIME_DIR = "XORLAB_RUNTIME_DIR"  # internal: set by the gunicorn master, not a user setting


@dataclass(frozen=True)
class State:
    unloaded: frozenset[str] = frozenset()
    loads: dict[str, int] = field(default_factory=dict)  # model -> how many loads so far

    def changed(self, other: State) -> set[str]:
        """The models whose state differs between the two."""
        names = set(self.loads) | set(other.loads) | self.unloaded | other.unloaded
        return {n for n in names if (n in self.unloaded, self.loads.get(n, 0)) != (n in other.unloaded, other.loads.get(n, 0))}


class Control:
    def __init__(self, folder: str | None = None):
        folder = folder if folder is not None else os.environ.get(RUNTIME_DIR)
        self.path = Path(folder) / "control.json" if folder else None
        self._local = State()
        self._local_stamp = 0
        self._lock = threading.Lock()

    def stamp(self) -> tuple[int, int]:
        """Changes whenever the state does (a new file is renamed in each time)."""
        if self.path is None:
            return (0, self._local_stamp)
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return (0, 0)
        return (info.st_ino, info.st_mtime_ns)

    def state(self) -> State:
        if self.path is None:
            return self._local
        try:
            doc = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return State()
        return State(frozenset(doc["unloaded"]), dict(doc.get("loads", {})))

    def update(self, *, load: str | None = None, unload: str | None = None) -> None:
        with self._lock:
            if self.path is None:
                self._local = _next(self._local, load, unload)
                self._local_stamp += 1
                return
            # One writer at a time across workers; readers see the old file or the new one whole.
            with open(self.path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                state = _next(self.state(), load, unload)
                tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
                tmp.write_bytes(orjson.dumps({"unloaded": sorted(state.unloaded), "loads": state.loads}))
                os.replace(tmp, self.path)


def _next(state: State, load: str | None, unload: str | None) -> State:
    unloaded, loads = set(state.unloaded), dict(state.loads)
    if load:
        unloaded.discard(load)
        loads[load] = loads.get(load, 0) + 1
    if unload:
        unloaded.add(unload)
    return State(frozenset(unloaded), loads)
