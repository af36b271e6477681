"""xorlab's gevent worker (xorlab/serve/hosting/gevent_worker.py) in a real gunicorn: every connection of a
worker in one thread, so what one connection does must not decide when the others are served,
and what one request marks must stay with that request."""

from __future__ import annotations

import json
import select
import signal
import socket
import time

import pytest

from tests import ROOT
from tools.live_server import running

PREDICT = b'{"instances": [[0, 1]]}'


def predict(request_id: str) -> bytes:
    return (
        b"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Request-ID: %s\r\nContent-Length: %d\r\n\r\n%s" % (request_id.encode(), len(PREDICT), PREDICT)
    )


def read_answers(sock: socket.socket, count: int) -> bytes:
    received = b""
    while received.count(b'{"predictions"') < count:  # each answer's body, whole
        data = sock.recv(1 << 20)
        assert data, f"connection closed after {received.count(b'HTTP/1.1 ')} of {count} answers: {received[-500:]!r}"
        received += data
    return received


def served_order(log: str) -> list[str]:
    """The request ids of the access lines, in the order the worker finished them."""
    ids = []
    for line in log.splitlines():
        if line.startswith("{") and '"request_id"' in line and '"status"' in line:
            ids.append(json.loads(line)["request_id"])
    return ids


@pytest.mark.slow
def test_a_client_with_requests_queued_does_not_keep_the_others_waiting(tmp_path):
    # One worker, two keep-alive connections. `busy` has 400 requests waiting in its socket
    # (pipelined): its greenlet never has to wait for a read, so without a yield after each
    # request it serves all 400 before the worker looks at `other`, whose one request arrived
    # just after them.
    pipelined = 400
    with running(tmp_path, ROOT / "models", workers=1, grpc=False, XORLAB_WORKER_CLASS="gevent") as server:
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=60) as busy,
            socket.create_connection(("127.0.0.1", server.port), timeout=60) as other,
        ):
            time.sleep(0.5)  # both connections accepted, each greenlet waiting for a request
            busy.sendall(b"".join(predict(f"busy-{i}") for i in range(pipelined)))
            other.sendall(predict("other"))
            read_answers(other, 1)
            read_answers(busy, pipelined)
    order = [rid for rid in served_order(server.log.read_text()) if rid.startswith(("busy-", "other"))]
    assert sorted(order) == sorted(["other"] + [f"busy-{i}" for i in range(pipelined)])
    # With a turn for every ready connection after each request, `other` waits for a few of
    # `busy`'s requests at most; without it, for all of them.
    assert order.index("other") < pipelined // 2, order.index("other")


@pytest.mark.slow
def test_a_connection_closed_for_its_unread_body_is_that_requests_connection(tmp_path):
    # `slow` sends half its body and stops: its greenlet waits in the read while `quick`'s request
    # starts and ends on another connection of the same worker (same thread). At the body
    # deadline `slow` gets its 408 and, its body unread, its connection must close; the state
    # saying which request is in progress must be the greenlet's, not the thread's (`quick`'s
    # end would have erased it).
    body = json.dumps({"instances": [[0, 1]] * 4}).encode()
    with running(
        tmp_path, ROOT / "models", workers=1, grpc=False, XORLAB_WORKER_CLASS="gevent", XORLAB_BODY_TIMEOUT="2"
    ) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
            slow.sendall(
                b"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body[: len(body) // 2])
            )
            time.sleep(0.5)  # the slow request is inside the app, reading
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as quick:
                quick.sendall(predict("quick"))
                assert read_answers(quick, 1).startswith(b"HTTP/1.1 200")
            reply = b""
            while data := slow.recv(65536):  # only the server's close ends this
                reply += data
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert b"\r\nConnection: close\r\n" in reply, reply


@pytest.mark.slow
def test_slow_headers_are_cut_after_the_keepalive_time(tmp_path):
    # A request's line and headers must arrive within XORLAB_KEEPALIVE seconds under gevent (gunicorn
    # reads them inside a gevent.Timeout); gthread would wait as long as the client keeps sending.
    lines = [b"POST /v1/models/mlp:predict HTTP/1.1\r\n", b"Host: x\r\n"] + [b"X-Pad-%d: y\r\n" % i for i in range(30)]
    with running(
        tmp_path, ROOT / "models", workers=1, grpc=False, XORLAB_WORKER_CLASS="gevent", XORLAB_KEEPALIVE="2"
    ) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as slow:
            sent = 0
            try:
                for line in lines:  # a line every half second: 16 s for them all
                    slow.sendall(line)
                    sent += 1
                    if select.select([slow], [], [], 0.5)[0]:
                        break  # the server has closed the connection (or answered)
                reply = slow.recv(65536)
            except ConnectionResetError:
                reply = b""
    assert sent < len(lines), "the server waited for every header line"
    assert reply == b"", reply


@pytest.mark.slow
def test_a_stopping_worker_closes_idle_connections_without_waiting_out_their_keepalive(tmp_path):
    # Keep-alive 60 s, graceful timeout 30 s: a stopping worker that waited for its idle connections'
    # keep-alive to run out would hold them past the socket timeout below (20 s). It gives them
    # STOP_LINGER seconds, in which a request that arrives is still answered (and the connection
    # then closed), then closes them.
    env = {"XORLAB_WORKER_CLASS": "gevent", "XORLAB_KEEPALIVE": "60", "XORLAB_GRACEFUL_TIMEOUT": "30"}
    with running(tmp_path, ROOT / "models", workers=1, grpc=False, **env) as server:
        with (
            socket.create_connection(("127.0.0.1", server.port), timeout=20) as idle,
            socket.create_connection(("127.0.0.1", server.port), timeout=20) as late,
        ):
            for sock, rid in ((idle, "idle"), (late, "late-1")):
                sock.sendall(predict(rid))
                read_answers(sock, 1)
            time.sleep(0.5)  # both greenlets are waiting for a next request, with 60 s to go
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)  # the worker is stopping, within the linger
            late.sendall(predict("late-2"))
            reply = b""
            while data := late.recv(65536):
                reply += data
            assert reply.startswith(b"HTTP/1.1 200") and b"\r\nConnection: close\r\n" in reply, reply
            assert idle.recv(65536) == b""  # closed by the server, not by the socket timeout
        assert server.proc.wait(timeout=30) == 0
