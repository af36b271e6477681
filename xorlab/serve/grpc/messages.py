"""ModelInferRequest and ModelInferResponse to and from what the HTTP front end's codecs make.

A request is translated into the V2 JSON structure (tensor contents aside) and checked by the very
code that checks HTTP requests (infer_codec.decode_v2_request), so both protocols accept and refuse the
same requests with the same words. Tensor data: `raw_input_contents` (what tritonclient sends) is
the binary tensor data extension's bytes; typed `contents.fp32_contents` (what the kserve SDK sends
without binary data) is JSON's 'data'. Outputs always go back in `raw_output_contents`, as Triton
answers (and both clients read).

Before any of that, `check_counts` reads a request's wire format, without building it, for what the
protobuf parser would otherwise build first and the checks refuse after: a 2 kB compressed message
of a million empty `inputs` is a million submessages once parsed (hundreds of MB).
"""

from __future__ import annotations

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from xorlab.serve import infer_codec
from xorlab.serve.errors import InvalidRequest, InvalidTensor
from xorlab.serve.proto import service_pb2
from xorlab.serve.runtime import OnnxModel

RAW = "the raw_input_contents size"  # what binary_data_size is called in the gRPC messages
ONE_INPUT = f"'inputs' must be a list of exactly one tensor, '{OnnxModel.input_name}'"  # codecs' words

# ---- counts, on the wire ------------------------------------------------------------------------

# A message up to this size costs the parser at most a few MB however it is made (an empty
# submessage is 2 bytes on the wire and about a hundred once parsed; a packed varint 1 and 8):
# it is parsed as it is, and the checks after parsing count before converting anything.
SCAN_FROM = 16 * 1024
MAX_ENTRIES = 64  # entries of any one repeated field, but packed numbers of a fixed width
MAX_PACKED_VARINTS = 1024  # bytes of a packed varint field (int64 shape, ...): up to 8 bytes each once parsed
_VARINT_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_BOOL,
        FieldDescriptor.TYPE_ENUM,
    }
)
# Entries allowed where the protocol allows fewer than MAX_ENTRIES, with the words its check uses.
_FEWER = {("ModelInferRequest", "inputs"): (1, ONE_INPUT)}


def check_counts(data: bytes, descriptor: Descriptor, max_fields: int) -> None:
    """Refuse (400) a serialized `descriptor` message that would parse into more objects than any
    request needs: more than `max_fields` fields in all (each unpacked number counts), more than
    MAX_ENTRIES entries in a repeated field (maps included), or a packed varint field over
    MAX_PACKED_VARINTS bytes. Malformed bytes are left to the parser. The work is bounded by
    `max_fields` steps, whatever the message's size."""
    if len(data) > SCAN_FROM:
        _scan(data, 0, len(data), descriptor, [max_fields], "the request")


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]  # IndexError past the end: malformed
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _scan(data: bytes, i: int, end: int, descriptor: Descriptor, budget: list[int], where: str) -> None:
    fields = descriptor.fields_by_number
    counts: dict[int, int] = {}
    try:
        while i < end:
            budget[0] -= 1
            if budget[0] < 0:
                raise InvalidRequest(
                    "the request has more fields than a request of at most its row limit needs "
                    "(protobuf fields, each unpacked number one)"
                )
            key, i = _varint(data, i)
            wire, field = key & 7, fields.get(key >> 3)
            if wire == 0:
                _, i = _varint(data, i)
            elif wire == 1:
                i += 8
            elif wire == 5:
                i += 4
            elif wire == 2:
                length, i = _varint(data, i)
                if field is not None:
                    _field(data, i, i + length, field, counts, budget, where)
                i += length
            else:  # groups, or not protobuf at all: the parser says so
                return
    except IndexError:
        return


def _field(data: bytes, i: int, end: int, field: FieldDescriptor, counts: dict, budget: list[int], where: str) -> None:
    """One length-delimited field: a submessage (counted, and read in turn), a string or bytes
    (counted when repeated), or a packed run of numbers (bounded when each is a varint)."""
    if field.type in _VARINT_TYPES:
        if end - i > MAX_PACKED_VARINTS:
            raise InvalidRequest(f"{where}: '{field.name}' holds more than {MAX_PACKED_VARINTS} values")
        return
    if field.type not in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return  # packed fixed-width numbers: as many bytes parsed as sent
    count = counts[field.number] = counts.get(field.number, 0) + 1
    limit, words = _FEWER.get((field.containing_type.name, field.name), (MAX_ENTRIES, None))
    if count > limit:
        raise InvalidRequest(words or f"{where} has more than {limit} '{field.name}' entries")
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        _scan(
            data,
            i,
            end,
            field.message_type,
            budget,
            f"{where}'s '{field.name}'" if where != "the request" else f"'{field.name}'",
        )


def parameter(value: service_pb2.InferParameter) -> object:
    """An InferParameter as the JSON value it stands for."""
    choice = value.WhichOneof("parameter_choice")
    return None if choice is None else getattr(value, choice)


def _parameters(parameters) -> dict:
    return {key: parameter(value) for key, value in parameters.items()}


def max_fields(max_rows: int) -> int:
    """The most fields a request within the row limit needs (typed contents unpacked: one a value)."""
    return infer_codec.max_values(max_rows)


def decode_infer(request: service_pb2.ModelInferRequest, model: OnnxModel, max_rows: int) -> infer_codec.InferRequest:
    # Counted before anything is built for them (check_counts bounds larger messages on the wire).
    if len(request.inputs) != 1:
        raise InvalidRequest(ONE_INPUT)
    if len(request.outputs) > MAX_ENTRIES or len(request.parameters) > MAX_ENTRIES:
        raise InvalidRequest(f"the request has more than {MAX_ENTRIES} outputs or parameters")
    raw = request.raw_input_contents
    if len(raw) > 1 or (raw and len(request.inputs) != 1):
        raise InvalidRequest(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; send one per input"
        )
    inputs = []
    for tensor in request.inputs:
        entry = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        parameters = _parameters(tensor.parameters)
        if raw:
            parameters["binary_data_size"] = len(raw[0])
            if tensor.HasField("contents"):
                raise InvalidTensor(f"input '{tensor.name}' has both contents and raw_input_contents; send one")
        elif tensor.HasField("contents"):
            entry["data"] = _contents(tensor, max_rows)
        elif tensor.name == model.input_name:
            raise InvalidTensor(
                f"input '{tensor.name}' has no values: send raw_input_contents or contents.fp32_contents"
            )
        if parameters:
            entry["parameters"] = parameters
        inputs.append(entry)
    structure: dict = {"inputs": inputs}
    if request.id:
        structure["id"] = request.id
    if request.parameters:
        structure["parameters"] = _parameters(request.parameters)
    if request.outputs:
        structure["outputs"] = [{"name": o.name, "parameters": _parameters(o.parameters)} for o in request.outputs]
    return infer_codec.decode_v2_request(
        structure, raw[0] if raw else b"", model.input_name, model.output_name, max_rows, binary_label=RAW
    )


def _contents(tensor: service_pb2.ModelInferRequest.InferInputTensor, max_rows: int) -> list:
    contents = tensor.contents
    filled = [field.name for field, _ in contents.ListFields()]
    if filled != ["fp32_contents"]:
        found = ", ".join(filled) or "nothing"
        raise InvalidTensor(f"input '{tensor.name}' must carry its values in contents.fp32_contents; found {found}")
    values = contents.fp32_contents
    if len(values) > 2 * max_rows:  # counted before they become Python floats
        raise InvalidRequest(infer_codec.too_many_values(max_rows))
    return list(values)


def encode_infer(model: OnnxModel, request: infer_codec.InferRequest, y: np.ndarray) -> service_pb2.ModelInferResponse:
    response = service_pb2.ModelInferResponse(model_name=model.name, model_version=model.version, id=request.id or "")
    raw = y.astype("<f4", copy=False).tobytes()
    for name, _binary in request.outputs:  # binary or not, gRPC carries the values raw
        response.outputs.add(name=name, datatype="FP32", shape=y.shape)
        response.raw_output_contents.append(raw)
    return response
