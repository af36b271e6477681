"""The vendored protocol files are the ones the pinned tritonclient was generated from, and every
build generates their Python modules (nothing generated is committed).

protobuf holds one descriptor pool per process: xorlab's grpc_service.proto and tritonclient's must
be the same file, or a process importing both fails. Each side is read in a process of its own,
so a difference shows as a failed comparison here, not as an import error."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests import ROOT

PRINT = """
import sys
from google.protobuf import descriptor_pb2
from {package} import {service} as service, model_config_pb2 as config
for module in (service, config):
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    sys.stdout.write(proto.SerializeToString().hex() + "\\n")
"""


def descriptors(package: str, service: str) -> list:
    from google.protobuf import descriptor_pb2

    done = subprocess.run(
        [sys.executable, "-c", PRINT.format(package=package, service=service)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return [descriptor_pb2.FileDescriptorProto.FromString(bytes.fromhex(line)) for line in done.stdout.split()]


def test_the_vendored_protos_are_the_pinned_tritonclients():
    ours = descriptors("xorlab.serve.proto", "service_pb2")
    theirs = descriptors("tritonclient.grpc", "service_pb2")
    assert [d.name for d in ours] == ["grpc_service.proto", "model_config.proto"]
    for mine, triton in zip(ours, theirs, strict=True):
        # On failure: re-vendor both files from the Triton `common` commit of the pinned
        # tritonclient's release (xorlab/serve/proto/README.md).
        assert mine == triton, f"{mine.name} differs from the pinned tritonclient's"


def test_both_load_in_one_process():
    done = subprocess.run(
        [sys.executable, "-c", "import tritonclient.grpc, xorlab.serve.proto, xorlab.serve.grpc.server"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


def test_generated_modules_are_ignored_not_committed():
    tracked = subprocess.run(
        ["git", "ls-files", "xorlab/serve/proto"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    assert sorted(tracked) == [
        "xorlab/serve/proto/README.md",
        "xorlab/serve/proto/__init__.py",
        "xorlab/serve/proto/grpc_service.proto",
        "xorlab/serve/proto/model_config.proto",
        "xorlab/serve/proto/onnx-ml.proto",
    ]
    for generated in ("grpc_service_pb2.py", "onnx-ml.desc"):
        ignored = subprocess.run(["git", "check-ignore", "-q", f"xorlab/serve/proto/_generated/{generated}"], cwd=ROOT)
        assert ignored.returncode == 0, generated


@pytest.mark.slow
def test_a_wheel_built_from_the_tracked_files_carries_the_generated_modules(tmp_path):
    # What `pip install .` and the serving image do: a wheel from the source files alone (the
    # build requirements, grpcio-tools among them, come from the package index).
    source = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], capture_output=True, cwd=ROOT, check=True).stdout.split(b"\0")
    subprocess.run(
        ["tar", "-cf", str(tmp_path / "src.tar"), "--null", "-T", "-"],
        input=b"\0".join(f for f in files if f),
        cwd=ROOT,
        check=True,
    )
    source.mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "src.tar")], cwd=source, check=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 and (
        "No matching distribution" in done.stderr or "Could not find a version" in done.stderr
    ):
        pytest.skip(f"the build requirements cannot be fetched here: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("xorlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    generated = {f"xorlab/serve/proto/_generated/{m}.py" for m in ("__init__", "grpc_service_pb2", "model_config_pb2")}
    assert generated | {"xorlab/serve/proto/_generated/onnx-ml.desc"} <= names  # ONNX's schema, for serve's onnxfile.py
    assert not (source / "xorlab" / "serve" / "proto" / "_generated").exists()  # built aside, not into the sources
    text = zipfile.ZipFile(wheel).read("xorlab/serve/proto/_generated/grpc_service_pb2.py").decode()
    assert "from . import model_config_pb2 as model__config__pb2" in text
