"""The writer: it publishes only what a reader accepts, whole or not at all, and refuses a target
it cannot publish to before any work is done, with a message that is true."""

from __future__ import annotations

import json
import os
from pathlib import Path

import msgspec
import pytest

from tests.fixtures import build_repository
from xorlab.modelrepo import reader, records, spec, writer


def test_a_record_that_breaks_a_constraint_is_never_written(tmp_path):
    build_repository(tmp_path / "models")
    manifest = reader.read(tmp_path / "models").manifest
    manifest.models["mlp"].training.lr = 0.0  # records are not checked when built...
    with pytest.raises(msgspec.ValidationError, match=r"Expected `float` > 0.0 - at `\$.models\[...\].training.lr`"):
        writer.write_manifest(tmp_path / "models", manifest)  # ...but always before they are written


def test_the_manifest_is_written_with_its_schema_beside_it(tmp_path):
    root = tmp_path / "models"
    build_repository(root)
    assert json.loads((root / spec.SCHEMA).read_text()) == json.loads(json.dumps(records.schema()))
    assert reader.read(root).refused_models == {}


def test_publish_swaps_a_whole_repository_in_and_leaves_nothing_behind(tmp_path):
    out = tmp_path / "models"
    for names in (("mlp", "perceptron"), ("deep",)):
        with writer.staging(out) as tmp:
            build_repository(tmp, names)
            writer.publish(tmp, out)
        assert sorted(reader.read(out).manifest.models) == sorted(names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]  # no staging or old folder left
    assert out.stat().st_mode & 0o777 == 0o755  # readable by a server running as another user


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("file", "cannot publish to {t}: it exists and is not a folder"),
        ("nowhere/models", "cannot publish to {t}: its parent folder {p} does not exist"),
        ("file/models", "cannot publish to {t}: {p} is not a folder"),
    ],
)
def test_a_target_that_cannot_be_published_to_is_refused_with_a_true_message(tmp_path, target, message):
    (tmp_path / "file").write_text("not a folder")
    t = tmp_path / target
    with pytest.raises(writer.PublishError) as caught:
        writer.check_writable(t)
    assert str(caught.value) == message.format(t=t, p=t.parent)


@pytest.mark.skipif(not os.path.ismount("/proc"), reason="needs /proc mounted")
def test_a_mount_point_or_a_filesystem_that_takes_no_folder_is_refused_before_any_work():
    with pytest.raises(writer.PublishError, match="it is a mount point; publish into a folder inside it"):
        writer.check_writable(Path("/proc"))
    with pytest.raises(writer.PublishError, match=r"cannot publish to /proc/xorlab-models: "):
        writer.check_writable(Path("/proc/xorlab-models"))
    with pytest.raises(writer.PublishError, match="cannot publish to /dev/null/models: /dev/null is not a folder"):
        writer.check_writable(Path("/dev/null/models"))
