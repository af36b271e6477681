"""The floor of the stack: a raw WSGI hello-world under xorlab's own gunicorn settings
(bench/hello_gunicorn_conf.py). It reads the body and answers `{}`, like xorlab's no-op route, with no
Flask, no routing and no bookkeeping: what gunicorn, the kernel and the HTTP round trip cost alone."""

_HEADERS = [("Content-Type", "application/json"), ("Content-Length", "2")]


def app(environ, start_response):
    length = environ.get("CONTENT_LENGTH")
    if length:
        environ["wsgi.input"].read(int(length))
    start_response("200 OK", _HEADERS)
    return [b"{}"]
