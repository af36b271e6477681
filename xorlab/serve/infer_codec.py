"""Request bodies to float32 arrays and arrays to response bodies, for both protocols.

After MLServer's codecs: the only place that knows the wire formats. Every check a client's
mistake can fail is here, with a message saying what was wrong and what was expected. The hot path
is orjson + one numpy conversion; nothing static is re-checked per request.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import orjson

from xorlab.serve.config import ascii_int
from xorlab.serve.errors import InvalidJSON, InvalidRequest, InvalidTensor, TooManyRows

FP32_MAX = float(np.finfo(np.float32).max)
V1_EXPECTED = 'expected {"instances": [[x1, x2], ...]}'
_FEW = 64  # values up to which _in_range checks them in Python
HEADER_LENGTH_DIGITS = 12  # a JSON header is at most the body's size: never more than this many digits


def quoted(value: object, limit: int = 60) -> str:
    """A client's value as an error message quotes it: its repr, cut short, so an answer never
    grows with what the request sent."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def max_values(max_rows: int) -> int:
    """The most JSON values (arrays, objects and the items in them) an inference request within the
    row limit needs, with room for the rest of the request: two numbers and a list a row, a little
    over that; more is refused before anything is built for them."""
    return 4 * max_rows + 1024


def too_many_values(max_rows: int) -> str:
    if not max_rows:
        return f"the request holds more than {max_values(0)} JSON values; this route takes a small object"
    return (
        f"the request holds more values than {max_rows} rows of 2 numbers need "
        f"(at most {max_values(max_rows)}, arrays and objects included)"
    )


def parse_json(body: bytes | memoryview, max_rows: int = 0) -> object:
    """The body's JSON, refused (400) when it is not JSON or holds more values than a request of
    `max_rows` rows needs (0: a small object, no rows). The values are counted before parsing:
    the parser builds every list and number a body declares before any check can look at them
    (16 MiB of `[],` is 5.6 million lists). An upper bound, in C: every value but the first in a container
    follows a comma, and every container opens with a bracket (commas inside strings count too,
    which only a request with thousands of them in its strings would notice)."""
    if not body:
        raise InvalidJSON("the request body is empty; expected a JSON object")
    if len(body) > 4096 and body.count(b",") + body.count(b"[") + body.count(b"{") > max_values(max_rows):
        raise InvalidRequest(too_many_values(max_rows))
    try:
        # orjson, unlike the json module, refuses NaN and Infinity: JSON has neither.
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(f"the request body is not valid JSON ({exc})") from None


def to_float32(data: object, what: str) -> np.ndarray:
    """A JSON array of numbers (any nesting) as float32; refuses anything that is not numbers."""
    try:
        array = np.asarray(data)
    except ValueError:  # ragged, or nested deeper than numpy allows
        raise InvalidTensor(f"{what} is ragged: every row must have the same number of values") from None
    kind = array.dtype.kind
    if kind not in "fiu":
        found = "booleans" if kind == "b" else "strings" if kind == "U" else "non-numbers"
        raise InvalidTensor(f"{what} must hold numbers only, found {found}")
    if kind == "f" and array.size and not _in_range(array):
        largest = float(np.abs(array).max())
        if largest != largest:  # NaN: JSON has none, gRPC's typed contents may
            raise InvalidTensor(f"{what} holds NaN or Infinity; expected finite numbers")
        if largest > FP32_MAX:
            raise InvalidTensor(f"{what} holds a number outside the FP32 range (|x| <= {FP32_MAX:.7g})")
    return array.astype(np.float32, copy=False)


def _in_range(array: np.ndarray) -> bool:
    """True when a few values (the common request) are all finite and within FP32's range,
    checked faster in Python than by a numpy reduction: if the sum of their magnitudes is in range,
    every one is, and none is NaN. False means "check them exactly", not "out of range"."""
    return array.size <= _FEW and sum(map(abs, array.ravel().tolist())) <= FP32_MAX


def _check_rows(rows: int, max_rows: int, what: str) -> None:
    if rows < 1:
        raise InvalidTensor(f"{what} is an empty batch; expected at least one row of 2 numbers")
    if rows > max_rows:
        raise TooManyRows(f"{what} has {rows} rows; the limit is {max_rows} rows per request")


@dataclass(slots=True)
class InferRequest:
    id: str | None
    x: np.ndarray  # (rows, 2) float32
    outputs: list[tuple[str, bool]]  # (name, as binary)


# ---- KServe V1 -----------------------------------------------------------------------------------


def decode_v1(body: bytes, max_rows: int) -> InferRequest:
    """V1's request as the one request type both protocols decode to (no id, one output)."""
    request = parse_json(body, max_rows)
    if not isinstance(request, dict) or "instances" not in request:
        raise InvalidRequest(f"the request has no 'instances'; {V1_EXPECTED}")
    instances = request["instances"]
    if not isinstance(instances, list):
        raise InvalidTensor(f"'instances' must be a list of rows; {V1_EXPECTED}")
    _check_rows(len(instances), max_rows, "'instances'")
    x = to_float32(instances, "'instances'")
    if x.ndim != 2 or x.shape[1] != 2:
        raise InvalidTensor(f"'instances' has shape {list(x.shape)}; expected [N, 2]: rows of two numbers")
    return InferRequest(None, x, [])


def encode_v1(y: np.ndarray) -> bytes:
    # One probability P(y=1) per row; orjson writes float32 arrays directly.
    return orjson.dumps({"predictions": y.reshape(-1)}, option=orjson.OPT_SERIALIZE_NUMPY)


# ---- Open Inference Protocol (V2) with Triton's binary tensor data extension ---------------------


def decode_v2(body: bytes, header_length: str | None, input_name: str, output_name: str, max_rows: int) -> InferRequest:
    json_part, binary = _split_binary(body, header_length)
    return decode_v2_request(parse_json(json_part, max_rows), binary, input_name, output_name, max_rows)


def decode_v2_request(
    request: object,
    binary: bytes | memoryview,
    input_name: str,
    output_name: str,
    max_rows: int,
    binary_label: str = "binary_data_size",
) -> InferRequest:
    """A V2 request in its JSON structure (the gRPC front end translates its messages into the
    same structure, raw tensor contents as `binary`), checked once for both protocols.
    `binary_label`: what the wire format calls the size of an input's binary data."""
    if not isinstance(request, dict):
        raise InvalidRequest("the request body must be a JSON object with 'inputs'")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidRequest("'id' must be a string")
    parameters = _parameters(request, "the request", REQUEST_PARAMETERS)
    if type(parameters.get("triton_enable_empty_final_response", False)) is not bool:
        raise InvalidRequest("the request's parameter 'triton_enable_empty_final_response' must be true or false")

    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InvalidRequest(f"'inputs' must be a list of exactly one tensor, '{input_name}'")
    x, used = _decode_input(inputs[0], memoryview(binary), input_name, max_rows, binary_label)
    if used != len(binary):
        raise InvalidRequest(
            f"the body has {len(binary)} bytes of binary tensor data after the JSON header; "
            f"the inputs' binary_data_size account for {used}"
        )
    default_binary = parameters.get("binary_data_output", False) is True
    return InferRequest(request_id, x, _requested_outputs(request, output_name, default_binary))


def _split_binary(body: bytes, header_length: str | None) -> tuple[bytes | memoryview, memoryview]:
    if header_length is None:
        return body, memoryview(b"")
    length = ascii_int(header_length, HEADER_LENGTH_DIGITS)
    if length is None or not 0 < length <= len(body):
        raise InvalidRequest(
            f"Inference-Header-Content-Length must be the JSON header's length in bytes, "
            f"between 1 and the body's {len(body)}; got {quoted(header_length, 24)}"
        )
    view = memoryview(body)
    return view[:length], view[length:]


# The parameters each part of a V2 request may carry. Any other is refused by name, never ignored:
# an unknown one may change what the answer means (Triton's sequence_id, shared-memory inputs,
# classification). priority and timeout only concern scheduling, which a one-step model does not
# have; they are accepted as Triton's clients may send them. So is Triton's
# triton_enable_empty_final_response (perf_analyzer sends it): it asks a decoupled model to mark
# its last response, and these models answer each request once, that answer being the last
# (over a gRPC stream it is marked triton_final_response, as Triton marks it).
REQUEST_PARAMETERS = ("binary_data_output", "priority", "timeout", "triton_enable_empty_final_response")
INPUT_PARAMETERS = ("binary_data_size",)
OUTPUT_PARAMETERS = ("binary_data",)


def _parameters(obj: dict, what: str, known: tuple[str, ...]) -> dict:
    parameters = obj.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidRequest(f"'parameters' of {what} must be an object")
    if not parameters:
        return parameters
    unknown = sorted(str(key) for key in parameters if key not in known)
    if unknown:
        names = ", ".join(quoted(key) for key in unknown[:5])
        raise InvalidRequest(
            f"{what} has parameter{'s' if len(unknown) > 1 else ''} {names}, which this server does not support "
            f"(supported: {', '.join(known)})"
        )
    return parameters


def _decode_input(
    tensor: dict, binary: memoryview, input_name: str, max_rows: int, binary_label: str
) -> tuple[np.ndarray, int]:
    name = tensor.get("name")
    if name != input_name:
        raise InvalidTensor(f"unknown input {quoted(name)}; the model's input is '{input_name}'")
    what = f"input '{input_name}'"
    if tensor.get("datatype") != "FP32":
        raise InvalidTensor(f"{what} has datatype {quoted(tensor.get('datatype'))}; expected 'FP32'")
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(type(d) is int for d in shape)
        or shape[1] != 2
        or shape[0] < 0
    ):
        raise InvalidTensor(f"{what} has shape {quoted(shape)}; expected [N, 2] with N >= 1")
    rows = shape[0]
    _check_rows(rows, max_rows, what)

    size = _parameters(tensor, what, INPUT_PARAMETERS).get("binary_data_size")
    if size is None:
        if "data" not in tensor:
            raise InvalidTensor(f"{what} has no 'data' (and no binary_data_size parameter)")
        data = tensor["data"]
        if not isinstance(data, list):
            raise InvalidTensor(f"{what}: 'data' must be a list of numbers, nested or flat")
        if len(data) not in (rows, 2 * rows):  # cheap refusal before converting a huge list
            raise InvalidTensor(f"{what}: 'data' does not match shape [{rows}, 2]")
        x = to_float32(data, f"{what} 'data'")
        if x.size != 2 * rows:
            raise InvalidTensor(f"{what}: 'data' has {x.size} values; shape [{rows}, 2] needs {2 * rows}")
        if x.ndim == 1:
            return x.reshape(rows, 2), 0
        if x.shape != (rows, 2):
            raise InvalidTensor(f"{what}: 'data' is nested as {list(x.shape)}; expected [{rows}, 2] or flat")
        return x, 0

    if "data" in tensor:
        raise InvalidTensor(f"{what} has both 'data' and {binary_label}; send one")
    if type(size) is not int or size != 8 * rows:
        raise InvalidTensor(
            f"{what}: {binary_label} is {quoted(size)}; shape [{rows}, 2] of FP32 needs {8 * rows} bytes"
        )
    if size > len(binary):
        raise InvalidTensor(f"{what}: {binary_label} is {size} but only {len(binary)} bytes follow the JSON header")
    # Copy out of the body so the array is aligned and writable whatever the header's length.
    x = np.frombuffer(binary[:size], dtype="<f4").astype(np.float32).reshape(rows, 2)
    if not _in_range(x) and not np.isfinite(x).all():
        raise InvalidTensor(f"{what} holds NaN or Infinity; expected finite numbers")
    return x, size


CLASSIFICATION_REFUSED = (
    "output '{name}' is one probability per row, P(y=1), not class scores: the classification "
    "parameter (Triton's class_count) is not supported; threshold the probability at 0.5 instead"
)


def _requested_outputs(request: dict, output_name: str, default_binary: bool) -> list[tuple[str, bool]]:
    outputs = request.get("outputs")
    if outputs is None:
        return [(output_name, default_binary)]
    if not isinstance(outputs, list) or not outputs:
        raise InvalidRequest(f'\'outputs\' must be a non-empty list of {{"name": "{output_name}"}}')
    requested = []
    for output in outputs:
        name = output.get("name") if isinstance(output, dict) else None
        if name != output_name:
            raise InvalidRequest(f"unknown output {quoted(name)}; the model's output is '{output_name}'")
        if requested:  # the answer would hold the tensor once per mention: a request could multiply it
            raise InvalidRequest(f"output '{name}' is requested more than once; name each output once")
        parameters = output.get("parameters")
        if isinstance(parameters, dict) and "classification" in parameters:
            raise InvalidRequest(CLASSIFICATION_REFUSED.format(name=name))
        binary = _parameters(output, f"output '{name}'", OUTPUT_PARAMETERS).get("binary_data", default_binary)
        requested.append((name, binary is True))
    return requested


def encode_v2(model_name: str, version: str, request: InferRequest, y: np.ndarray) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it."""
    response: dict = {"model_name": model_name, "model_version": version}
    if request.id is not None:
        response["id"] = request.id
    shape = list(y.shape)
    outputs, blobs = [], []
    for name, binary in request.outputs:
        if binary:
            raw = y.astype("<f4", copy=False).tobytes()
            outputs.append(
                {"name": name, "datatype": "FP32", "shape": shape, "parameters": {"binary_data_size": len(raw)}}
            )
            blobs.append(raw)
        else:
            outputs.append({"name": name, "datatype": "FP32", "shape": shape, "data": y.reshape(-1)})
    response["outputs"] = outputs
    header = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)
