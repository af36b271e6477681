"""The real thing: `python -m xorlab.serve` (gunicorn, 2 workers) serving the committed repository on a
free loopback port, driven by plain HTTP, raw sockets and the official tritonclient."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
import tritonclient.http as triton

from tests import ROOT
from tests.serve.committed import EXPECTED, INPUTS, MANIFEST, MODELS, NAMES

MAX_BODY = 16 * 1024 * 1024  # the default


@pytest.fixture
def http(committed_server):
    with requests.Session() as session:
        yield session


@pytest.mark.parametrize("name", NAMES)
def test_truth_table_over_v1_and_v2_equals_the_manifest(committed_server, http, name):
    v1 = http.post(f"{committed_server.url}/v1/models/{name}:predict", json={"instances": INPUTS})
    assert v1.status_code == 200
    assert v1.json()["predictions"] == pytest.approx(EXPECTED[name], abs=1e-5)
    body = {"id": name, "inputs": [{"name": "x", "datatype": "FP32", "shape": [4, 2], "data": INPUTS}]}
    v2 = http.post(f"{committed_server.url}/v2/models/{name}/versions/1/infer", json=body)
    assert v2.status_code == 200 and v2.json()["id"] == name
    assert v2.json()["outputs"][0]["data"] == pytest.approx(EXPECTED[name], abs=1e-5)


def test_report_says_the_perceptron_cannot_and_the_mlps_do(committed_server, http):
    report = http.get(f"{committed_server.url}/v1/report").json()
    assert {n: m["solved"] for n, m in report["models"].items()} == {
        "perceptron": False,
        "mlp": True,
        "mlp-backprop": True,
        "deep": True,
    }
    assert report["models"]["perceptron"]["accuracy"] == 0.5
    assert "not linearly separable" in report["verdict"]
    if "study" not in MANIFEST:
        assert report["verdict"].startswith("mlp, mlp-backprop and deep solve XOR; perceptron cannot:")
        return
    # With the study, the verdict leads with each architecture's rate over the seeds, and says what became of the rest.
    arches = MANIFEST["study"]["architectures"]
    assert report["study"]["architectures"]["mlp"]["rate"] == arches["mlp"]["rate"]
    assert report["study"]["architectures"]["mlp"]["outcomes"] == arches["mlp"]["outcomes"]
    assert report["verdict"].startswith(
        f"mlp solves XOR from {100 * arches['mlp']['rate']:.1f}% of {arches['mlp']['n']:,} seeds "
        f"within {MANIFEST['study']['steps']:,} steps (95% CI "
    )
    assert "; perceptron cannot: without a hidden layer it draws a single line" in report["verdict"]
    assert f"(none of {arches['perceptron']['n']:,} seeds, 95% CI 0–" in report["verdict"]
    assert report["verdict"].endswith("and perceptron does not solve it (no seed can).")


def test_tritonclient_health_and_metadata(committed_server):
    client = triton.InferenceServerClient(f"127.0.0.1:{committed_server.port}")
    assert client.is_server_live() and client.is_server_ready()
    assert all(client.is_model_ready(name) for name in NAMES)
    assert client.is_model_ready("mlp", "1") and not client.is_model_ready("nope")
    server_meta = client.get_server_metadata()
    assert server_meta["name"] == "xorlab" and "binary_tensor_data" in server_meta["extensions"]
    meta = client.get_model_metadata("deep")
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 2]}]
    assert meta["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 1]}]
    assert [m["name"] for m in client.get_model_repository_index()] == NAMES


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("name", NAMES)
def test_tritonclient_infer(committed_server, name, binary):
    client = triton.InferenceServerClient(f"127.0.0.1:{committed_server.port}")
    x = triton.InferInput("x", [4, 2], "FP32")
    x.set_data_from_numpy(np.array(INPUTS, dtype=np.float32), binary_data=binary)
    outputs = None if binary else [triton.InferRequestedOutput("y", binary_data=False)]
    result = client.infer(name, [x], outputs=outputs, request_id="r1")
    assert result.get_response()["id"] == "r1"
    y = result.as_numpy("y")
    assert y.shape == (4, 1) and y.dtype == np.float32
    assert y[:, 0].tolist() == pytest.approx(EXPECTED[name], abs=1e-5)


def test_tritonclient_sees_client_errors(committed_server):
    client = triton.InferenceServerClient(f"127.0.0.1:{committed_server.port}")
    x = triton.InferInput("x", [1, 2], "FP32")
    x.set_data_from_numpy(np.array([[np.nan, 1]], dtype=np.float32))
    with pytest.raises(triton.InferenceServerException, match="input 'x' holds NaN or Infinity"):
        client.infer("mlp", [x])


def test_200_concurrent_requests_all_succeed(committed_server):
    def one(i: int) -> tuple[int, float]:
        name = NAMES[i % len(NAMES)]
        row = INPUTS[i % 4]
        if i % 2:
            r = requests.post(f"{committed_server.url}/v1/models/{name}:predict", json={"instances": [row]}, timeout=30)
            return r.status_code, r.json()["predictions"][0]
        body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": row}]}
        r = requests.post(f"{committed_server.url}/v2/models/{name}/infer", json=body, timeout=30)
        return r.status_code, r.json()["outputs"][0]["data"][0]

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(200)))
    assert [status for status, _ in results] == [200] * 200
    for i, (_, p) in enumerate(results):
        assert p == pytest.approx(EXPECTED[NAMES[i % len(NAMES)]][i % 4], abs=1e-5)


def raw_exchange(server, head: bytes, chunks=()) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
        s.sendall(head)
        for chunk in chunks:
            s.sendall(chunk)
        received = b""
        while data := s.recv(65536):  # the server closes the connection after a 413
            received += data
    return received


def test_an_oversized_body_is_refused_from_its_content_length_without_reading_it(committed_server):
    # Announce 100 MB and send none of it: the answer can only come from the headers.
    head = b"POST /v1/models/mlp:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
    response = raw_exchange(committed_server, head)
    status, _, body = response.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413")
    assert json.loads(body) == {"error": f"request body too large: the limit is {MAX_BODY} bytes"}


def test_an_oversized_chunked_body_is_refused(committed_server):
    head = b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    mib = b" " * (1 << 20)
    chunks = [b"100000\r\n" + mib + b"\r\n"] * (MAX_BODY // len(mib) + 1)  # one MiB past the limit
    response = raw_exchange(committed_server, head, chunks)
    status, _, body = response.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 413") and b"request body too large" in body


def test_a_chunked_body_within_the_limit_is_served(committed_server, http):
    body = json.dumps({"instances": INPUTS}).encode()
    r = http.post(f"{committed_server.url}/v1/models/mlp:predict", data=iter([body[:10], body[10:]]))
    assert r.status_code == 200 and r.json()["predictions"] == pytest.approx(EXPECTED["mlp"], abs=1e-5)


def test_errors_from_gunicorn_workers_are_json(committed_server, http):
    r = http.get(f"{committed_server.url}/v2/models/mlp/infer")
    assert (r.status_code, r.headers["Content-Type"]) == (405, "application/json")
    assert r.json()["error"].startswith("method GET is not allowed")


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
def test_onnxruntime_lives_in_the_workers_only(committed_server):
    master, workers = committed_server.master, committed_server.workers()
    assert len(workers) == 2
    assert "onnxruntime" not in _maps(master)  # no session was created before the fork
    assert all("onnxruntime" in _maps(w) for w in workers)
    assert not any("libtorch" in _maps(p) for p in [master, *workers])


# The documents whose ```console examples starting with `$ curl` are run here: all of them.
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def curl_examples() -> list[tuple[str, str, str]]:
    """(document, `curl ...` command, its documented output) for each console example that starts
    with a curl command; a pipe after it (`| python3.11 -c ...`) is part of the command."""
    examples = []
    for doc in DOCUMENTS:
        for block in re.findall(r"```console\n(.*?)```", doc.read_text(), flags=re.S):
            command, _, output = block.partition("\n")
            while command.endswith("\\"):
                more, _, output = output.partition("\n")
                command = command[:-1] + more
            if command.startswith("$ curl"):
                examples.append((doc.relative_to(ROOT).as_posix(), command[2:], output.strip()))
    return examples


def run_curl(server, command: str) -> str:
    """What the command prints against `server`: the curl part made as a request, then the rest of
    the pipe run by the shell on its answer (`python3.11` as this interpreter)."""
    command, _, pipe = command.partition(" | ")
    args = shlex.split(command)[1:]
    method, headers, data, url = "GET", {}, None, None
    while args:
        arg = args.pop(0)
        if arg == "-X":
            method = args.pop(0)
        elif arg == "-H":
            key, _, value = args.pop(0).partition(": ")
            headers[key] = value
        elif arg == "-d":
            data, method = args.pop(0), "POST" if method == "GET" else method
        elif arg == "-s":
            continue
        else:
            assert not arg.startswith("-"), f"curl option {arg} is not understood here"
            url = arg.replace("http://127.0.0.1:8000", server.url)
    answer = requests.request(method, url, headers=headers, data=data, timeout=10).text
    if not pipe:
        return answer
    if pipe.startswith("python3.11 "):  # the prerequisite the README names
        pipe = shlex.quote(sys.executable) + pipe[len("python3.11") :]
    result = subprocess.run(pipe, shell=True, input=answer, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_documented_curl_examples_give_the_documented_answers(committed_server):
    examples = curl_examples()
    documents = {doc for doc, _, _ in examples}
    assert {"README.md", "docs/serving.md"} <= documents
    assert len(examples) >= 4  # V1, V2, the report, an error at least
    for doc, command, documented in examples:
        assert run_curl(committed_server, command) == documented, f"{doc}: {command}"


# ---- where it serves, said once it does (xorlab/serve/hosting/announce.py) ------------------------------


def announcements(log: str) -> list[dict]:
    return [
        e
        for e in map(json.loads, filter(None, log.splitlines()))
        if e.get("message", "").startswith("serving ") and "report" in e
    ]


def test_the_server_says_where_it_serves_once_it_does(committed_server):
    said = announcements(committed_server.log.read_text())
    assert len(said) == 1, said  # once for the start, not once per worker
    line = said[0]
    assert (line["report"], line["http_api"], line["kserve_v1"], line["grpc_api"]) == (
        f"{committed_server.url}/",
        f"{committed_server.url}/v2",
        f"{committed_server.url}/v1/models",
        committed_server.grpc,
    )
    assert line["message"].startswith(
        f"serving {len(NAMES)} of {len(NAMES)} models from {MODELS}: the report {committed_server.url}/ ;"
    )
    assert f"gRPC API {committed_server.grpc} (Open Inference Protocol)" in line["message"]


def test_on_a_terminal_the_addresses_are_plain_lines_said_once(tmp_path):
    import os
    import pty
    import select
    import signal
    import time

    from tools.live_server import free_port

    port, grpc_port = free_port(), free_port()
    main, side = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XORLAB_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xorlab.serve",
            "--models",
            str(MODELS),
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--grpc-bind",
            f"127.0.0.1:{grpc_port}",
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=side,
        stderr=side,
    )
    os.close(side)
    seen = b""

    def read_until(predicate, timeout=60.0):
        nonlocal seen
        deadline = time.monotonic() + timeout
        while not predicate(seen.decode(errors="replace")):
            assert time.monotonic() < deadline and proc.poll() is None, seen.decode(errors="replace")[-3000:]
            if select.select([main], [], [], 0.2)[0]:
                try:
                    seen += os.read(main, 65536)
                except OSError:  # the other side closed
                    break

    try:
        read_until(lambda text: "gRPC API:" in text)
        text = seen.decode(errors="replace")
        assert f"  the report:  http://127.0.0.1:{port}/\r\n" in text
        assert (
            f"  HTTP API:    http://127.0.0.1:{port}/v2  (Open Inference Protocol; KServe V1: http://127.0.0.1:{port}/v1/models)"
            in text
        )
        assert f"  gRPC API:    127.0.0.1:{grpc_port}  (Open Inference Protocol)" in text
        # A SIGHUP reload's new worker serves without saying it again.
        proc.send_signal(signal.SIGHUP)
        read_until(lambda text: text.count("serving (gevent worker") >= 2)
        time.sleep(0.5)
        read_until(lambda text: True)
        assert seen.decode(errors="replace").count("the report:") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        os.close(main)


@pytest.mark.parametrize(
    ("address", "url"),
    [
        (("127.0.0.1", 8000), "http://127.0.0.1:8000"),
        (("0.0.0.0", 8000), "http://127.0.0.1:8000"),
        (("::", 8000, 0, 0), "http://[::1]:8000"),
        (("fe80::1", 80, 0, 0), "http://[fe80::1]:80"),
        ("/run/x.sock", "unix:/run/x.sock"),
    ],
)
def test_the_addresses_said_for_each_kind_of_bind(address, url):
    from xorlab.serve.hosting import announce

    assert announce.http_root(address) == url
    assert announce.grpc_address("0.0.0.0:8001") == "127.0.0.1:8001" and announce.grpc_address("") is None
    assert "gRPC API off" in announce.message(announce.addresses(url, None), 4, 4, "models")
