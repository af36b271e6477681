"""`python -m bench.app_cpu`: CPU time per request inside the Flask app alone (no HTTP, no
gunicorn), each benchmark request called as WSGI; prints one JSON object. Run as its own process
by bench/__main__.py, with the server's multiprocess metrics and runtime folder set up as
gunicorn's master would, so the bookkeeping costs what it costs in a worker."""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import time


def main() -> None:
    runtime = tempfile.mkdtemp(prefix="xorlab-bench-")
    os.mkdir(os.path.join(runtime, "metrics"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.path.join(runtime, "metrics")
    os.environ["XORLAB_RUNTIME_DIR"] = runtime
    from bench.payloads import RIVAL_KEYS, xorlab_scenarios
    from xorlab.serve.app import create_app

    app = create_app({"models": sys.argv[1] if len(sys.argv) > 1 else "models"})
    # behind the inference routes' fast path (serve/http/fast_path.py)
    flask_alone = getattr(app.wsgi_app, "flask", None)
    results = {}
    jobs = [(scenario.key, scenario, app) for scenario in xorlab_scenarios()]
    if flask_alone is not None:  # the same one-row requests through Flask: what the fast path saves
        jobs += [(f"{s.key}_flask", s, flask_alone) for s in xorlab_scenarios() if s.key in RIVAL_KEYS]
    for key, scenario, wsgi in jobs:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": scenario.path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "CONTENT_LENGTH": str(len(scenario.body)),
            "CONTENT_TYPE": scenario.content_type,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if scenario.header_length is not None:
            environ["HTTP_INFERENCE_HEADER_CONTENT_LENGTH"] = str(scenario.header_length)

        def call(wsgi=wsgi, environ=environ, scenario=scenario) -> None:
            status = []
            body = wsgi(environ | {"wsgi.input": io.BytesIO(scenario.body)}, lambda s, h: status.append(s))
            b"".join(body)
            getattr(body, "close", lambda: None)()
            assert status[0].startswith("200"), status

        calls = 20 if scenario.key.endswith("10k") else 500
        call()
        samples = []
        for _ in range(5):  # the least of 5: other load on the machine only ever adds
            t0 = time.process_time()
            for _ in range(calls):
                call()
            samples.append((time.process_time() - t0) / calls * 1e6)
        results[key] = min(samples)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
