"""Security headers, on every response in one place: browsers must take every answer as the type
it says (no sniffing JSON into HTML), and nothing but the HTML report, under its own policy, may
run or frame anything."""

from __future__ import annotations

from flask import Response

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# What every answer but the HTML report carries: Flask's hook below, the fast path (http/fast_path.py)
# and gunicorn's own error answers (hosting/error_pages.py) all write these.
API_HEADERS = (("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", API_CSP))
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # rendered from the repository, which a reload can change
}


def secure(response: Response) -> Response:
    headers = response.headers
    if response.mimetype == "text/html":
        headers["X-Content-Type-Options"] = "nosniff"
        headers.update(PAGE_HEADERS)
    else:
        for name, value in API_HEADERS:
            headers.setdefault(name, value)
    return response
