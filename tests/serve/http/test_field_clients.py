"""The field's own tools against a real 2-worker gunicorn serving the committed repository, with
their defaults: tritonclient.http's model configuration and statistics calls (counts exact after
requests over both protocols), its compressed requests and classification; the kserve SDK's V1 and
V2 clients over REST and gRPC (in its own venv); NVIDIA's perf_analyzer over HTTP and gRPC."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import os
import subprocess
import sys

import numpy as np
import pytest
import requests
import tritonclient.grpc as tg
import tritonclient.http as th
import tritonclient.http.aio as tha
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2 as triton_model_config
from tritonclient.utils import InferenceServerException

from tests import ROOT
from tests.serve.clients import OWN_CONNECTION, X, grpc_inputs, holds
from tests.serve.committed import EXPECTED, MODELS, NAMES

OUT = ROOT / "tools" / "out"  # the field's environments, shared with the benchmark (git-ignored)


def http_inputs(x: np.ndarray = X, binary: bool = True) -> list[th.InferInput]:
    tensor = th.InferInput("x", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    return [tensor]


def expected_column(name: str) -> np.ndarray:
    """What `name` answers on the truth table, as tritonclient returns it: (4, 1) float32."""
    return np.array(EXPECTED[name], dtype=np.float32).reshape(-1, 1)


# ---- tritonclient.http: model configuration, statistics ------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_get_model_config_is_the_config_pbtxt_on_disk(committed_server, name):
    client = th.InferenceServerClient(f"127.0.0.1:{committed_server.port}")
    served_config = client.get_model_config(name)
    on_disk = text_format.Parse((MODELS / name / "config.pbtxt").read_text(), triton_model_config.ModelConfig())
    assert holds(served_config, json_format.MessageToDict(on_disk, preserving_proto_field_name=True))
    assert served_config == client.get_model_config(name, "1")
    # gRPC's ModelConfig is the same configuration.
    with tg.InferenceServerClient(committed_server.grpc) as g:
        assert g.get_model_config(name).config == json_format.ParseDict(
            served_config, triton_model_config.ModelConfig()
        )


def test_get_inference_statistics_is_exact_across_workers_and_protocols(committed_server):
    http = th.InferenceServerClient(f"127.0.0.1:{committed_server.port}")
    everything = http.get_inference_statistics()  # /v2/models/stats: a route, not a model named "stats"
    assert [s["name"] for s in everything["model_stats"]] == NAMES
    before = http.get_inference_statistics("deep")["model_stats"][0]

    def workers_counted() -> set[str]:
        return {p.name.split("_")[-1] for p in committed_server.run.glob("xorlab-serve-*/metrics/counter_*.db")}

    rows = []
    # A new client (a new connection) for each request, alternating protocols: at least 40, and on
    # until both workers have answered some (a busy machine may hand one worker every connection
    # for a while); bounded.
    while len(rows) < 40 or (len(workers_counted()) < 2 and len(rows) < 400):
        k = len(rows)
        x = X[: 1 + k % 4]
        rows.append(len(x))
        if k % 2:
            with th.InferenceServerClient(f"127.0.0.1:{committed_server.port}") as c:
                np.testing.assert_allclose(
                    c.infer("deep", http_inputs(x)).as_numpy("y"), expected_column("deep")[: len(x)], atol=1e-5
                )
        else:
            with tg.InferenceServerClient(committed_server.grpc, channel_args=OWN_CONNECTION) as c:
                np.testing.assert_allclose(
                    c.infer("deep", grpc_inputs(x)).as_numpy("y"), expected_column("deep")[: len(x)], atol=1e-5
                )
    with pytest.raises(InferenceServerException):
        http.infer("deep", [th.InferInput("x", [1, 3], "FP32").set_data_from_numpy(np.zeros((1, 3), np.float32))])
    assert len(workers_counted()) == 2  # both workers answered some of them
    n = len(rows)
    after = http.get_inference_statistics("deep")["model_stats"][0]

    def delta(key):
        return after["inference_stats"][key]["count"] - before["inference_stats"][key]["count"]

    assert (delta("success"), delta("fail"), delta("queue"), delta("compute_infer")) == (n, 1, n, n)
    assert after["inference_count"] - before["inference_count"] == sum(rows)
    assert after["execution_count"] - before["execution_count"] == n
    assert after["last_inference"] >= before["last_inference"]
    with tg.InferenceServerClient(committed_server.grpc) as g:  # the same figures over gRPC
        over_grpc = g.get_inference_statistics("deep", as_json=True)["model_stats"][0]
    assert int(over_grpc["inference_stats"]["success"]["count"]) == after["inference_stats"]["success"]["count"]
    assert int(over_grpc["inference_count"]) == after["inference_count"]


# ---- tritonclient.http: compression, classification -------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_requests_from_tritonclient(committed_server, algorithm):
    client = th.InferenceServerClient(f"127.0.0.1:{committed_server.port}")
    for binary in (True, False):
        result = client.infer("mlp", http_inputs(binary=binary), request_compression_algorithm=algorithm)
        np.testing.assert_allclose(result.as_numpy("y"), expected_column("mlp"), atol=1e-5)


def test_the_asyncio_client_which_accepts_compressed_answers(committed_server):
    async def main():
        async with tha.InferenceServerClient(f"127.0.0.1:{committed_server.port}") as c:
            return (await c.infer("mlp", http_inputs(), request_compression_algorithm="gzip")).as_numpy("y")

    np.testing.assert_allclose(asyncio.run(main()), expected_column("mlp"), atol=1e-5)


def test_a_decompression_bomb_and_an_unknown_coding_over_the_wire(committed_server):
    bomb = gzip.compress(b" " * (64 * 1024 * 1024))  # 64 MiB of spaces, 64 kB on the wire
    r = requests.post(
        f"{committed_server.url}/v2/models/mlp/infer", data=bomb, headers={"Content-Encoding": "gzip"}, timeout=60
    )
    assert r.status_code == 413 and r.json()["error"].endswith("(decoded from gzip)")
    r = requests.post(
        f"{committed_server.url}/v2/models/mlp/infer", data=b"{}", headers={"Content-Encoding": "br"}, timeout=30
    )
    assert r.status_code == 415 and r.headers["Accept-Encoding"] == "gzip, deflate"


def test_class_count_is_refused_naming_the_parameter(committed_server):
    client = th.InferenceServerClient(f"127.0.0.1:{committed_server.port}")
    with pytest.raises(
        InferenceServerException, match="the classification parameter \\(Triton's class_count\\) is not supported"
    ):
        client.infer("mlp", http_inputs(), outputs=[th.InferRequestedOutput("y", class_count=1)])
    assert "classification" not in client.get_server_metadata()["extensions"]


# ---- the field's tools, each in an environment of its own (built by tools/'s scripts) ---------------------


def field_environment(script: str, folder: str, what: str) -> str:
    """The path tools/<script> prints once it has built (or found) its environment in tools/out/;
    the test is skipped, with the script's reason, where it cannot be built."""
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / script), str(OUT / folder)],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHON": sys.executable},
        timeout=900,
    )
    if done.returncode != 0:
        pytest.skip(f"{what} cannot be set up here ({script} exited {done.returncode}): {done.stderr[-500:]}")
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_the_kserve_sdk_v1_and_v2_over_rest_and_grpc(committed_server):
    python = field_environment("kserve-env.sh", "kserve-venv", "the kserve SDK's venv")
    done = subprocess.run(
        [python, str(ROOT / "tests" / "serve" / "http" / "kserve_sdk_client.py")],
        env=os.environ | {"CHECK_REST_URL": committed_server.url, "CHECK_GRPC_URL": committed_server.grpc},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert sum(line.startswith("ok  ") for line in lines) == 17 and lines[-1] == "0 failed", done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_perf_analyzer_runs_without_errors(committed_server, protocol, tmp_path):
    binary = field_environment("perf_analyzer-env.sh", "perf_analyzer", "perf_analyzer")
    url = f"127.0.0.1:{committed_server.port}" if protocol == "http" else committed_server.grpc
    # It exits non-zero on any failed request, a missing route, statistics it cannot read (it reads
    # them from the server around every window); not on windows of different speeds (a stability
    # of 10,000%): this is no measurement, and a shared machine varies.
    command = [
        binary,
        "-m",
        "mlp",
        "-u",
        url,
        "-i",
        protocol,
        "--concurrency-range",
        "2:2",
        "--measurement-interval",
        "1000",
        "--stability-percentage",
        "10000",
        "--max-trials",
        "3",
        "-f",
        str(tmp_path / "out.csv"),
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"TRITON_CLIENT_GRPC_CHANNEL_MAX_SHARE_COUNT": "1"},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    row = next(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert float(row["Inferences/Second"]) > 0
    assert "Server: " in done.stdout and "Inference count: " in done.stdout  # it read the statistics


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_perf_analyzer_with_shared_memory_stops_saying_it_is_not_supported(committed_server, protocol):
    # It exited 99 after a 404 "no route" (HTTP) or "Method not found!" (gRPC): no way to tell an
    # unsupported extension from a wrong address.
    binary = field_environment("perf_analyzer-env.sh", "perf_analyzer", "perf_analyzer")
    url = f"127.0.0.1:{committed_server.port}" if protocol == "http" else committed_server.grpc
    done = subprocess.run(
        [
            binary,
            "-m",
            "mlp",
            "-u",
            url,
            "-i",
            protocol,
            "--shared-memory=system",
            "--concurrency-range",
            "1:1",
            "--measurement-interval",
            "500",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert (
        "Triton's system_shared_memory extension is not supported by this server: send tensors in the request"
        in done.stdout + done.stderr
    ), done.stdout[-2000:] + done.stderr[-2000:]
