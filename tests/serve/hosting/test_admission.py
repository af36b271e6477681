"""What a hostile client can make a worker hold, and for how long (docs/reliability.md, "Round
three"): against a real 2-worker gunicorn on loopback, each attack of the round-three report run as
it was reported, with the workers' peak memory read from /proc (VmHWM, reset before each attack)
and fresh clients served while it lasts. Raw HTTP/2 (tests/serve/h2grpc.py) speaks gRPC where
grpc's own client will not send what is tested: streams that never send, calls half-closed with no
message, a closed receive window."""

from __future__ import annotations

import gzip
import json
import resource
import socket
import statistics
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as tg
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.grpc import service_pb2 as pb

from tests.fixtures import INPUTS, NETWORKS, forward
from tests.serve.clients import OWN_CONNECTION, grpc_inputs
from tests.serve.h2grpc import Connection
from tools.live_server import HOST, running

BUDGET_MB = 64  # what one attack may add to a worker's peak memory (docs/reliability.md)
SERVICE = "/inference.GRPCInferenceService/"
X = np.array(INPUTS, dtype=np.float32)
DEADLINE = 2  # XORLAB_BODY_TIMEOUT and XORLAB_GRPC_IDLE_SECONDS in the guarded server: the tests wait this long


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory, xor_repo):
    """A real gunicorn whose limits the attacks here meet: DEADLINE for a body and an idle gRPC
    connection."""
    tmp = tmp_path_factory.mktemp("admission")
    # Silent HTTP connections are held for XORLAB_KEEPALIVE: longer than any test here lasts.
    env = {"XORLAB_BODY_TIMEOUT": str(DEADLINE), "XORLAB_GRPC_IDLE_SECONDS": str(DEADLINE), "XORLAB_KEEPALIVE": "60"}
    with running(tmp, xor_repo, **env) as srv:
        yield srv


# ---- helpers ----------------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: int(v.split()[0]) // 1024 for k, v in (line.split(":", 1) for line in lines) if k in ("VmHWM", "VmRSS")}


class Peaks:
    """The workers' peak memory from now on: each worker's high-water mark is reset to its current
    size (/proc/PID/clear_refs), and `growth()` is the most any grew past that, in MB."""

    def __init__(self, server):
        self.pids = server.workers()
        for pid in self.pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        self.base = {pid: _status(pid)["VmRSS"] for pid in self.pids}

    def growth(self) -> int:
        return max(_status(pid)["VmHWM"] - self.base[pid] for pid in self.pids)


def raw_call(server, method: str, message: bytes, **kwargs):
    """One unary call of `message`'s bytes as they are (no serializer), on a connection of its own."""
    with grpc.insecure_channel(server.grpc, options=[*OWN_CONNECTION, ("grpc.max_send_message_length", -1)]) as channel:
        return channel.unary_unary(SERVICE + method)(message, timeout=60, **kwargs)


def refused(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def fresh_infer(server) -> None:
    """A fresh client's inference over gRPC (a new connection) and over HTTP: both answer right."""
    with tg.InferenceServerClient(server.grpc, channel_args=OWN_CONNECTION) as client:
        np.testing.assert_allclose(
            client.infer("mlp", grpc_inputs(X), client_timeout=10).as_numpy("y"),
            forward(NETWORKS["mlp"][0], X),
            atol=1e-4,
        )
    r = requests.post(
        server.url + "/v1/models/mlp:predict", json={"instances": INPUTS}, timeout=10, headers={"Connection": "close"}
    )
    assert r.status_code == 200, r.text


def valid_request() -> bytes:
    request = pb.ModelInferRequest(model_name="mlp", raw_input_contents=[X.tobytes()])
    request.inputs.add(name="x", datatype="FP32", shape=[4, 2])
    return request.SerializeToString()


# ---- round three, case by case ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "words"),
    [
        (b"\x2a\x00", "'inputs' must be a list of exactly one tensor, 'x'"),  # field 5: an empty input
        (b"\x32\x00", "the request has more than 64 'outputs' entries"),  # field 6: an empty output
    ],
    ids=["inputs", "outputs"],
)
def test_a_million_empty_inputs_in_two_kilobytes_cost_no_more_than_they_sent(guarded_server, field, words):
    message = pb.ModelInferRequest(model_name="mlp").SerializeToString() + field * 1_000_000
    peaks = Peaks(guarded_server)
    start = time.perf_counter()
    error = refused(lambda: raw_call(guarded_server, "ModelInfer", message, compression=grpc.Compression.Gzip))
    seconds = time.perf_counter() - start
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, words)
    assert peaks.growth() <= BUDGET_MB and seconds < 1.0, (peaks.growth(), seconds)
    fresh_infer(guarded_server)


def _lists(prefix: bytes, suffix: bytes, size: int = 16 * 1024 * 1024 - 64) -> bytes:
    return prefix + b"[]," * ((size - len(prefix) - len(suffix)) // 3) + b"[]" + suffix


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        (
            "/v1/models/mlp:predict",
            _lists(b'{"instances": [', b"]}"),
            "the request holds more values than 65536 rows of 2 numbers need",
        ),
        (
            "/v2/models/mlp/infer",
            _lists(b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [', b"]}]}"),
            "the request holds more values than 65536 rows of 2 numbers need",
        ),
        ("/v2/repository/index", _lists(b'{"ready": [', b"]}"), "the request holds more than 1024 JSON values"),
    ],
    ids=["v1", "v2", "index"],
)
def test_sixteen_kilobytes_of_gzip_declaring_millions_of_lists_cost_no_more_than_they_sent(
    guarded_server, path, body, words
):
    sent = gzip.compress(body, 9)
    assert len(sent) < 64 * 1024 and len(body) < 16 * 1024 * 1024
    peaks = Peaks(guarded_server)
    start = time.perf_counter()
    r = requests.post(guarded_server.url + path, data=sent, headers={"Content-Encoding": "gzip"}, timeout=30)
    seconds = time.perf_counter() - start
    assert (r.status_code, r.headers["Content-Type"]) == (400, "application/json") and r.json()["error"].startswith(
        words
    ), r.text
    assert peaks.growth() <= BUDGET_MB and seconds < 1.0, (peaks.growth(), seconds)


def test_messages_over_the_body_limit_are_refused_before_they_are_received(guarded_server):
    # 16 at once, each over the 16 MiB limit: refused from their length prefix, not held whole.
    big = pb.ModelInferRequest(model_name="mlp", raw_input_contents=[bytes(33_000_000)]).SerializeToString()
    peaks, errors = Peaks(guarded_server), []

    def one() -> None:
        errors.append(refused(lambda: raw_call(guarded_server, "ModelInfer", big)))

    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.code() for e in errors] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 16, [e.details() for e in errors]
    assert all(f"vs. {16 * 1024 * 1024})" in e.details() for e in errors)
    assert peaks.growth() <= BUDGET_MB, peaks.growth()
    fresh_infer(guarded_server)


def test_silent_streams_half_closed_calls_and_a_closed_window_hold_nothing_others_need(guarded_server):
    # Four connections of streams that never send, a connection of calls half-closed with no
    # message, and one whose client advertises a receive window of 0 bytes (its answers can never
    # be sent): grpc's global limit of concurrent calls (128 a worker) once went to them all.
    silent = [Connection(guarded_server.grpc) for _ in range(4)]
    silent_streams = [[c.open("ModelStreamInfer") for _ in range(min(130, c.max_streams))] for c in silent]
    half = Connection(guarded_server.grpc)
    half_streams = [half.open("ModelInfer", end=True) for _ in range(40)]
    closed = Connection(guarded_server.grpc, window=0)
    for _ in range(40):
        closed.open("ModelInfer", valid_request(), end=True)
    try:
        assert sum(map(len, silent_streams)) >= 4 * 128 - 8
        for _ in range(3):
            fresh_infer(guarded_server)  # every fresh call answered while they are all held
        # A call half-closed without its message is refused at once, in words.
        half.wait(half_streams, 5)
        assert [half.ended.get(s) for s in half_streams] == ["3"] * len(half_streams)  # INVALID_ARGUMENT
        # A stream that sends nothing is ended once the message deadline passes.
        for connection, streams in zip(silent, silent_streams, strict=True):
            connection.wait(streams, DEADLINE + 10)
            assert {connection.ended.get(s) for s in streams} == {"4"}  # DEADLINE_EXCEEDED
        fresh_infer(guarded_server)
    finally:
        for connection in (*silent, half, closed):
            connection.close()


def test_a_silent_call_is_ended_after_the_message_deadline_and_an_idle_stream_after_the_idle_time(guarded_server):
    client = Connection(guarded_server.grpc)
    try:
        silent = client.open("ModelInfer")  # headers, and then nothing
        stream = client.open("ModelStreamInfer", valid_request())  # one request, then idle
        start = time.monotonic()
        client.wait([silent, stream], DEADLINE + 10)
        assert client.ended.get(silent) == "4" and client.ended.get(stream) == "4"  # DEADLINE_EXCEEDED
        assert time.monotonic() - start >= DEADLINE - 0.5
    finally:
        client.close()
    lines = [json.loads(line) for line in guarded_server.log.read_text().splitlines() if '"protocol":"grpc"' in line]
    assert {(e["path"], e["status"]) for e in lines} >= {(SERVICE + "ModelInfer", 4), (SERVICE + "ModelStreamInfer", 4)}


def test_an_idle_grpc_connection_is_closed_and_so_is_one_that_never_says_hello(guarded_server):
    idle = Connection(guarded_server.grpc)  # an HTTP/2 connection with no call
    mute = socket.create_connection((HOST, guarded_server.grpc_port), timeout=10)  # a TCP connection that sends nothing
    try:
        deadline = time.monotonic() + DEADLINE + 10
        while not idle.terminated and time.monotonic() < deadline:
            idle.pump(0.2)
        assert idle.terminated  # GOAWAY, then closed
        mute.settimeout(DEADLINE + 10)
        try:
            assert mute.recv(65536) is not None  # closed (b"") or reset by the server: not held
        except ConnectionResetError:
            pass
    finally:
        idle.close()
        mute.close()


def _raise_own_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"this machine's hard limit on open files is {hard}; the test holds {needed} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def test_thousands_of_silent_http_connections_delay_no_fresh_request(guarded_server):
    # gunicorn's gevent worker stopped accepting at 1,000 connections: with 2,100 silent ones held
    # (2 workers), every fresh request waited in the listen queue for a silent one to time out
    # (here XORLAB_KEEPALIVE, 60 s: past the test).
    _raise_own_open_files(3000)
    silent = [socket.create_connection((HOST, guarded_server.port), timeout=10) for _ in range(2100)]
    try:
        time.sleep(1.0)
        waits = []
        for _ in range(20):
            start = time.perf_counter()
            r = requests.get(guarded_server.url + "/v2/health/ready", timeout=10, headers={"Connection": "close"})
            waits.append(time.perf_counter() - start)
            assert r.status_code == 200
        assert statistics.median(waits) < 0.5, waits
    finally:
        for s in silent:
            s.close()


def test_past_the_connection_limit_a_new_connection_is_answered_503_at_once(tmp_path, xor_repo):
    with running(tmp_path, xor_repo, workers=1, grpc=False, XORLAB_MAX_CONNECTIONS="50") as srv:
        held = [socket.create_connection((HOST, srv.port), timeout=10) for _ in range(50)]
        try:
            time.sleep(0.5)  # accepted: each holds a slot until its keep-alive time ends
            answers = [
                requests.get(srv.url + "/v2/health/live", timeout=5, headers={"Connection": "close"}) for _ in range(5)
            ]
        finally:
            for s in held:
                s.close()
        for r in answers:
            assert (r.status_code, r.headers["Retry-After"], r.headers["Content-Type"]) == (
                503,
                "1",
                "application/json",
            )
            assert r.json()["error"] == (
                "service unavailable: the server is busy: 50 connections are open in this worker "
                "(XORLAB_MAX_CONNECTIONS); retry"
            )
        time.sleep(0.5)
        metrics = requests.get(srv.url + "/metrics", timeout=10).text
        lines = srv.log.read_text().splitlines()
    refusals = {
        s.labels["reason"]: s.value
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
        if s.name == "xorlab_overload_refusals_total" and s.labels["protocol"] == "http"
    }
    assert refusals == {"connections": 5.0}
    warnings = [json.loads(line) for line in lines if '"overload: http request refused' in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "WARNING"  # once per burst


def test_idle_grpc_connections_cannot_use_up_the_open_files(tmp_path, xor_repo):
    # With the open-file limit at 1,024, 2,300 idle gRPC connections once took every descriptor of
    # both workers: HTTP and gRPC stopped answering. The server raises its soft limit to the hard one.
    _raise_own_open_files(4000)  # the server's hard limit is the test's: it needs as many
    with running(tmp_path, xor_repo, open_files=1024) as srv:
        held = []
        try:
            for _ in range(2300):
                s = socket.create_connection((HOST, srv.grpc_port), timeout=10)
                # preface, empty SETTINGS
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
                held.append(s)
            time.sleep(1.0)
            for _ in range(6):
                fresh_infer(srv)
            srv.on_every_worker(
                lambda headers: (
                    requests.get(srv.url + "/v2/health/ready", headers=headers, timeout=10).status_code == 200
                )
            )
        finally:
            for s in held:
                s.close()
        assert "Too many open files" not in srv.log.read_text()
