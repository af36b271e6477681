"""Security headers, on every response in one place: browsers must take every answer as the type
it says (no sniffing JSON into HTML), and nothing but the HTML report, under its own policy, may
run or frame anything."""

from __future__ import annotations

from flask import Response

API_CSP = "default-src 'none'; frame-ancestors 'none'"
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
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers.update(PAGE_HEADERS)
    else:
        response.headers.setdefault("Content-Security-Policy", API_CSP)
    return response
