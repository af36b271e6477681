"""Writing a repository and publishing it atomically.

A repository is written whole into a staging folder beside its target (`staging`), each file
recorded with its size and sha256 as it is written (`write_file`, `record_file`), the manifest
last (`write_manifest`, which also writes the JSON Schema beside it); then `publish` swaps the
folder in, so a reader sees the old repository or the new one, never half of either.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from xorlab.modelrepo import records, spec


class PublishError(OSError):
    """The repository cannot be published where it was asked to be: one clear line."""


def record_file(root: Path, path: Path) -> records.Artifact:
    """The manifest's record of a file already written under `root`."""
    data = path.read_bytes()
    return records.Artifact(
        path=path.relative_to(root).as_posix(), sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)
    )


def write_file(root: Path, relative: str, data: bytes) -> records.Artifact:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return records.Artifact(path=relative, sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


def encode_manifest(manifest: records.Manifest) -> bytes:
    """The manifest as JSON, checked first: records are not validated when built, so a writer
    decodes what it encoded, constraints and all, and never publishes what a reader would refuse."""
    data = msgspec.json.encode(manifest)
    msgspec.json.decode(data, type=records.Manifest)
    return msgspec.json.format(data, indent=2) + b"\n"


def write_manifest(root: Path, manifest: records.Manifest) -> None:
    """manifest.json, and its JSON Schema beside it."""
    (root / spec.MANIFEST).write_bytes(encode_manifest(manifest))
    (root / spec.SCHEMA).write_bytes(msgspec.json.format(msgspec.json.encode(records.schema()), indent=2) + b"\n")


def check_writable(out: Path) -> None:
    """Fail before any work, not after it, when `out` cannot be published: the checks `publish`
    would meet, and a real staging folder made and removed beside `out`."""
    parent = out.resolve().parent
    if out.exists() and not out.is_dir():
        raise PublishError(f"cannot publish to {out}: it exists and is not a folder")
    if not parent.exists():
        raise PublishError(f"cannot publish to {out}: its parent folder {parent} does not exist")
    if not parent.is_dir():
        raise PublishError(f"cannot publish to {out}: {parent} is not a folder")
    if out.is_dir() and os.path.ismount(out):
        # Publishing renames a complete new folder into place; a mount point cannot be renamed.
        raise PublishError(
            f"cannot publish to {out}: it is a mount point; publish into a folder inside it, e.g. {out / 'models'}"
        )
    try:
        with staging(out):
            pass
    except PublishError:
        raise
    except OSError as e:
        raise PublishError(f"cannot publish to {out}: cannot create a folder in {parent} ({e.strerror or e})") from e


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A temporary folder beside `out` (the same filesystem, so the swap is a rename); always removed."""
    parent = out.resolve().parent
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        tmp.chmod(0o755)  # mkdtemp makes it owner-only; a server running as another user must read it
    except OSError as e:
        raise PublishError(f"cannot publish to {out}: cannot create a folder in {parent} ({e.strerror or e})") from e
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
# The process's own symbols, libc's among them (find_library would run ldconfig at every import).
_libc = ctypes.CDLL(None, use_errno=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def publish(tmp: Path, out: Path) -> None:
    """Swap the complete new repository in: readers see the old one or the new one, never half.

    With renameat2 the two folders trade places in one step and the old one (now at `tmp`) is
    removed by `staging`; elsewhere the old folder is moved aside first (a moment with no folder).
    """
    try:
        if not out.exists():
            os.rename(tmp, out)
        elif not _exchange(tmp, out):
            aside = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.rename(out, aside)
            os.rename(tmp, out)
            shutil.rmtree(aside, ignore_errors=True)
    except OSError as e:
        raise PublishError(f"cannot publish to {out}: {e.strerror}") from e
