"""The build hook: everything else about the package is in pyproject.toml.

The gRPC message modules (and ONNX's schema as a descriptor set) are generated from the vendored
.proto files (xorlab/serve/proto/) each time the package is built, never committed: a wheel carries
them in its build folder; an editable install (`pip install -e .`, what the Makefile does) writes
them into the source tree, in a folder git ignores. grpcio-tools is a build requirement only
(pyproject's [build-system]).
"""

import re
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROTO_PACKAGE = Path("xorlab", "serve", "proto")
PROTOS = ("grpc_service.proto", "model_config.proto")
# ONNX's schema, compiled to a descriptor set (not to a module): serving loads it into a pool of
# its own, so it never clashes with the `onnx` package's copy in a process that imports both.
ONNX_PROTO, ONNX_DESCRIPTORS = "onnx-ml.proto", "onnx-ml.desc"


class BuildPyWithProtos(build_py):
    def run(self):
        super().run()
        from grpc_tools import protoc  # the build requirement; not needed at run time

        here = Path(__file__).resolve().parent
        source = here / PROTO_PACKAGE
        out = (here if self.editable_mode else Path(self.build_lib)) / PROTO_PACKAGE / "_generated"
        out.mkdir(parents=True, exist_ok=True)
        include = Path(protoc.__file__).parent / "_proto"  # protobuf's own well-known types
        # -I the proto folder itself: the files register as "grpc_service.proto" and
        # "model_config.proto", the names tritonclient's copies have (one process may hold both).
        args = ["protoc", f"-I{source}", f"-I{include}", f"--python_out={out}", *(str(source / p) for p in PROTOS)]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {', '.join(PROTOS)}")
        args = ["protoc", f"-I{source}", f"--descriptor_set_out={out / ONNX_DESCRIPTORS}", str(source / ONNX_PROTO)]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {ONNX_PROTO}")
        for module in out.glob("*_pb2.py"):  # protoc writes top-level imports; make them relative
            text = re.sub(r"^import (\w+_pb2) as", r"from . import \1 as", module.read_text(), flags=re.M)
            module.write_text(text)
        (out / "__init__.py").write_text('"""Generated at build time by setup.py from ../*.proto; not committed."""\n')


setup(cmdclass={"build_py": BuildPyWithProtos})
