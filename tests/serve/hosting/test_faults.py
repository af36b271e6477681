"""Faults of the machine the server runs on, against a real gunicorn: a metrics folder that cannot
be written fails no request and every answer keeps its headers; no writable temporary folder at
start is one clear line, not a traceback."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import requests
import tritonclient.grpc as tg

from tests import ROOT
from tools.live_server import running, wait_until

ROUTES = [
    ("GET", "/v2/health/live", 200),
    ("GET", "/v2/health/ready", 200),
    ("GET", "/v1/models", 200),
    ("POST", "/v1/models/mlp:predict", 200),
    ("POST", "/v2/models/mlp/infer", 200),
    ("GET", "/", 200),
    ("GET", "/v1/report", 200),
    ("GET", "/metrics", 200),
    ("GET", "/nowhere", 404),
]
BODIES = {
    "/v1/models/mlp:predict": {"instances": [[0, 1]]},
    "/v2/models/mlp/infer": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]},
}


def test_a_metrics_folder_that_cannot_be_written_fails_no_request(tmp_path):
    (tmp_path / "run").mkdir()
    with running(tmp_path, ROOT / "models", TMPDIR=str(tmp_path / "run")) as server:
        # The folder becomes a file: nothing can be created in it, by root either.
        (metrics,) = (tmp_path / "run").glob("xorlab-serve-*/metrics")
        shutil.rmtree(metrics)
        metrics.write_text("")
        before = server.workers()
        server.proc.send_signal(signal.SIGHUP)  # new workers must create their metrics files
        wait_until(lambda: len(server.workers()) == 2 and not set(server.workers()) & set(before))
        for method, path, status in ROUTES * 3:
            r = requests.request(method, server.url + path, json=BODIES.get(path), timeout=30)
            assert r.status_code == status, (path, r.text[:200])
            assert r.headers["X-Content-Type-Options"] == "nosniff" and len(r.headers["X-Request-ID"]) == 32
        # gRPC calls too: their samples are lost, not the calls.
        with tg.InferenceServerClient(server.grpc) as client:
            for _ in range(3):
                assert client.is_server_live()
                x = tg.InferInput("x", [1, 2], "FP32")
                x.set_data_from_numpy(np.array([[0, 1]], dtype=np.float32))
                assert client.infer("mlp", [x]).as_numpy("y").shape == (1, 1)
        assert "xorlab_metrics_record_failures_total " in requests.get(server.url + "/metrics", timeout=30).text
    log = server.log.read_text().splitlines()
    assert any("metrics cannot be recorded in this worker" in line for line in log)
    # The one trace a worker logs is that warning's own (why its samples are lost); nothing else.
    assert [
        line for line in log if "Traceback" in line and "metrics cannot be recorded in this worker" not in line
    ] == []


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs util-linux unshare to hide the temporary folders")
def test_no_writable_temporary_folder_at_start_is_one_clear_line(tmp_path):
    # A private mount namespace where every folder Python would use for temporary files is read-only
    # (remounted read-only in place: the checkout may itself live under /tmp).
    readonly = " && ".join(f"mount --bind {d} {d} && mount -o remount,bind,ro {d}" for d in ("/tmp", "/var/tmp"))
    script = (
        f"{readonly} && cd /proc && "
        f"exec {sys.executable} -m xorlab.serve --models {ROOT / 'models'} --bind 127.0.0.1:0 --workers 1"
    )
    try:
        done = subprocess.run(
            ["unshare", "-m", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        )
    except PermissionError:
        pytest.skip("unshare is not permitted here")
    if "unshare failed" in done.stderr or "mount:" in done.stderr:
        pytest.skip(f"cannot make a private mount namespace here: {done.stderr.strip()[:200]}")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("xorlab-serve: error: ")]
    assert errors == [
        "xorlab-serve: error: cannot make the runtime folder for metrics and load/unload state: "
        "No usable temporary directory found in ['/tmp', '/var/tmp', '/usr/tmp', '/proc']; "
        "give the server a writable TMPDIR"
    ]
