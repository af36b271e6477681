"""The report page's files: its pictures, only from the repository's checked list (bytes verified
at load time, held in memory), and its CSS, script and icon, only from http/static by a fixed list
of names; each revalidated on every use (a 304 when unchanged, by ETag), since a reload can put new
pictures under the same names."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Blueprint, Response, request

from xorlab.serve.errors import UnknownFile
from xorlab.serve.http import plane

bp = Blueprint("page_files", __name__)

STATIC_DIR = Path(__file__).parent / "static"
STATIC = {  # the only files /static serves, with their types
    "report.css": "text/css; charset=utf-8",
    "report.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
FILE_CACHE = "public, no-cache"


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


def static_url(name: str) -> str:
    # The content hash in the URL: a new release's CSS or script is never mixed with an old page.
    return f"/static/{name}?v={_static(name)[1][:12]}"


def _file(data: bytes, content_type: str, etag: str) -> Response:
    response = Response(data, content_type=content_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = FILE_CACHE
    return response.make_conditional(request)
