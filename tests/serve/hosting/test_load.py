"""Load and faults against a real 2-worker gunicorn, with soak.py's load (short versions of
`python -m tests.serve.hosting.soak`): mixed valid requests with nothing failing and worker memory stable, a
worker killed with SIGKILL, a repository published and reloaded under load, and slow clients."""

from __future__ import annotations

import json
import select
import socket
import threading
import time

import pytest

from tests.serve.hosting import soak

BODY_TIMEOUT = 2  # seconds (XORLAB_BODY_TIMEOUT); short so the slow-client test is short
THREADS = 4


pytestmark = pytest.mark.slow


def _server(tmp_path_factory, **env: str):
    workdir = tmp_path_factory.mktemp("soak")
    with soak.serving_a_copy(workdir, XORLAB_THREADS=str(THREADS), **env) as target:
        yield target
    # Nothing went wrong but the kill itself (gunicorn reports the killed worker as an error).
    errors = [
        line
        for line in (workdir / "server.log").read_text().splitlines()
        if ('"level":"ERROR"' in line or "Traceback" in line) and "SIGKILL" not in line
    ]
    assert errors == []


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    # The default body timeout: a request starved of CPU on a busy machine is not a slow client.
    yield from _server(tmp_path_factory)


@pytest.fixture(scope="module")
def impatient(tmp_path_factory):
    yield from _server(tmp_path_factory, XORLAB_BODY_TIMEOUT=str(BODY_TIMEOUT))


def test_mixed_load_fails_nothing_and_worker_memory_is_stable(target):
    summary = soak.soak(target, seconds=10, connections=32)
    assert soak.guarantees(summary) == []
    assert summary["failed"] == 0 and set(summary["ok"]) == set(soak.MIX)
    assert len(summary["rss"]) == 2  # both workers sampled from warm-up to the end


def test_a_worker_killed_under_load_is_replaced_and_only_its_requests_fail(target):
    summary = soak.soak(target, seconds=6, connections=16, kill_worker=True)
    print(json.dumps({k: summary[k] for k in ("requests", "failed", "event")}))  # the figure, with -s
    assert soak.guarantees(summary, kill_worker=True) == []
    assert summary["event"]["killed"] not in target.workers()
    assert len(target.workers()) == 2
    # Every failure is a connection that died with the worker, never a wrong or 5xx answer.
    assert all(not f["error"][:3].isdigit() for f in summary["failures"])
    assert soak.request(target, *soak.KINDS["v1 mlp"][:4])[0] == 200


def test_a_repository_published_and_reloaded_under_full_load_fails_nothing(target):
    summary = soak.soak(target, seconds=8, connections=32, reload=True)
    assert soak.guarantees(summary) == []
    assert summary["failed"] == 0 and "replaced_at" in summary["event"]


def _slow_client(target, path: bytes, content_type: bytes, body: bytes, replies: list, stop: threading.Event) -> None:
    with socket.create_connection((target.host, target.port), timeout=30) as s:
        s.sendall(
            b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
            % (path, content_type, len(body))
        )
        for i in range(len(body)):  # a byte a second, until the server answers or the test ends
            if select.select([s], [], [], 1.0)[0] or stop.is_set():
                break
            s.sendall(body[i : i + 1])
        reply = b""
        try:
            while data := s.recv(4096):  # the server closes the connection after its answer
                reply += data
        except OSError as exc:
            reply += repr(exc).encode()
        replies.append(reply)


SLOW_BODIES = {  # every route that reads a body reads it under the same deadline
    "api": (b"/v1/models/mlp:predict", b"application/json", json.dumps({"instances": [[0, 1]] * 4}).encode()[:40]),
    "page form": (b"/", b"application/x-www-form-urlencoded", b"x1=0&x2=1&model=mlp&" + b"pad=0&" * 4),
}


@pytest.mark.parametrize("path, content_type, body", SLOW_BODIES.values(), ids=SLOW_BODIES.keys())
def test_slow_clients_do_not_stall_other_requests_beyond_the_body_timeout(impatient, path, content_type, body):
    target = impatient
    # As many slow bodies as the two workers have threads: without a limit on body reading,
    # each holds a thread for its whole 40 s, and the requests below wait that long.
    replies: list[bytes] = []
    stop = threading.Event()
    slow = [
        threading.Thread(target=_slow_client, args=(target, path, content_type, body, replies, stop))
        for _ in range(2 * THREADS)
    ]
    for t in slow:
        t.start()
    time.sleep(1.5)  # the slow requests have reached the app and hold their threads
    try:
        # A request queued behind `THREADS` slow ones in one worker waits for one body timeout;
        # behind all of them (the kernel may give every connection to one worker), two.
        limit = 2 * BODY_TIMEOUT + 10  # generous: a hang detector, not a latency measure
        for _ in range(6):
            start = time.monotonic()
            status, data, _ = soak.request(target, *soak.KINDS["v1 mlp"][:4])
            assert status == 200 and time.monotonic() - start < limit
    finally:
        stop.set()
        for t in slow:
            t.join(timeout=30)
    timed_out = [r for r in replies if r.startswith(b"HTTP/1.1 408")]
    assert len(timed_out) == 2 * THREADS, replies
    assert all(r.endswith(b'\r\n\r\n{"error":"the request body did not arrive within 2 s"}') for r in timed_out), (
        timed_out
    )
