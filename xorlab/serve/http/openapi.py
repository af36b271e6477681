"""The OpenAPI 3 document of every route (hand-kept; tests compare it with the app's url_map and
run schemathesis against it, so it cannot drift). V2 shapes follow the Open Inference Protocol."""

from __future__ import annotations

from functools import cache

from xorlab import __version__


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


ERROR = {"description": "Error: {\"error\": message}", "content": _json(_ref("Error"))}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
HTML = {"text/html": {"schema": {"type": "string"}}}
VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}


def _op(summary: str, ok: dict | None, *, body: dict | None = None, params=(), ok_content: dict | None = None,
        security: bool = False, body_content: dict | None = None, description: str | None = None) -> dict:  # fmt: skip
    op: dict = {"summary": summary, "responses": {"200": {"description": "OK"}, "default": ERROR}}
    if description:
        op["description"] = description
    if ok is not None or ok_content is not None:
        op["responses"]["200"]["content"] = ok_content or _json(ok)
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": True, "content": body_content or _json(body)}
    if security:
        op["security"] = [{"bearer": []}]
    return op


def _model_routes(suffix: str, method: str, op_for) -> dict:
    return {
        f"/v2/models/{{name}}{suffix}": {method: op_for([NAME])},
        f"/v2/models/{{name}}/versions/{{version}}{suffix}": {method: op_for([NAME, VERSION])},
    }


TENSOR_DATA = {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "array"}, {"type": "string"}, {"type": "boolean"}]}}
PARAMETERS = {"type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}}
SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "ModelReady": {"type": "object", "required": ["name", "ready"], "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}},
    "ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"], "properties": {
        "name": {"type": "string"}, "version": {"type": "string"}, "extensions": {"type": "array", "items": {"type": "string"}}}},
    "MetadataTensor": {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}}}},
    "ModelMetadata": {"type": "object", "required": ["name", "platform", "inputs", "outputs"], "properties": {
        "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}}, "platform": {"type": "string"},
        "inputs": {"type": "array", "items": _ref("MetadataTensor")}, "outputs": {"type": "array", "items": _ref("MetadataTensor")}}},
    "InferenceRequest": {"type": "object", "required": ["inputs"], "properties": {
        "id": {"type": "string"}, "parameters": PARAMETERS,
        "inputs": {"type": "array", "items": {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
            "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}}, "datatype": {"type": "string"},
            "parameters": PARAMETERS, "data": TENSOR_DATA}}},
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string"}, "parameters": PARAMETERS}}}}},
    "InferenceResponse": {"type": "object", "required": ["model_name", "outputs"], "properties": {
        "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"}, "parameters": PARAMETERS,
        "outputs": {"type": "array", "items": {"type": "object", "required": ["name", "shape", "datatype"], "properties": {
            "name": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}}, "datatype": {"type": "string"},
            "parameters": PARAMETERS, "data": TENSOR_DATA}}}}},
    "Alive": {"type": "object", "required": ["status"], "properties": {"status": {"enum": ["alive"]}}},
    "ModelConfig": {"type": "object", "required": ["name", "platform", "backend", "max_batch_size", "input", "output"],
                    "description": "Triton's model configuration extension: the model's config.pbtxt, normalized as Triton does, in "
                                   "Triton's JSON form (protobuf's field names, every field printed, int64 values as numbers).",
                    "properties": {
        "name": {"type": "string"}, "platform": {"type": "string"}, "backend": {"type": "string"}, "max_batch_size": {"type": "integer"},
        "version_policy": {"type": "object"},
        "input": {"type": "array", "items": {"type": "object", "required": ["name", "data_type", "dims"], "properties": {
            "name": {"type": "string"}, "data_type": {"type": "string"}, "dims": {"type": "array", "items": {"type": "integer"}}}}},
        "output": {"type": "array", "items": {"type": "object", "required": ["name", "data_type", "dims"], "properties": {
            "name": {"type": "string"}, "data_type": {"type": "string"}, "dims": {"type": "array", "items": {"type": "integer"}}}}}}},
    "Duration": {"type": "object", "required": ["count", "ns"], "properties": {
        "count": {"type": "integer", "minimum": 0}, "ns": {"type": "integer", "minimum": 0}}},
    "ModelStatistics": {"type": "object", "required": ["model_stats"], "description": "Triton's statistics extension, summed over "
                        "every worker and both protocols.", "properties": {"model_stats": {"type": "array", "items": {
        "type": "object", "required": ["name", "version", "last_inference", "inference_count", "execution_count", "inference_stats"],
        "properties": {
            "name": {"type": "string"}, "version": {"type": "string"}, "last_inference": {"type": "integer", "minimum": 0},
            "inference_count": {"type": "integer", "minimum": 0}, "execution_count": {"type": "integer", "minimum": 0},
            "inference_stats": {"type": "object", "required": [
                "success", "fail", "queue", "compute_input", "compute_infer", "compute_output", "cache_hit", "cache_miss"],
                "additionalProperties": _ref("Duration")},
            "response_stats": {"type": "object"}, "batch_stats": {"type": "array"}, "memory_usage": {"type": "array"}}}}}},
    "RepositoryIndex": {"type": "array", "items": {"type": "object", "required": ["name", "version", "state", "reason"], "properties": {
        "name": {"type": "string"}, "version": {"type": "string"}, "state": {"enum": ["READY", "UNAVAILABLE"]}, "reason": {"type": "string"}}}},
    "V1Models": {"type": "object", "required": ["models"], "properties": {"models": {"type": "array", "items": {"type": "string"}}}},
    "V1PredictRequest": {"type": "object", "required": ["instances"], "properties": {
        "instances": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}},
    "V1PredictResponse": {"type": "object", "required": ["predictions"], "properties": {
        "predictions": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}}}},
    "Report": {"type": "object", "required": ["models", "verdict"], "properties": {
        "truth_table": {"type": "object", "nullable": True}, "models": {"type": "object"},
        "study": {"type": "object", "nullable": True, "description": "The many-seed study: per architecture its success rate "
                  "with a Wilson 95% interval, steps to solve, what became of the other seeds (still improving, stuck at ln 2, "
                  "in a local minimum); the 16-function capacity table. Null without one."},
        "pictures": {"type": "array", "items": {"type": "object", "required": ["path", "url", "title"], "properties": {
            "path": {"type": "string"}, "url": {"type": "string"}, "title": {"type": "string"},
            "alt": {"type": "string", "description": "The picture's finding, in words."},
            "caption": {"type": "string", "description": "How to read it."},
            "model": {"type": "string", "nullable": True}}}},
        "verdict": {"type": "string"}}},
    "PagePredictForm": {"type": "object", "required": ["x1", "x2", "model"], "properties": {
        "x1": {"type": "number"}, "x2": {"type": "number"}, "model": {"type": "string"}}},
}  # fmt: skip


@cache
def document() -> dict:
    infer_ok = {
        "application/json": {"schema": _ref("InferenceResponse")},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    }
    header_length = {"name": "Inference-Header-Content-Length", "in": "header", "required": False, "schema": {"type": "integer", "minimum": 1},
                     "description": "Triton's binary tensor data extension: the length of the JSON header at the start of an "
                                    "application/octet-stream body; the inputs' binary data follow it."}
    encoding = {"name": "Content-Encoding", "in": "header", "required": False, "schema": {"enum": ["gzip", "deflate", "identity"]},
                "description": "A compressed body is decoded first; the body limit holds for the decoded size too (413). "
                               "Other codings: 415."}
    infer_body = {
        "application/json": {"schema": _ref("InferenceRequest")},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary", "description":
            "The JSON header (an InferenceRequest whose inputs carry parameters.binary_data_size), then each input's "
            "little-endian bytes; Inference-Header-Content-Length gives the header's length."}},
    }
    admin = ("Present only when the server has an admin token (XORLAB_ADMIN_TOKEN); without one this route does not "
             "exist and answers 404 like any unknown route.")
    paths = {
        "/v1/models": {"get": _op("KServe V1: list models", _ref("V1Models"))},
        "/v1/models/{name}": {"get": _op("KServe V1: model status", _ref("ModelReady"), params=[NAME])},
        "/v1/models/{name}:predict": {"post": _op("KServe V1: predict P(y=1) per row", _ref("V1PredictResponse"), params=[NAME, encoding],
                                                  body=_ref("V1PredictRequest"))},
        "/v1/models/{name}:explain": {"post": _op("KServe V1: explain (not offered: 501; 404 for an unknown model)", None, params=[NAME],
                                                  body={"type": "object"})},
        "/v1/report": {"get": _op("Which architectures solve XOR, with the evidence", _ref("Report"))},
        "/v2": {"get": _op("Server metadata", _ref("ServerMetadata"))},
        "/v2/": {"get": _op("Server metadata", _ref("ServerMetadata"))},
        "/v2/health/live": {"get": _op("Server live", _ref("Live"))},
        "/v2/health/ready": {"get": _op("Server ready", _ref("Ready"))},
        **_model_routes("", "get", lambda p: _op("Model metadata", _ref("ModelMetadata"), params=p)),
        **_model_routes("/ready", "get", lambda p: _op("Model ready", _ref("ModelReady"), params=p)),
        **_model_routes("/infer", "post", lambda p: _op("Inference (JSON or binary tensor data)", None, params=[*p, header_length, encoding],
                                                         body=_ref("InferenceRequest"), body_content=infer_body, ok_content=infer_ok)),
        **_model_routes("/config", "get", lambda p: _op("Model configuration (Triton's extension)", _ref("ModelConfig"), params=p)),
        **_model_routes("/stats", "get", lambda p: _op("Model statistics (Triton's extension)", _ref("ModelStatistics"), params=p)),
        "/v2/models/stats": {"get": _op("Every ready model's statistics (Triton's extension)", _ref("ModelStatistics"))},
        "/v2/repository/index": {"post": _op("Repository index (Triton)", _ref("RepositoryIndex"))},
        "/v2/repository/models/{name}/load": {"post": _op("Load or reload a model (admin)", {"type": "object"}, params=[NAME], security=True,
                                                          description=admin)},
        "/v2/repository/models/{name}/unload": {"post": _op("Unload a model (admin)", {"type": "object"}, params=[NAME], security=True,
                                                            description=admin)},
        "/": {
            "get": _op("The report as an HTML page for browsers; KServe V1 server liveness for other clients", None,
                       ok_content={**HTML, **_json(_ref("Alive"))},
                       description="Content negotiation on Accept: HTML when the client ranks text/html above application/json "
                                   "(browsers do); otherwise, and without an Accept header, {\"status\": \"alive\"}."),
            "post": {**_op("The page's form without JavaScript: the answer for one point, rendered into the page", None, ok_content=HTML),
                     "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": _ref("PagePredictForm")}}}},
        },
        "/pictures/{name}": {"get": _op("A picture of the report (only those the manifest lists, verified)", None, params=[NAME],
                                        ok_content={"image/png": {"schema": {"type": "string", "format": "binary"}}})},
        "/static/{name}": {"get": _op("The page's stylesheet, script and icon", None, params=[NAME], ok_content={
            t: {"schema": {"type": "string"}} for t in ("text/css", "text/javascript", "image/svg+xml")})},
        "/metrics": {"get": _op("Prometheus metrics", None, ok_content={"text/plain": {"schema": {"type": "string"}}})},
        "/openapi.json": {"get": _op("This document", {"type": "object"})},
        "/noop": {"post": _op("No-op: reads the body (any) and answers {}; the benchmark's baseline", {"type": "object"})},
    }  # fmt: skip
    return {
        "openapi": "3.0.3",
        "info": {"title": "xorlab", "version": __version__, "description": "Perceptron vs XOR: KServe V1 and the Open Inference Protocol (V2) over HTTP, with "
                 "Triton's binary tensor data, model configuration and statistics extensions. The same V2 API is served "
                 "over gRPC (inference.GRPCInferenceService) on its own port."},
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
