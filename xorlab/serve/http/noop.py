"""`POST /noop`: the benchmarks' baseline (bench/), the floor of this stack: the same app, gunicorn
configuration, request bookkeeping (request id, metrics, log line) and body reading as an inference
request, and no work. Its successes take the inference routes' fast path too (http/fast_path.py),
and this view answers the rest. Always present: it holds nothing and costs nothing."""

from __future__ import annotations

from flask import Blueprint, Response

from xorlab.serve.http import JSON
from xorlab.serve.http.body import read_body

bp = Blueprint("noop", __name__)


@bp.post("/noop")
def noop() -> Response:
    read_body()
    return Response(b"{}", mimetype=JSON)
