"""The last good repository: a copy, in the server's runtime folder, of the last repository a
worker loaded without a fault. A repository published broken, or taken away, then leaves the
server serving the models it had, like Triton keeps the last good version of a model whose reload
fails; the runtime folder outlives a SIGHUP reload, so new workers fall back to it too.

The copy is made through the contract's own code: every file the manifest lists, read with the
reader's checks and written and published with the writer (atomically: a worker never sees half
of a copy)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from xorlab.modelrepo import reader, spec, writer

log = logging.getLogger("xorlab.serve")


class Snapshot:
    def __init__(self, runtime_dir: str | None):
        self.path = Path(runtime_dir) / "last-good" / "models" if runtime_dir else None

    def exists(self) -> bool:
        return self.path is not None and (self.path / spec.MANIFEST).is_file()

    def save(self, root: Path) -> None:
        """Copy the repository at `root` unless the copy already holds the same manifest. Never
        raises: without a copy the server only loses its fallback."""
        if self.path is None:
            return
        try:
            manifest = (root / spec.MANIFEST).read_bytes()
            if self.exists() and _same(self.path / spec.MANIFEST, manifest):
                return
            reading = reader.read(root)
            self.path.parent.mkdir(exist_ok=True)
            with writer.staging(self.path) as tmp:
                files = [
                    a
                    for m in reading.manifest.models.values()
                    for a in (m.artifacts.onnx, m.artifacts.torchscript, m.artifacts.config)
                ]
                files += reading.manifest.pictures
                for file in files:  # each checked against the manifest again: what is kept is what was loaded
                    writer.write_file(tmp, file.path, reader.read_artifact(reading.root, file))
                (tmp / spec.MANIFEST).write_bytes(manifest)
                writer.publish(tmp, self.path)
        except (OSError, reader.RepositoryError) as exc:
            log.warning("the last good repository could not be kept (no fallback if a reload fails): %s", exc)


def _same(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def identity(root: str | os.PathLike) -> tuple[int, int, int] | None:
    """What changes when a repository is published at `root` (training swaps in a new folder, so
    its manifest is a new file): the manifest's inode, mtime and size; None when there is none."""
    try:
        info = os.stat(Path(root) / spec.MANIFEST)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)
