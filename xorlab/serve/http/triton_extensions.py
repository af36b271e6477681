"""Triton's logging extension (`GET`/`POST /v2/logging`, behind the admin token like the repository
API: logsettings.py says how its settings map to xorlab's log level), and Triton's routes for the
extensions this server does not have (trace, system and CUDA shared memory), each answering 501
with the words gRPC answers with (unsupported.py), never a 404 that reads as a wrong address."""

from __future__ import annotations

from flask import Blueprint, Response, request

from xorlab.serve import infer_codec, unsupported
from xorlab.serve.errors import InvalidRequest
from xorlab.serve.http import json_response, plane
from xorlab.serve.http.body import read_body

bp = Blueprint("extensions", __name__, url_prefix="/v2")


@bp.route("/logging", methods=["GET", "POST"])
def logging_settings() -> Response:
    data_plane = plane()
    data_plane.authorize(request.headers.get("Authorization", ""), "logging")
    changes = None
    if request.method == "POST":
        body = read_body()
        changes = infer_codec.parse_json(body) if body.strip() else {}  # Triton takes an empty body too
        if not isinstance(changes, dict):
            raise InvalidRequest('the body must be a JSON object of log settings, e.g. {"log_info": false}')
    return json_response(data_plane.log_settings(changes))


# Triton's HTTP routes for the extensions this server does not have (its http_server.cc).
NOT_SUPPORTED_ROUTES = [
    ("trace", "/trace/setting", ["GET", "POST"]),
    ("trace", "/models/<name>/trace/setting", ["GET", "POST"]),
    ("trace", "/models/<name>/versions/<version>/trace/setting", ["GET", "POST"]),
    *(
        (extension, f"/{prefix}{route}", [method])
        for prefix, extension in (
            ("systemsharedmemory", "system_shared_memory"),
            ("cudasharedmemory", "cuda_shared_memory"),
        )
        for route, method in (
            ("/status", "GET"),
            ("/region/<region>/status", "GET"),
            ("/region/<region>/register", "POST"),
            ("/unregister", "POST"),
            ("/region/<region>/unregister", "POST"),
        )
    ),
]


def _not_supported(extension: str):
    def view(**_: str) -> Response:
        raise unsupported.refuse(extension)

    return view


for _extension, _rule, _methods in NOT_SUPPORTED_ROUTES:
    bp.add_url_rule(_rule, f"{_extension}:{_rule}", _not_supported(_extension), methods=_methods)
