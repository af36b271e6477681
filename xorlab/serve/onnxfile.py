"""An ONNX file may refer to nothing outside itself.

ONNX lets a tensor keep its bytes in another file ("external data": a location, an offset, a
length), and onnxruntime, given a model as bytes, resolves that location against the process's
working directory: a model naming `etc/passwd` loaded that file into a tensor (and a client read it
back through predictions), and one naming a 2 GB file loaded it past the reader's size limit.
onnxruntime has no setting that refuses external data, so every tensor in the file is checked
before onnxruntime sees it, with ONNX's own schema (the vendored `proto/onnx-ml.proto`, compiled to
a descriptor set at build time, loaded into a pool of its own: the serving side has no `onnx`
package, and a process that has one keeps its copy apart). The walk follows every message field,
so a tensor is found wherever ONNX can hold one: initializers, sparse initializers, node
attributes (tensors, sparse tensors, subgraphs), functions, training information. A field the
schema does not know is refused too: it could hold a tensor this check cannot see.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from xorlab.modelrepo.reader import RepositoryError

TENSOR = "onnx.TensorProto"
EXTERNAL = 1  # onnx.TensorProto.DataLocation.EXTERNAL


@cache
def _model_class() -> type:
    data = (resources.files("xorlab.serve.proto._generated") / "onnx-ml.desc").read_bytes()
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("onnx.ModelProto"))


def check_self_contained(data: bytes) -> None:
    """RepositoryError, with the reason, when the ONNX file in `data` refers to data outside itself
    (or cannot be read as an ONNX model at all)."""
    try:
        model = _model_class().FromString(data)
    except DecodeError:
        raise RepositoryError("the ONNX file cannot be read as an ONNX model (onnx.ModelProto)") from None
    stack = [model]
    while stack:
        message = stack.pop()
        if len(UnknownFieldSet(message)):
            raise RepositoryError(
                f"the ONNX file has fields ONNX's schema does not define (in a {message.DESCRIPTOR.name})"
            )
        if message.DESCRIPTOR.full_name == TENSOR and (message.data_location == EXTERNAL or len(message.external_data)):
            location = next((entry.value for entry in message.external_data if entry.key == "location"), "")
            raise RepositoryError(
                f"the ONNX file keeps tensor {message.name[:60]!r}'s data in another file ({location[:60]!r}): "
                f"external data is refused, a model must be one self-contained file"
            )
        for field, value in message.ListFields():
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                if field.label == FieldDescriptor.LABEL_REPEATED:
                    stack.extend(value)
                else:
                    stack.append(value)
