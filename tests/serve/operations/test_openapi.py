"""Operations against a real gunicorn (2 workers): metrics exact across workers, schemathesis over
every documented operation, V2 responses against the Open Inference Protocol's own schemas,
load/unload reaching every worker, and a SIGHUP reload under continuous traffic."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests import ROOT
from tests.fixtures import build_repository
from tests.prerequisites import install
from tools.live_server import running
from tests.serve.operations import fuzz
from xorlab.serve import metrics
from xorlab.serve.http.openapi import document

TOKEN = "ops-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OIP = yaml.safe_load((ROOT / "tests" / "schemas" / "open_inference_rest.yaml").read_text())
BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [0, 1]}]}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ops")
    root = tmp / "served" / "models"
    build_repository(root)
    (tmp / "run").mkdir()
    # TMPDIR: the master makes its runtime folder (metrics files) where the test can look.
    with running(tmp, root, XORLAB_ADMIN_TOKEN=TOKEN, TMPDIR=str(tmp / "run")) as srv:
        srv.root, srv.run = root, tmp / "run"
        yield srv
    assert list((tmp / "run").glob("xorlab-serve-*")) == []  # the runtime folder is removed at exit


def fresh(method: str, url: str, **kwargs) -> requests.Response:
    """One request on a new connection, so successive ones may land on any worker."""
    with requests.Session() as s:
        return s.request(method, url, timeout=30, headers={"Connection": "close", **kwargs.pop("headers", {})}, **kwargs)


def scrape(served, name: str, model: str) -> float:
    """The sample for the model's version 1, summed over the protocols (HTTP, gRPC)."""
    text = fresh("GET", f"{served.url}/metrics").text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == name and s.labels.get("model") == model and s.labels.get("version") == "1")  # fmt: skip


def test_metrics_are_exact_across_workers(served):
    def workers_counted() -> set[str]:
        return {p.name.split("_")[-1] for p in served.run.glob("xorlab-serve-*/metrics/counter_*.db")}

    # At least 60 requests, and on until both workers have answered some (the kernel may hand a
    # busy machine's connections to one worker for a while); bounded, so the test cannot hang.
    n = 0
    while n < 60 or (len(workers_counted()) < 2 and n < 2000):
        r = fresh("POST", f"{served.url}/v1/models/perceptron:predict", json={"instances": [[0, 1]] * (1 + n % 3)})
        assert r.status_code == 200
        n += 1
    assert len(workers_counted()) == 2  # the requests were spread over both workers
    for _ in range(6):  # any worker may answer the scrape; each must see every worker's counts
        assert scrape(served, "nv_inference_request_success_total", "perceptron") == n
        assert scrape(served, "nv_inference_count_total", "perceptron") == sum(1 + i % 3 for i in range(n))


def test_metrics_pass_promtool_but_for_tritons_names(served):
    """Prometheus' own lint over a live scrape that has every family in it (successes and failures
    over both protocols): it may flag only the `nv_*` names kept as Triton has them, which
    docs/operating.md lists."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(f"no promtool on PATH: {install('prometheus')}")
    import numpy as np
    import tritonclient.grpc as tg

    assert fresh("POST", f"{served.url}/v1/models/mlp:predict", json={"instances": [[0, 1]]}).status_code == 200
    assert fresh("POST", f"{served.url}/v1/models/mlp:predict", json={"instances": [[0, 1, 1]]}).status_code == 400
    with tg.InferenceServerClient(served.grpc) as client:
        x = tg.InferInput("x", [1, 2], "FP32")
        x.set_data_from_numpy(np.zeros((1, 2), np.float32))
        client.infer("mlp", [x])
    text = fresh("GET", f"{served.url}/metrics").text
    assert "xorlab_inference_failure_duration_seconds_total{" in text and "nv_inference_compute_infer_duration_us_total{" in text
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    problems = [line for line in (checked.stdout + checked.stderr).splitlines() if line.strip()]
    flagged = {line.split()[0] for line in problems}
    assert flagged <= set(metrics.TRITON_NAMES), problems
    assert all(line.endswith("metric names should not contain abbreviated units") for line in problems), problems
    operating = (ROOT / "docs" / "operating.md").read_text()
    assert all(f"`{name}`" in operating for name in metrics.TRITON_NAMES)


def test_every_log_line_names_the_process_that_wrote_it(served):
    ids = [f"pid-{i}" for i in range(40)]
    for rid in ids:
        assert fresh("POST", f"{served.url}/v1/models/mlp:predict", json={"instances": [[0, 1]]},
                     headers={"X-Request-ID": rid}).status_code == 200  # fmt: skip
    lines = [json.loads(line) for line in served.log.read_text().splitlines()]
    answered = {e["pid"] for e in lines if e.get("request_id") in ids}
    assert answered and answered <= set(served.workers())  # each request's line: the worker that answered
    assert any(e["pid"] == served.master for e in lines if e["message"].startswith("Listening at"))  # gunicorn's master


def oip_schema(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}", "components": OIP["components"]}


@pytest.mark.parametrize(
    ("method", "path", "body", "component"),
    [
        ("GET", "/v2", None, "metadata_server_response"),
        ("GET", "/v2/models/mlp", None, "metadata_model_response"),
        ("GET", "/v2/models/mlp/versions/1", None, "metadata_model_response"),
        ("POST", "/v2/models/mlp/infer", {**BODY, "id": "7"}, "inference_response"),
        ("POST", "/v2/models/mlp/versions/1/infer", BODY, "inference_response"),
        ("POST", "/v2/models/mlp/infer", {"inputs": []}, "inference_error_response"),
        ("GET", "/v2/models/nope", None, "metadata_model_error_response"),
    ],
)
def test_v2_responses_follow_the_open_inference_protocol_schemas(served, method, path, body, component):
    r = fresh(method, served.url + path, json=body)
    jsonschema.validate(r.json(), oip_schema(component))
    assert r.headers["Content-Type"] == "application/json"


def test_load_and_unload_reach_every_worker(served):
    assert fresh("POST", f"{served.url}/v2/repository/models/deep/unload").status_code == 401
    assert fresh("POST", f"{served.url}/v2/repository/models/deep/unload", headers={"Authorization": "Bearer no"}).status_code == 403
    assert fresh("POST", f"{served.url}/v2/repository/models/deep/unload", headers=AUTH).status_code == 200
    assert [fresh("GET", f"{served.url}/v2/models/deep/ready").status_code for _ in range(12)] == [503] * 12
    assert fresh("POST", f"{served.url}/v2/repository/models/deep/load", headers=AUTH).status_code == 200
    assert [fresh("GET", f"{served.url}/v2/models/deep/ready").status_code for _ in range(12)] == [200] * 12


# The document of a server with an admin token (served's), with the repository's schemathesis.toml:
# what it expects of the routes that answer 501 by design, and of V2 infer (see the file).
OPENAPI = schemathesis.openapi.from_dict(document(), config=SchemathesisConfig.from_path(fuzz.CONFIG))


@OPENAPI.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_openapi_document(served, case):
    case.call_and_validate(base_url=served.url)  # every check schemathesis has that applies to one response


@pytest.mark.slow
@pytest.mark.parametrize("token", [True, False], ids=["admin token", "no admin token"])
def test_schemathesis_finds_no_failure_with_every_check(served, tmp_path, token):
    """`schemathesis run /openapi.json --checks all` as a user runs it (every phase: examples,
    coverage, fuzzing, stateful), against a server with an admin token and one without. It found
    7 failures once: empty batches the document allowed, an Allow header naming GET where GET was a
    405, a documented route answering 501 as if it were a fault."""

    def run(url: str) -> None:
        done = subprocess.run(fuzz.command(url, examples=6, seed=3, workers=2), cwd=tmp_path, capture_output=True,
                              text=True, timeout=900)  # fmt: skip
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
        cases = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed\n", done.stdout)
        assert cases and cases[1] == cases[2] and int(cases[1]) > 0, done.stdout[-3000:]

    if token:
        run(served.url)
    else:
        (tmp_path / "run").mkdir()
        with running(tmp_path / "run", served.root, workers=1) as plain:
            run(plain.url)
        assert "Traceback" not in plain.log.read_text()
    assert "Traceback" not in served.log.read_text()


def test_sighup_reload_of_a_republished_repository_under_traffic(served):
    """Publish a retrained repository into the served folder and reload while clients predict:
    no request fails, the new manifest's models are served, and no count is lost or doubled."""
    before = scrape(served, "nv_inference_request_success_total", "mlp")
    ok, failures, stop = [0], [], threading.Event()

    def client() -> None:
        with requests.Session() as session:  # keep-alive, like a real client
            while not stop.is_set():
                try:
                    r = session.post(f"{served.url}/v1/models/mlp:predict", json={"instances": [[1, 0]]}, timeout=30)
                    if r.status_code == 200 and r.json()["predictions"][0] > 0.5:
                        ok[0] += 1
                    else:
                        failures.append(f"{r.status_code} {r.text[:200]}")
                except requests.RequestException as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)

    # Publish as training does: a complete new repository next to the old one, then swap.
    new = served.root.parent / ".models.tmp-new"
    build_repository(new, names=("mlp", "deep"))
    os.rename(served.root, served.root.parent / "models.old")
    os.rename(new, served.root)
    served.proc.send_signal(signal.SIGHUP)

    deadline = time.monotonic() + 30
    streak = 0
    while streak < 10 and time.monotonic() < deadline:  # ten answers in a row from new workers
        streak = streak + 1 if fresh("GET", f"{served.url}/v1/models").json()["models"] == ["deep", "mlp"] else 0
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert streak == 10, "the new repository was not served after SIGHUP"
    assert failures == []
    assert ok[0] > 0
    assert scrape(served, "nv_inference_request_success_total", "mlp") - before == ok[0]
