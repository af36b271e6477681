"""The report over HTTP: `GET /v1/report` as JSON, and as a web page: `GET /` renders the verdict,
the tables and the pictures server-side (Jinja2, http/templates), so everything but the form's live
answer works without JavaScript; `POST /` is the form's no-JavaScript path (the answer rendered
into the page).

Its pictures and static files are page_files.py's, its template filters page_filters.py's. The
HTML carries a strict Content-Security-Policy (http/security_headers.py): nothing inline, nothing from
another origin.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qsl

from flask import Blueprint, Response, render_template, request

from xorlab.modelrepo import spec
from xorlab.outcome_words import NOT_SOLVED, OUTCOME_WORDS
from xorlab.percentages import shared_decimals
from xorlab.serve import infer_codec
from xorlab.serve.errors import InvalidRequest
from xorlab.serve.http import infer, json_response, page_files, plane
from xorlab.serve.http.body import read_body
from xorlab.serve.http.page_filters import FILTERS
from xorlab.serve.report_data import build_report

bp = Blueprint("report", __name__, template_folder="templates")
for _name, _filter in FILTERS.items():
    bp.add_app_template_filter(_filter, _name)


@bp.get("/v1/report")
def report() -> Response:
    return json_response(build_report(plane().registry))


@bp.get("/")
def page() -> Response | str:
    """The report's page for a browser; for any other client, KServe V1's server liveness
    `{"status": "alive"}` (the kserve SDK's is_server_live asks `GET /` with `Accept: */*`). HTML
    only when the client ranks it above JSON, as browsers do; no Accept header means no preference."""
    if (
        request.accept_mimetypes.best_match(["application/json", "text/html"], default="application/json")
        == "text/html"
    ):
        response = Response(_render(), mimetype="text/html")
    else:
        response = json_response({"status": "alive"})
    response.vary.add("Accept")  # one URL, two representations: caches must key on Accept
    return response


@bp.post("/")
def page_predict() -> str:
    """The form without JavaScript: one point through one model, the answer in the page. Bad
    input is a JSON 4xx like every API error (a browser's form cannot send any)."""
    form = _form()
    x1, x2 = _coordinate(form, "x1"), _coordinate(form, "x2")
    name = form.get("model", "")
    point = infer_codec.InferRequest(None, infer_codec.to_float32([[x1, x2]], "the point"), [])
    _, _, y = infer(name, None, lambda model: point)  # 404 unknown, 503 not ready; counted in the model's metrics
    p = float(y[0, 0])
    return _render(answer={"model": name, "x1": x1, "x2": x2, "p": p})


def _form() -> dict[str, str]:
    # The body through read_body, as every route reads one: within its size and time limits
    # (request.form would read it with neither).
    try:
        return dict(parse_qsl(read_body().decode("utf-8", "replace"), max_num_fields=16))
    except ValueError:
        raise InvalidRequest("the form has too many fields; expected x1, x2 and model") from None


def _coordinate(form: dict[str, str], field: str) -> float:
    raw = form.get(field, "").strip()
    try:
        value = float(raw)
    except ValueError:
        raise InvalidRequest(f"form field '{field}' must be a number, got {infer_codec.quoted(raw, 40)}") from None
    if not math.isfinite(value):
        raise InvalidRequest(f"form field '{field}' must be a finite number")
    return value


def _render(answer: dict | None = None) -> str:
    return render_page(build_report(plane().registry), answer)


def render_page(report: dict, answer: dict | None = None) -> str:
    """The page for a report as `build_report` makes it (and `answer`, the form's, if any)."""
    models = list(report["models"].values())
    return render_template(
        "report.html",
        report=report,
        study=report["study"],
        pictures=report["pictures"],
        choices=[m["name"] for m in models if m["ready"]],
        served_seed=_served_seed(models),
        answer=answer,
        static=page_files.static_url,
        TIE=f"{spec.TIE_TOLERANCE:g}",
        digits=shared_decimals(report["study"]["architectures"].values()) if report["study"] else 1,
        NOT_SOLVED=NOT_SOLVED,
        OUTCOME_WORDS=OUTCOME_WORDS,
    )


def _served_seed(models: list[dict]) -> int | None:
    """The training seed the served models share, if they share one (a refused entry's is not known)."""
    seeds = {(m["training"] or {}).get("seed") if isinstance(m["training"], dict) else None for m in models}
    return seeds.pop() if len(seeds) == 1 else None
