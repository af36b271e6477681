"""Changes made through the API (load/unload, the log level), shared by every gunicorn worker.

The API writes one small JSON file in the server's runtime folder (made by the gunicorn master,
passed as XORLAB_RUNTIME_DIR): the models unloaded, for each model how many times it was loaded,
and the log level set through Triton's logging extension (none: XORLAB_LOG_LEVEL's). The writer
then counts the change in a second file, an 8-byte generation number that every worker maps into
memory. At the start of every request a worker compares that number with the one it last applied,
a memory read (a stat of the JSON file per request would cost a system call on the hot path), and
applies what changed to those models only: a load re-reads that model from disk and nothing else.
A change made through any worker holds for every request that starts after the change's response,
whichever worker serves it; both files survive a SIGHUP reload, so an unloaded model stays unloaded
in the new workers.
Without a runtime folder (the Flask test client) the state lives in this process.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path

import orjson

RUNTIME_DIR = "XORLAB_RUNTIME_DIR"  # internal: set by the gunicorn master, not a user setting
_GENERATION = struct.Struct("<Q")


@dataclass(frozen=True)
class State:
    unloaded: frozenset[str] = frozenset()
    loads: dict[str, int] = field(default_factory=dict)  # model -> how many loads so far
    log_level: str | None = None  # set through the logging extension; None: the setting's

    def changed(self, other: State) -> set[str]:
        """The models whose state differs between the two."""
        names = set(self.loads) | set(other.loads) | self.unloaded | other.unloaded
        return {
            n
            for n in names
            if (n in self.unloaded, self.loads.get(n, 0)) != (n in other.unloaded, other.loads.get(n, 0))
        }


class SharedState:
    def __init__(self, folder: str | None = None):
        folder = folder if folder is not None else os.environ.get(RUNTIME_DIR)
        self.path = Path(folder) / "control.json" if folder else None
        self._local = State()
        self._local_generation = 0
        self._lock = threading.Lock()
        self._generation = None if self.path is None else _map(self.path.with_suffix(".generation"))

    def generation(self) -> int:
        """Changes whenever the state does: the number of changes made so far."""
        if self._generation is None:
            return self._local_generation
        return _GENERATION.unpack_from(self._generation)[0]

    def state(self) -> State:
        if self.path is None:
            return self._local
        try:
            doc = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return State()
        return State(frozenset(doc["unloaded"]), dict(doc.get("loads", {})), doc.get("log_level"))

    def update(self, *, load: str | None = None, unload: str | None = None, log_level: str | None = None) -> None:
        with self._lock:
            if self.path is None:
                self._local = _next(self._local, load, unload, log_level)
                self._local_generation += 1
                return
            # One writer at a time across workers; readers see the old file or the new one whole.
            with open(self.path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                state = _next(self.state(), load, unload, log_level)
                tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
                tmp.write_bytes(
                    orjson.dumps(
                        {"unloaded": sorted(state.unloaded), "loads": state.loads, "log_level": state.log_level}
                    )
                )
                os.replace(tmp, self.path)
                # After the new state is in place: a worker that sees the new number reads it.
                # Under the lock, so no two writers count the same change.
                _GENERATION.pack_into(self._generation, 0, self.generation() + 1)


def _map(path: Path) -> mmap.mmap:
    """The shared generation number at `path`, mapped; made (as 0) by whichever process comes
    first. Extending a file that another process has already extended changes nothing in it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if os.fstat(fd).st_size < _GENERATION.size:
            os.ftruncate(fd, _GENERATION.size)
        return mmap.mmap(fd, _GENERATION.size)
    finally:
        os.close(fd)


def _next(state: State, load: str | None, unload: str | None, log_level: str | None = None) -> State:
    unloaded, loads = set(state.unloaded), dict(state.loads)
    if load:
        unloaded.discard(load)
        loads[load] = loads.get(load, 0) + 1
    if unload:
        unloaded.add(unload)
    return State(frozenset(unloaded), loads, log_level or state.log_level)
