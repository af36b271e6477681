"""gunicorn's own error answers (a malformed request line, headers too large or malformed, a bad
Content-Length or chunk size: everything it refuses before the app sees the request) as JSON
`{"error": "..."}` like the app's, instead of its HTML page.

gunicorn has no setting for this: its workers call `gunicorn.util.write_error` with the status,
reason and message, and that function writes the HTML. The config module replaces it (in the
master, before the fork, so every worker has it); the status codes and the log lines stay
gunicorn's. tests/serve/http/test_hostile_input.py checks that it still takes effect with the pinned
gunicorn.
"""

from __future__ import annotations

import orjson

from xorlab.serve.hosting import internals


def write_json_error(sock, status_int: int, reason: str, mesg: str, extra: tuple[tuple[str, str], ...] = ()) -> None:
    # Imported here: this module is installed in the gunicorn master, which never loads the app.
    from xorlab.serve.http.security_headers import API_HEADERS

    message = f"{reason.lower()}: {mesg}" if mesg else reason.lower()
    body = orjson.dumps({"error": message})
    security = "".join(f"{name}: {value}\r\n" for name, value in (*extra, *API_HEADERS))
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"{security}Content-Length: {len(body)}\r\n\r\n"
    )
    internals.write_nonblock(sock, head.encode("latin-1") + body)


def install() -> None:
    internals.replace_error_writer(write_json_error)
