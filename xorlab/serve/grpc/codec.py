"""ModelInferRequest and ModelInferResponse to and from what the HTTP front end's codecs make.

A request is translated into the V2 JSON structure (tensor contents aside) and checked by the very
code that checks HTTP requests (codecs.decode_v2_request), so both protocols accept and refuse the
same requests with the same words. Tensor data: `raw_input_contents` (what tritonclient sends) is
the binary tensor data extension's bytes; typed `contents.fp32_contents` (what the kserve SDK sends
without binary data) is JSON's 'data'. Outputs always go back in `raw_output_contents`, as Triton
answers (and both clients read).
"""

from __future__ import annotations

import numpy as np

from xorlab.serve import codecs
from xorlab.serve.errors import InvalidRequest, InvalidTensor
from xorlab.serve.proto import service_pb2
from xorlab.serve.runtime import OnnxModel

RAW = "the raw_input_contents size"  # what binary_data_size is called in the gRPC messages


def parameter(value: service_pb2.InferParameter) -> object:
    """An InferParameter as the JSON value it stands for."""
    choice = value.WhichOneof("parameter_choice")
    return None if choice is None else getattr(value, choice)


def _parameters(parameters) -> dict:
    return {key: parameter(value) for key, value in parameters.items()}


def decode_infer(request: service_pb2.ModelInferRequest, model: OnnxModel, max_rows: int) -> codecs.InferRequest:
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
            entry["data"] = _contents(tensor)
        elif tensor.name == model.input_name:
            raise InvalidTensor(f"input '{tensor.name}' has no values: send raw_input_contents or contents.fp32_contents")
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
    return codecs.decode_v2_request(
        structure, raw[0] if raw else b"", model.input_name, model.output_name, max_rows, binary_label=RAW
    )


def _contents(tensor: service_pb2.ModelInferRequest.InferInputTensor) -> list:
    contents = tensor.contents
    filled = [field.name for field, _ in contents.ListFields()]
    if filled != ["fp32_contents"]:
        found = ", ".join(filled) or "nothing"
        raise InvalidTensor(f"input '{tensor.name}' must carry its values in contents.fp32_contents; found {found}")
    return list(contents.fp32_contents)


def encode_infer(model: OnnxModel, request: codecs.InferRequest, y: np.ndarray) -> service_pb2.ModelInferResponse:
    response = service_pb2.ModelInferResponse(model_name=model.name, model_version=model.version, id=request.id or "")
    raw = y.astype("<f4", copy=False).tobytes()
    for name, _binary in request.outputs:  # binary or not, gRPC carries the values raw
        response.outputs.add(name=name, datatype="FP32", shape=y.shape)
        response.raw_output_contents.append(raw)
    return response
