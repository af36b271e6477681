"""The OpenAPI 3 document of every route (hand-kept; tests compare it with the app's url_map and
run schemathesis against it with every check it has, so it cannot drift). V2 shapes follow the Open
Inference Protocol. The request schemas say what the server accepts as far as JSON Schema can: what
they allow is answered (a schema-valid request is not refused), with one exception JSON Schema
cannot express, V2 infer's `data` holding as many numbers as its `shape` multiplies to (and the
binary body's layout): those are 400s, which schemathesis.toml expects of those routes alone. Routes
that answer 501 by design (KServe's :explain, Triton's extensions this server does not have, the
admin routes on a server without a token) document it."""

from __future__ import annotations

from functools import cache

from xorlab import __version__
from xorlab.modelrepo import spec
from xorlab.outcome_words import NOT_SOLVED, OUTCOME_WORDS
from xorlab.serve import unsupported
from xorlab.serve.infer_codec import FP32_MAX
from xorlab.serve.logsettings import SETTINGS


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


ERROR = {"description": 'Error: {"error": message}', "content": _json(_ref("Error"))}
FP32 = {"type": "number", "minimum": -FP32_MAX, "maximum": FP32_MAX}
NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
HTML = {"text/html": {"schema": {"type": "string"}}}
VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}


def _op(
    summary: str,
    ok: dict | None,
    *,
    body: dict | None = None,
    params=(),
    ok_content: dict | None = None,
    security: bool = False,
    body_content: dict | None = None,
    description: str | None = None,
    not_offered: str | None = None,
    body_required: bool = True,
) -> dict:
    """One operation; `not_offered`: when it answers 501 (and only then, with no 200: "always")."""
    op: dict = {"summary": summary, "responses": {"200": {"description": "OK"}, "default": ERROR}}
    if not_offered == "always":
        del op["responses"]["200"]
    if not_offered:
        op["responses"]["501"] = {
            "description": "Not offered here" if not_offered == "always" else not_offered,
            "content": _json(_ref("Error")),
        }
    if description:
        op["description"] = description
    if ok is not None or ok_content is not None:
        op["responses"]["200"]["content"] = ok_content or _json(ok)
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": body_content or _json(body)}
    if security:
        op["security"] = [{"bearer": []}]
    return op


def _model_routes(suffix: str, method: str, op_for) -> dict:
    return {
        f"/v2/models/{{name}}{suffix}": {method: op_for([NAME])},
        f"/v2/models/{{name}}/versions/{{version}}{suffix}": {method: op_for([NAME, VERSION])},
    }


TENSOR_DATA = {
    "type": "array",
    "items": {"anyOf": [{"type": "number"}, {"type": "array"}, {"type": "string"}, {"type": "boolean"}]},
}
PARAMETERS = {
    "type": "object",
    "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
}
_VALUE = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}


def _parameters(**known: dict) -> dict:
    # Only the parameters the server takes (infer_codec.py): any other is refused by name.
    return {"type": "object", "properties": known, "additionalProperties": False}


REPOSITORY_BODY = {
    "type": "object",
    "properties": {"parameters": {"type": "object", "additionalProperties": _VALUE}},
    "description": "Triton's load/unload body, optional. Parameters that would load other files "
    "(config, file:<path>) are refused by name: a load reads the repository on disk.",
}
LOG_SETTINGS = {
    "type": "object",
    "properties": {
        "log_file": {"type": "string"},
        "log_info": {"type": "boolean"},
        "log_warning": {"type": "boolean"},
        "log_error": {"type": "boolean"},
        "log_verbose_level": {"type": "integer", "minimum": 0},
        "log_format": {"type": "string"},
    },
}
SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "ModelReady": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    "ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "MetadataTensor": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "ModelMetadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _ref("MetadataTensor")},
            "outputs": {"type": "array", "items": _ref("MetadataTensor")},
        },
    },
    "InferenceRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": _parameters(
                binary_data_output=_VALUE,
                priority=_VALUE,
                timeout=_VALUE,
                triton_enable_empty_final_response={"type": "boolean"},
            ),
            "inputs": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype"],
                    "description": "The model's one input: x, FP32, shape [N, 2]; 'data' (nested or flat) holds 2N "
                    "numbers, or parameters.binary_data_size gives the length of its binary data (8N bytes).",
                    "properties": {
                        "name": {"enum": ["x"]},
                        "datatype": {"enum": ["FP32"]},
                        "shape": {
                            "type": "array",
                            "minItems": 2,
                            "maxItems": 2,
                            "items": {"type": "integer", "minimum": 1},
                        },
                        "parameters": _parameters(binary_data_size={"type": "integer", "minimum": 0}),
                        "data": TENSOR_DATA,
                    },
                },
            },
            "outputs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"enum": ["y"]}, "parameters": _parameters(binary_data=_VALUE)},
                },
            },
        },
    },
    "InferenceResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": PARAMETERS,
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype"],
                    "properties": {
                        "name": {"type": "string"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "datatype": {"type": "string"},
                        "parameters": PARAMETERS,
                        "data": TENSOR_DATA,
                    },
                },
            },
        },
    },
    "Alive": {"type": "object", "required": ["status"], "properties": {"status": {"enum": ["alive"]}}},
    "ModelConfig": {
        "type": "object",
        "required": ["name", "platform", "backend", "max_batch_size", "input", "output"],
        "description": "Triton's model configuration extension: the model's config.pbtxt, normalized as Triton "
        "does, in Triton's JSON form (protobuf's field names, every field printed, int64 values as numbers).",
        "properties": {
            "name": {"type": "string"},
            "platform": {"type": "string"},
            "backend": {"type": "string"},
            "max_batch_size": {"type": "integer"},
            "version_policy": {"type": "object"},
            "input": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "data_type", "dims"],
                    "properties": {
                        "name": {"type": "string"},
                        "data_type": {"type": "string"},
                        "dims": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            },
            "output": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "data_type", "dims"],
                    "properties": {
                        "name": {"type": "string"},
                        "data_type": {"type": "string"},
                        "dims": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            },
        },
    },
    "Duration": {
        "type": "object",
        "required": ["count", "ns"],
        "properties": {"count": {"type": "integer", "minimum": 0}, "ns": {"type": "integer", "minimum": 0}},
    },
    "ModelStatistics": {
        "type": "object",
        "required": ["model_stats"],
        "description": "Triton's statistics extension, summed over every worker and both protocols.",
        "properties": {
            "model_stats": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "name",
                        "version",
                        "last_inference",
                        "inference_count",
                        "execution_count",
                        "inference_stats",
                    ],
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "last_inference": {"type": "integer", "minimum": 0},
                        "inference_count": {"type": "integer", "minimum": 0},
                        "execution_count": {"type": "integer", "minimum": 0},
                        "inference_stats": {
                            "type": "object",
                            "required": [
                                "success",
                                "fail",
                                "queue",
                                "compute_input",
                                "compute_infer",
                                "compute_output",
                                "cache_hit",
                                "cache_miss",
                            ],
                            "additionalProperties": _ref("Duration"),
                        },
                        "response_stats": {"type": "object"},
                        "batch_stats": {"type": "array"},
                        "memory_usage": {"type": "array"},
                    },
                },
            }
        },
    },
    "RepositoryIndex": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name", "version", "state", "reason"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "state": {"enum": ["READY", "UNAVAILABLE"]},
                "reason": {"type": "string"},
            },
        },
    },
    "V1Models": {
        "type": "object",
        "required": ["models"],
        "properties": {"models": {"type": "array", "items": {"type": "string"}}},
    },
    "V1PredictRequest": {
        "type": "object",
        "required": ["instances"],
        "properties": {
            "instances": {
                "type": "array",
                "minItems": 1,
                "maxItems": spec.MAX_ROWS,
                "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": FP32},
            }
        },
    },
    "V1PredictResponse": {
        "type": "object",
        "required": ["predictions"],
        "properties": {"predictions": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}}},
    },
    "Report": {
        "type": "object",
        "required": ["models", "verdict"],
        "properties": {
            "truth_table": {"type": "object", "nullable": True},
            "models": {"type": "object"},
            "study": {
                "type": "object",
                "nullable": True,
                "description": "The many-seed study: per architecture its success rate "
                "with a Wilson 95% interval, steps to solve, what became of the other seeds "
                f"({', '.join(OUTCOME_WORDS[k] for k in NOT_SOLVED)}); the 16-function capacity table. "
                "Null without one.",
            },
            "pictures": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "url", "title"],
                    "properties": {
                        "path": {"type": "string"},
                        "url": {"type": "string"},
                        "title": {"type": "string"},
                        "alt": {"type": "string", "description": "The picture's finding, in words."},
                        "caption": {"type": "string", "description": "How to read it."},
                        "model": {"type": "string", "nullable": True},
                    },
                },
            },
            "verdict": {"type": "string"},
        },
    },
    "PagePredictForm": {
        "type": "object",
        "required": ["x1", "x2", "model"],
        "maxProperties": 16,
        "properties": {"x1": FP32, "x2": FP32, "model": {"type": "string"}},
    },
    "LogSettings": {**LOG_SETTINGS, "required": list(SETTINGS)},
}


@cache
def document(max_rows: int = spec.MAX_ROWS, admin_token: bool = True) -> dict:
    """The document of a server whose row limit (XORLAB_MAX_ROWS) is `max_rows`, with or without an
    admin token: without one, the admin routes are documented as what they then are, off (501)."""
    infer_ok = {
        "application/json": {"schema": _ref("InferenceResponse")},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    }
    header_length = {
        "name": "Inference-Header-Content-Length",
        "in": "header",
        "required": False,
        "schema": {"type": "integer", "minimum": 1},
        "description": "Triton's binary tensor data extension: the length of the JSON header at the start of an "
        "application/octet-stream body; the inputs' binary data follow it.",
    }
    # Content-Encoding is said in words, not as a header parameter: the body schemas describe the
    # decoded body, and a tool sending `Content-Encoding: gzip` with a body it did not compress is
    # (rightly) refused.
    encoding = (
        "The body may be compressed (Content-Encoding gzip or deflate; identity is none): it is decoded first, "
        "and the body limit holds for the decoded size too (413). Other codings: 415."
    )
    infer_body = {
        "application/json": {"schema": _ref("InferenceRequest")},
        "application/octet-stream": {
            "schema": {
                "type": "string",
                "format": "binary",
                "description": "The JSON header (an InferenceRequest whose inputs carry parameters.binary_data_size), "
                "then each input's little-endian bytes; Inference-Header-Content-Length gives the header's length.",
            }
        },
    }
    admin = "Behind the admin token (XORLAB_ADMIN_TOKEN): 401 without credentials, 403 with wrong ones."
    admin_off = "The server has no admin token: the {} API is off (gRPC answers UNIMPLEMENTED in the same words)"

    def admin_op(api: str, summary: str, ok: dict, **kwargs) -> dict:
        if not admin_token:  # off: no token to send, one answer
            return _op(
                f"{summary}: off on this server (501)",
                None,
                not_offered="always",
                description=admin_off.format(api),
                **{k: v for k, v in kwargs.items() if k in ("params", "body", "body_required")},
            )
        return _op(summary, ok, security=True, not_offered=admin_off.format(api), **kwargs)

    refused = {
        extension: lambda what, e=extension: _op(
            f"Triton's {e} extension: {what}, not supported here (501)",
            None,
            not_offered="always",
            description=unsupported.refuse(e).message,
        )
        for extension in unsupported.NOT_SUPPORTED
    }
    region = {"name": "region", "in": "path", "required": True, "schema": {"type": "string"}}
    shared_memory = {}
    for prefix, extension in (
        ("systemsharedmemory", "system_shared_memory"),
        ("cudasharedmemory", "cuda_shared_memory"),
    ):
        for route, method in (
            ("/status", "get"),
            ("/region/{region}/status", "get"),
            ("/region/{region}/register", "post"),
            ("/unregister", "post"),
            ("/region/{region}/unregister", "post"),
        ):
            op = refused[extension](f"{method.upper()} {route.rsplit('/', 1)[1]}")
            if "{region}" in route:
                op["parameters"] = [region]
            shared_memory[f"/v2/{prefix}{route}"] = {method: op}
    trace = {}
    for path, params in (
        ("/v2/trace/setting", []),
        ("/v2/models/{name}/trace/setting", [NAME]),
        ("/v2/models/{name}/versions/{version}/trace/setting", [NAME, VERSION]),
    ):
        trace[path] = {}
        for method in ("get", "post"):
            op = refused["trace"](f"{method.upper()} trace setting")
            if params:
                op["parameters"] = params
            trace[path][method] = op
    paths = {
        "/v1/models": {"get": _op("KServe V1: list models", _ref("V1Models"))},
        "/v1/models/{name}": {"get": _op("KServe V1: model status", _ref("ModelReady"), params=[NAME])},
        "/v1/models/{name}:predict": {
            "post": _op(
                "KServe V1: predict P(y=1) per row",
                _ref("V1PredictResponse"),
                params=[NAME],
                description=encoding,
                body=_ref("V1PredictRequest"),
            )
        },
        "/v1/models/{name}:explain": {
            "post": _op(
                "KServe V1: explain (not offered: 501; 404 for an unknown model)",
                None,
                params=[NAME],
                body={"type": "object"},
                not_offered="always",
                description="No model here has an explainer: 501, as KServe's own server "
                "answers for a model without one.",
            )
        },
        "/v1/report": {"get": _op("Which architectures solve XOR, with the evidence", _ref("Report"))},
        "/v2": {"get": _op("Server metadata", _ref("ServerMetadata"))},
        "/v2/": {"get": _op("Server metadata", _ref("ServerMetadata"))},
        "/v2/health/live": {"get": _op("Server live", _ref("Live"))},
        "/v2/health/ready": {"get": _op("Server ready", _ref("Ready"))},
        **_model_routes("", "get", lambda p: _op("Model metadata", _ref("ModelMetadata"), params=p)),
        **_model_routes("/ready", "get", lambda p: _op("Model ready", _ref("ModelReady"), params=p)),
        **_model_routes(
            "/infer",
            "post",
            lambda p: _op(
                "Inference (JSON or binary tensor data)",
                None,
                params=[*p, header_length],
                description=encoding,
                body=_ref("InferenceRequest"),
                body_content=infer_body,
                ok_content=infer_ok,
            ),
        ),
        **_model_routes(
            "/config", "get", lambda p: _op("Model configuration (Triton's extension)", _ref("ModelConfig"), params=p)
        ),
        **_model_routes(
            "/stats", "get", lambda p: _op("Model statistics (Triton's extension)", _ref("ModelStatistics"), params=p)
        ),
        "/v2/models/stats": {
            "get": _op("Every ready model's statistics (Triton's extension)", _ref("ModelStatistics"))
        },
        "/v2/repository/index": {"post": _op("Repository index (Triton)", _ref("RepositoryIndex"))},
        "/v2/repository/models/{name}/load": {
            "post": admin_op(
                "repository",
                "Load or reload a model (admin)",
                {"type": "object"},
                params=[NAME],
                description=admin,
                body=REPOSITORY_BODY,
                body_required=False,
            )
        },
        "/v2/repository/models/{name}/unload": {
            "post": admin_op(
                "repository",
                "Unload a model (admin)",
                {"type": "object"},
                params=[NAME],
                description=admin,
                body=REPOSITORY_BODY,
                body_required=False,
            )
        },
        "/v2/logging": {
            "get": admin_op(
                "logging", "Log settings (Triton's logging extension; admin)", _ref("LogSettings"), description=admin
            ),
            "post": admin_op(
                "logging",
                "Change the log settings, in every worker (Triton's logging extension; admin)",
                _ref("LogSettings"),
                body=LOG_SETTINGS,
                body_required=False,
                description=admin + " xorlab's log has one level: a setting it cannot honour (a log file, a verbose "
                "level above 1, Triton's text formats, levels on below one that is off) is a 400.",
            ),
        },
        **trace,
        **shared_memory,
        "/": {
            "get": _op(
                "The report as an HTML page for browsers; KServe V1 server liveness for other clients",
                None,
                ok_content={**HTML, **_json(_ref("Alive"))},
                description="Content negotiation on Accept: HTML when the client ranks text/html above "
                'application/json (browsers do); otherwise, and without an Accept header, {"status": "alive"}.',
            ),
            "post": {
                **_op(
                    "The page's form without JavaScript: the answer for one point, rendered into the page",
                    None,
                    ok_content=HTML,
                ),
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": _ref("PagePredictForm")}},
                },
            },
        },
        "/pictures/{name}": {
            "get": _op(
                "A picture of the report (only those the manifest lists, verified)",
                None,
                params=[NAME],
                ok_content={"image/png": {"schema": {"type": "string", "format": "binary"}}},
            )
        },
        "/static/{name}": {
            "get": _op(
                "The page's stylesheet, script and icon",
                None,
                params=[NAME],
                ok_content={
                    t: {"schema": {"type": "string"}} for t in ("text/css", "text/javascript", "image/svg+xml")
                },
            )
        },
        "/metrics": {"get": _op("Prometheus metrics", None, ok_content={"text/plain": {"schema": {"type": "string"}}})},
        "/openapi.json": {"get": _op("This document", {"type": "object"})},
        "/noop": {
            "post": _op("No-op: reads the body (any) and answers {}; the benchmark's baseline", {"type": "object"})
        },
    }
    schemas = {
        **SCHEMAS,
        "V1PredictRequest": {
            **SCHEMAS["V1PredictRequest"],
            "properties": {
                "instances": {**SCHEMAS["V1PredictRequest"]["properties"]["instances"], "maxItems": max_rows}
            },
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "xorlab",
            "version": __version__,
            "description": "Perceptron vs XOR: KServe V1 and the Open Inference Protocol (V2) over HTTP, with "
            "Triton's binary tensor data, model configuration, statistics, model repository and logging "
            "extensions (the last two behind the admin token). Triton's trace and shared-memory extensions are not "
            "supported: their routes answer 501. The same V2 API is served over gRPC "
            "(inference.GRPCInferenceService) on its own port.",
        },
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
