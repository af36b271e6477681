"""The repository over time, against a real gunicorn: a server started before training publishes
becomes ready when it does (poll mode); a repository republished under traffic is swapped in with
no failed request; a broken one, by poll or SIGHUP, leaves the last good models serving and says
so; the admin API loads one model and leaves the others as they are."""

from __future__ import annotations

import json
import re
import shutil
import signal
import threading
from pathlib import Path

import pytest
import requests

from tests import ROOT
from tests.fixtures import build_repository
from tools.live_server import XorlabServer, running, wait_until
from xorlab.modelrepo import writer

TOKEN = "reload-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXPECTED = {n: m["truth_table_outputs"] for n, m in json.loads((ROOT / "models/manifest.json").read_text())["models"].items()}
pytestmark = pytest.mark.slow


def publish(source: Path, models: Path) -> None:
    """As training publishes, with its own writer: a complete copy staged beside the target, swapped in."""
    with writer.staging(models) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        writer.publish(tmp, models)


def predicts(server, name: str, headers: dict | None = None) -> bool:
    """The model answers its truth table as the committed manifest records it."""
    r = requests.post(f"{server.url}/v1/models/{name}:predict", json={"instances": [[0, 0], [0, 1], [1, 0], [1, 1]]},
                      headers=headers or {"Connection": "close"}, timeout=30)
    return r.status_code == 200 and max(abs(a - b) for a, b in zip(r.json()["predictions"], EXPECTED[name])) <= 1e-5


def predictions_hold(server) -> bool:
    return all(predicts(server, name) for name in EXPECTED)


@pytest.fixture
def server(tmp_path):
    models = tmp_path / "serve" / "models"
    models.parent.mkdir()
    shutil.copytree(ROOT / "models", models)
    (tmp_path / "run").mkdir()
    with running(tmp_path, models, XORLAB_POLL_SECONDS="1", XORLAB_ADMIN_TOKEN=TOKEN, TMPDIR=str(tmp_path / "run")) as srv:
        yield srv


def test_a_server_started_before_its_repository_becomes_ready_when_it_is_published(tmp_path):
    models = tmp_path / "serve" / "models"
    models.parent.mkdir()
    srv = XorlabServer(tmp_path, models, XORLAB_POLL_SECONDS="1")
    try:
        wait_until(lambda: len(srv.workers()) == 2 and _status(srv, "/v2/health/ready") == 503)
        ready = requests.get(srv.url + "/v2/health/ready", timeout=30).json()
        assert ready["error"] == ("no model is ready: the model repository folder does not exist; "
                                  "waiting for a repository to be published (checked every 1 s)")
        publish(ROOT / "models", models)
        # Each worker polls on its own clock (a worker booting late reads it at boot).
        srv.on_every_worker(lambda h: requests.get(srv.url + "/v2/health/ready", headers=h, timeout=30).status_code == 200)
        assert predictions_hold(srv)
    finally:
        assert srv.stop() == 0


def _get(server, path: str) -> requests.Response:
    return requests.get(server.url + path, headers={"Connection": "close"}, timeout=30)


def _status(server, path: str) -> int | None:
    try:
        return requests.get(server.url + path, headers={"Connection": "close"}, timeout=5).status_code
    except requests.RequestException:
        return None


def test_a_repository_republished_under_traffic_is_swapped_in_without_a_failed_request(server, tmp_path):
    failures, stop = [], threading.Event()

    def traffic():
        with requests.Session() as s:
            while not stop.is_set():
                r = s.post(f"{server.url}/v1/models/mlp:predict", json={"instances": [[0, 1]]}, timeout=30)
                if r.status_code != 200:
                    failures.append(r.text)

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        smaller = tmp_path / "smaller" / "models"
        build_repository(smaller, ("perceptron", "mlp"))  # other weights: the fixture's hand-made XOR nets
        publish(smaller, server.models)
        wait_until(lambda: all(requests.get(server.url + "/v1/models", headers={"Connection": "close"}, timeout=30).json()
                               == {"models": ["mlp", "perceptron"]} for _ in range(6)))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert failures == []


BREAKS = {
    "an invalid manifest": lambda models: (models / "manifest.json").write_text('{"format": "xorlab-manifest/1", '),
    "the folder deleted": lambda models: shutil.rmtree(models),
}


@pytest.mark.parametrize("how", ["poll", "SIGHUP"])
@pytest.mark.parametrize("broken", BREAKS.values(), ids=BREAKS.keys())
def test_a_broken_repository_leaves_the_last_good_models_serving_and_says_so(server, broken, how):
    before = server.workers()
    broken(server.models)
    if how == "SIGHUP":
        server.proc.send_signal(signal.SIGHUP)  # new workers, which never held the good repository
        wait_until(lambda: len(server.workers()) == 2 and not set(server.workers()) & set(before), log=server.log)
    server.on_every_worker(lambda h: "reload_failed" in requests.get(server.url + "/v2/health/ready", headers=h, timeout=30).json())
    ready = requests.get(server.url + "/v2/health/ready", timeout=30)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert ready.json()["reload_failed"].startswith("the repository could not be read: ")
    for name in EXPECTED:  # on every worker
        server.on_every_worker(lambda h, name=name: predicts(server, name, h), timeout=20)
    metrics = requests.get(server.url + "/metrics", timeout=30).text
    assert float(re.search(r'^xorlab_repository_reloads_total\{result="failed"\} (\S+)$', metrics, re.M).group(1)) >= 1
    assert "repository reload failed: the repository could not be read" in server.log.read_text()
    # Repaired: the failure is history.
    publish(ROOT / "models", server.models)
    server.on_every_worker(lambda h: "reload_failed" not in requests.get(server.url + "/v2/health/ready", headers=h, timeout=30).json())


def test_a_model_that_fails_in_a_new_repository_keeps_its_last_good_version(server, tmp_path):
    new = tmp_path / "new" / "models"
    shutil.copytree(ROOT / "models", new)
    (new / "deep" / "1" / "model.onnx").write_bytes(b"not onnx")  # the manifest's sha256 no longer matches
    publish(new, server.models)

    def deep_kept(headers: dict) -> bool:
        index = {m["name"]: m for m in requests.post(server.url + "/v2/repository/index", headers=headers, timeout=30).json()}
        return index["deep"]["state"] == "READY" and index["deep"]["reason"].startswith(
            "serving the last good version: the new one was refused: artifact 'deep/1/model.onnx'")

    server.on_every_worker(deep_kept)
    assert "reload_failed" in _get(server, "/v2/health/ready").json()
    assert predictions_hold(server)


def test_an_api_load_reloads_that_model_and_leaves_the_others_as_they_are(server):
    # deep's file changes on disk (a sha256 mismatch): nothing re-reads it until someone asks.
    (server.models / "deep" / "1" / "model.onnx").write_bytes(b"changed in place")
    assert requests.post(f"{server.url}/v2/repository/models/mlp/load", headers=AUTH, timeout=30).status_code == 200
    server.on_every_worker(lambda h: requests.get(f"{server.url}/v2/models/deep/ready", headers=h, timeout=30).status_code == 200,
                           timeout=20)
    # Asked to load deep, every worker reads it, refuses it, and serves the version it had.
    r = requests.post(f"{server.url}/v2/repository/models/deep/load", headers=AUTH, timeout=30)
    assert r.status_code == 400 and r.json()["error"].startswith("failed to load 'deep': artifact 'deep/1/model.onnx'")
    assert predictions_hold(server)


def test_a_load_of_a_model_the_manifest_does_not_name_changes_nothing(server, tmp_path):
    (control,) = (tmp_path / "run").glob("xorlab-serve-*")
    r = requests.post(f"{server.url}/v2/repository/models/resnet/load", headers=AUTH, timeout=30)
    assert r.status_code == 404 and r.json()["error"].startswith("model 'resnet' is not in the repository's manifest")
    assert not (control / "control.json").exists()  # no worker was asked to re-read anything
