"""The report over HTTP: `GET /v1/report` as JSON, and as a web page: `GET /` renders the verdict,
the tables and the pictures server-side (Jinja2, http/templates), so everything but the form's live
answer works without JavaScript; `POST /` is the form's no-JavaScript path (the answer rendered
into the page).

Pictures come only from the repository's checked list (bytes verified at load time, held in
memory); the CSS, the script and the icon only from http/static by a fixed list of names. The
HTML carries a strict Content-Security-Policy (http/security_headers.py): nothing inline, nothing from
another origin.
"""

from __future__ import annotations

import hashlib
import math
from functools import cache
from pathlib import Path
from urllib.parse import parse_qsl

from flask import Blueprint, Response, render_template, request

from xorlab.modelrepo import spec
from xorlab.outcome_words import NOT_SOLVED, OUTCOME_WORDS
from xorlab.percentages import decimals, interval, percent, shared_decimals
from xorlab.serve import infer_codec
from xorlab.serve.errors import InvalidRequest, UnknownFile
from xorlab.serve.http import plane, infer, json_response
from xorlab.serve.http.body import read_body
from xorlab.serve.report_data import build_report

bp = Blueprint("report", __name__, template_folder="templates")

STATIC_DIR = Path(__file__).parent / "static"
STATIC = {  # the only files /static serves, with their types
    "report.css": "text/css; charset=utf-8",
    "report.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# Pictures and static files: revalidated on every use (a 304 when unchanged, by ETag), since a
# reload can put new pictures under the same names.
FILE_CACHE = "public, no-cache"


@bp.get("/v1/report")
def report() -> Response:
    return json_response(build_report(plane().registry))


@bp.get("/")
def page() -> Response | str:
    """The report's page for a browser; for any other client, KServe V1's server liveness
    `{"status": "alive"}` (the kserve SDK's is_server_live asks `GET /` with `Accept: */*`). HTML
    only when the client ranks it above JSON, as browsers do; no Accept header means no preference."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"], default="application/json") == "text/html":
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
        static=_static_url,
        TIE=f"{spec.TIE_TOLERANCE:g}",
        digits=shared_decimals(report["study"]["architectures"].values()) if report["study"] else 1,
        NOT_SOLVED=NOT_SOLVED,
        OUTCOME_WORDS=OUTCOME_WORDS,
    )


def _served_seed(models: list[dict]) -> int | None:
    """The training seed the served models share, if they share one (a refused entry's is not known)."""
    seeds = {(m["training"] or {}).get("seed") if isinstance(m["training"], dict) else None for m in models}
    return seeds.pop() if len(seeds) == 1 else None


@bp.get("/pictures/<name>")
def picture(name: str) -> Response:
    found = plane().registry.pictures.get(name)
    if found is None:
        raise UnknownFile(f"no picture '{name[:100]}'; the report's pictures are listed in /v1/report")
    return _file(found.data, "image/png", found.picture.sha256)


@bp.get("/static/<name>")
def static(name: str) -> Response:
    if name not in STATIC:
        raise UnknownFile(f"no static file '{name[:100]}'")
    data, etag = _static(name)
    return _file(data, STATIC[name], etag)


@cache
def _static(name: str) -> tuple[bytes, str]:
    data = (STATIC_DIR / name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def _static_url(name: str) -> str:
    # The content hash in the URL: a new release's CSS or script is never mixed with an old page.
    return f"/static/{name}?v={_static(name)[1][:12]}"


def _file(data: bytes, content_type: str, etag: str) -> Response:
    response = Response(data, content_type=content_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = FILE_CACHE
    return response.make_conditional(request)


# ---- formatting for the template ---------------------------------------------------------------


@bp.app_template_filter("pct")
def _pct(share: float | None, digits: int | list[float] = 1) -> str:
    """A share as a percentage, with `digits` decimals, or as many as an interval (ci95) needs."""
    if share is None:
        return "–"
    return f"{percent(share, decimals(digits) if isinstance(digits, list) else digits)}%"


@bp.app_template_filter("ci")
def _ci(ci95: list[float], digits: int | None = None) -> str:
    return interval(ci95, digits).removeprefix("95% CI ")


@bp.app_template_filter("side")
def _side(p: float, target: float) -> str:
    return spec.side(p, target)


@bp.app_template_filter("why_not")
def _why_not(model: dict) -> str:
    """Why a served model did not solve XOR, in a few words."""
    layers = model.get("layers")
    if isinstance(layers, list) and len(layers) == 2:
        return "cannot"
    outcome = model.get("outcome")
    return OUTCOME_WORDS[outcome] if outcome in NOT_SOLVED else ""


@bp.app_template_filter("num")
def _num(value: object) -> str:
    # A refused model's manifest entry is shown as written, so its fields may be anything.
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    return f"{value:.4g}"


@bp.app_template_filter("steps")
def _steps(value: float | None) -> str:
    return "–" if value is None else f"{round(value):,}"


@bp.app_template_filter("network")
def _network(layers: object) -> str:
    if not isinstance(layers, list) or not layers or not all(isinstance(n, int) for n in layers):
        return "?"
    return "→".join(str(n) for n in layers)


@bp.app_template_filter("heat")
def _heat(rate: dict) -> str:
    """The capacity table's colour class, in steps that keep every seed (100%) apart from nearly
    every seed (88%); no inline styles, which the CSP forbids."""
    if rate["successes"] == rate["n"]:
        return "heat-all"
    if rate["successes"] == 0:
        return "heat-none"
    return "heat-most" if rate["rate"] >= 0.9 else "heat-half" if rate["rate"] >= 0.5 else "heat-few"
