"""What xorlab's gunicorn workers put on the wire, and when they let a connection go, in a real
gunicorn: one TCP segment per small answer (xorlab/serve/hosting/one_send.py), and a sync worker that closes a
connection whose request it read whole without waiting for the client (xorlab/serve/hosting/sync_worker.py),
while every refusal of a request it did not read still lingers; and the Date header, made once a
second."""

from __future__ import annotations

import email.utils
import os
import socket
import struct
import subprocess
import sys
import time

import pytest
import requests

from tests import ROOT
from tools.live_server import running

PREDICT = b'{"instances": [[0, 1]]}'
# struct tcp_info (linux/tcp.h): tcpi_data_segs_in, the segments with data this socket received.
DATA_SEGS_IN = 152

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TCP_INFO's segment counts are Linux's")


def predict(extra: bytes = b"") -> bytes:
    return (
        b"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n%s" % (len(PREDICT), PREDICT)
    )


def data_segments_in(sock: socket.socket) -> int:
    return struct.unpack_from("I", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256), DATA_SEGS_IN)[0]


def read_answer(sock: socket.socket) -> bytes:
    """One whole answer (its headers, then Content-Length bytes of body)."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the headers: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(
        next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")).split(b":")[1]
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"closed inside the body: {received!r}"
        body += chunk
    assert len(body) == length, "more bytes than the answer's"
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("worker_class", ["gevent", "sync"])
def test_a_small_answer_is_one_tcp_segment(tmp_path, worker_class):
    # gunicorn writes the header block and the body with two sends on a TCP_NODELAY socket: two
    # segments, and two wake-ups of the client, per answer. Answers under gevent come on one
    # kept-alive connection; under sync, on a connection each.
    count = 20
    with running(tmp_path, ROOT / "models", workers=1, grpc=False, XORLAB_WORKER_CLASS=worker_class) as server:
        segments = []
        if worker_class == "gevent":
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                for _ in range(count):
                    sock.sendall(predict())
                    answer = read_answer(sock)
                    assert answer.startswith(b"HTTP/1.1 200 ") and b'{"predictions"' in answer
                segments.append(data_segments_in(sock))
        else:
            for _ in range(count):
                with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                    sock.sendall(predict())
                    answer = read_answer(sock)
                    assert answer.startswith(b"HTTP/1.1 200 ") and b"\r\nConnection: close\r\n" in answer
                    segments.append(data_segments_in(sock))
    assert sum(segments) == count, f"{sum(segments)} segments with data for {count} answers: {segments}"


@pytest.mark.parametrize("worker_class", ["gevent", "sync"])
def test_large_and_interim_answers_arrive_whole_and_in_order(tmp_path, worker_class):
    rows = [[i % 2, (i // 2) % 2] for i in range(10_000)]
    with running(tmp_path, ROOT / "models", workers=1, grpc=False, XORLAB_WORKER_CLASS=worker_class) as server:
        answer = requests.post(server.url + "/v1/models/mlp:predict", json={"instances": rows}, timeout=30)
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 10_000
        # Expect: 100-continue: the interim answer is sent on its own, before the body is read,
        # and the final answer after it.
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            head, _, body = predict(b"Expect: 100-continue\r\n").partition(b"\r\n\r\n")
            sock.sendall(head + b"\r\n\r\n")
            interim = sock.recv(65536)
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            sock.sendall(body)
            final = read_answer(sock)
            assert final.startswith(b"HTTP/1.1 200 ") and b'{"predictions"' in final
        # An answer with no body at all (gunicorn's header block is then all there is to send).
        assert requests.options(server.url + "/v2/health/ready", timeout=30).status_code == 204


def test_a_client_that_keeps_its_connection_does_not_hold_a_sync_worker(tmp_path):
    # One sync worker. gunicorn's lingering close waits up to 2 s for the client to close after
    # each answer; a client that keeps its connection open after reading the answer would hold
    # the worker that long, and every other client with it.
    with running(tmp_path, ROOT / "models", workers=1, grpc=False, XORLAB_WORKER_CLASS="sync") as server:
        held = []
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            held.append(sock)
            sock.sendall(predict())
            assert read_answer(sock).startswith(b"HTTP/1.1 200 ")
            start = time.monotonic()
            assert requests.post(server.url + "/v1/models/mlp:predict", data=PREDICT, timeout=30).status_code == 200
            waited = time.monotonic() - start
            assert waited < 1.0, f"a fresh request waited {waited:.2f} s behind a connection kept open after its answer"
            assert sock.recv(10) == b"", "the answered connection was not closed by the server"
        for sock in held:
            sock.close()


@pytest.mark.parametrize("worker_class", ["gevent", "sync"])
def test_a_refusal_of_a_body_it_did_not_read_is_not_destroyed_by_a_reset(tmp_path, worker_class):
    # The service refuses the body unread (a 413 from its Content-Length) while 32 kB of it wait
    # in the server's socket: closing the socket then makes the kernel send a reset, which
    # destroys the 413 before the client, still sending, reads it. The worker lingers, reading
    # what arrives, until the client closes (up to 64 kB, 2 s).
    declared = 64 * 1024 * 1024
    with running(tmp_path, ROOT / "models", workers=1, grpc=False, XORLAB_WORKER_CLASS=worker_class) as server:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(
                    b"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n" % declared + b"0" * 32768
                )
                time.sleep(0.3)  # the answer is written, and the connection closed or lingering
                received = b""
                while chunk := sock.recv(65536):  # ConnectionResetError: the answer was destroyed
                    received += chunk
            assert received.startswith(b"HTTP/1.1 413 ") and b"request body too large" in received, received[:200]


def test_the_date_header_is_made_once_a_second_and_is_the_second_it_is_sent_in(monkeypatch):
    from xorlab.serve.hosting import http_date

    formatted = []
    monkeypatch.setattr(http_date, "_date", (-1, ""))
    monkeypatch.setattr(http_date, "_format", lambda t: formatted.append(t) or email.utils.formatdate(t, usegmt=True))
    dates = []
    for now in (1_800_000_000.1, 1_800_000_000.9, 1_800_000_001.0, 1_800_000_001.5, 1_800_000_007.2):
        monkeypatch.setattr(http_date.time, "time", lambda now=now: now)
        dates.append(http_date._http_date())
    seconds = (1_800_000_000, 1_800_000_000, 1_800_000_001, 1_800_000_001, 1_800_000_007)
    assert dates == [email.utils.formatdate(t, usegmt=True) for t in seconds]
    assert formatted == [1_800_000_000, 1_800_000_001, 1_800_000_007]  # once per second seen
    # a given time: as given
    assert http_date._http_date(1_700_000_000.5) == email.utils.formatdate(1_700_000_000.5, usegmt=True)


def test_the_gunicorn_configuration_has_every_worker_class_take_the_cached_date():
    # gthread's Response is gunicorn's own too: the configuration, read before any worker forks, installs it.
    check = (
        "import gunicorn.util as u, xorlab.serve.hosting.gunicorn_config, xorlab.serve.hosting.http_date as w; "
        "assert u.http_date is w._http_date"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("XORLAB_")} | {"XORLAB_GRPC_BIND": ""},
    )
    assert result.returncode == 0, result.stderr
