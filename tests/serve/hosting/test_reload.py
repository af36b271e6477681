"""The repository over time, against a real gunicorn: a server started before training publishes
becomes ready when it does (poll mode); a repository republished under traffic is swapped in with
no failed request; a broken one, by poll or SIGHUP, leaves the last good models serving and says
so; the admin API loads one model and leaves the others as they are; and a retrained repository
published into the served folder and reloaded by SIGHUP while clients predict loses no request and
no count."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.fixtures import build_repository
from tests.serve.clients import ADMIN_TOKEN, AUTH, fresh, scrape
from tests.serve.committed import EXPECTED, MODELS
from tools.live_server import XorlabServer, running, wait_until
from xorlab.modelrepo import writer


def publish(source: Path, models: Path) -> None:
    """As training publishes, with its own writer: a complete copy staged beside the target, swapped in."""
    with writer.staging(models) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
        writer.publish(tmp, models)


def predicts(server, name: str, headers: dict | None = None) -> bool:
    """The model answers its truth table as the committed manifest records it."""
    r = requests.post(
        f"{server.url}/v1/models/{name}:predict",
        json={"instances": [[0, 0], [0, 1], [1, 0], [1, 1]]},
        headers=headers or {"Connection": "close"},
        timeout=30,
    )
    return (
        r.status_code == 200
        and max(abs(a - b) for a, b in zip(r.json()["predictions"], EXPECTED[name], strict=True)) <= 1e-5
    )


def predictions_hold(server) -> bool:
    return all(predicts(server, name) for name in EXPECTED)


@pytest.fixture
def polling_server(tmp_path):
    """A real gunicorn on a copy of the committed repository that it reads again every second (poll
    mode), the admin API on; its runtime folder in tmp_path/run."""
    models = tmp_path / "serve" / "models"
    models.parent.mkdir()
    shutil.copytree(MODELS, models)
    (tmp_path / "run").mkdir()
    with running(
        tmp_path, models, XORLAB_POLL_SECONDS="1", XORLAB_ADMIN_TOKEN=ADMIN_TOKEN, TMPDIR=str(tmp_path / "run")
    ) as srv:
        yield srv


@pytest.mark.slow
def test_a_server_started_before_its_repository_becomes_ready_when_it_is_published(tmp_path):
    models = tmp_path / "serve" / "models"
    models.parent.mkdir()
    srv = XorlabServer(tmp_path, models, XORLAB_POLL_SECONDS="1")
    try:
        wait_until(lambda: len(srv.workers()) == 2 and _status(srv, "/v2/health/ready") == 503)
        ready = requests.get(srv.url + "/v2/health/ready", timeout=30).json()
        assert ready["error"] == (
            "no model is ready: the model repository folder does not exist; "
            "waiting for a repository to be published (checked every 1 s)"
        )
        publish(MODELS, models)
        # Each worker polls on its own clock (a worker booting late reads it at boot).
        srv.on_every_worker(
            lambda h: requests.get(srv.url + "/v2/health/ready", headers=h, timeout=30).status_code == 200
        )
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


@pytest.mark.slow
def test_a_repository_republished_under_traffic_is_swapped_in_without_a_failed_request(polling_server, tmp_path):
    failures, stop = [], threading.Event()

    def traffic():
        with requests.Session() as s:
            while not stop.is_set():
                r = s.post(f"{polling_server.url}/v1/models/mlp:predict", json={"instances": [[0, 1]]}, timeout=30)
                if r.status_code != 200:
                    failures.append(r.text)

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        smaller = tmp_path / "smaller" / "models"
        build_repository(smaller, ("perceptron", "mlp"))  # other weights: the fixture's hand-made XOR nets
        publish(smaller, polling_server.models)
        wait_until(
            lambda: all(
                requests.get(polling_server.url + "/v1/models", headers={"Connection": "close"}, timeout=30).json()
                == {"models": ["mlp", "perceptron"]}
                for _ in range(6)
            )
        )
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert failures == []


BREAKS = {
    "an invalid manifest": lambda models: (models / "manifest.json").write_text('{"format": "xorlab-manifest/1", '),
    "the folder deleted": lambda models: shutil.rmtree(models),
}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["poll", "SIGHUP"])
@pytest.mark.parametrize("broken", BREAKS.values(), ids=BREAKS.keys())
def test_a_broken_repository_leaves_the_last_good_models_serving_and_says_so(polling_server, broken, how):
    before = polling_server.workers()
    broken(polling_server.models)
    if how == "SIGHUP":
        polling_server.proc.send_signal(signal.SIGHUP)  # new workers, which never held the good repository
        wait_until(
            lambda: len(polling_server.workers()) == 2 and not set(polling_server.workers()) & set(before),
            log=polling_server.log,
        )
    polling_server.on_every_worker(
        lambda h: "reload_failed" in requests.get(polling_server.url + "/v2/health/ready", headers=h, timeout=30).json()
    )
    ready = requests.get(polling_server.url + "/v2/health/ready", timeout=30)
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert ready.json()["reload_failed"].startswith("the repository could not be read: ")
    for name in EXPECTED:  # on every worker
        polling_server.on_every_worker(lambda h, name=name: predicts(polling_server, name, h), timeout=20)
    metrics = requests.get(polling_server.url + "/metrics", timeout=30).text
    assert float(re.search(r'^xorlab_repository_reloads_total\{result="failed"\} (\S+)$', metrics, re.M).group(1)) >= 1
    assert "repository reload failed: the repository could not be read" in polling_server.log.read_text()
    # Repaired: the failure is history.
    publish(MODELS, polling_server.models)
    polling_server.on_every_worker(
        lambda h: (
            "reload_failed" not in requests.get(polling_server.url + "/v2/health/ready", headers=h, timeout=30).json()
        )
    )


@pytest.mark.slow
def test_a_model_that_fails_in_a_new_repository_keeps_its_last_good_version(polling_server, tmp_path):
    new = tmp_path / "new" / "models"
    shutil.copytree(MODELS, new)
    (new / "deep" / "1" / "model.onnx").write_bytes(b"not onnx")  # the manifest's sha256 no longer matches
    publish(new, polling_server.models)

    def deep_kept(headers: dict) -> bool:
        index = {
            m["name"]: m
            for m in requests.post(polling_server.url + "/v2/repository/index", headers=headers, timeout=30).json()
        }
        return index["deep"]["state"] == "READY" and index["deep"]["reason"].startswith(
            "serving the last good version: the new one was refused: artifact 'deep/1/model.onnx'"
        )

    polling_server.on_every_worker(deep_kept)
    assert "reload_failed" in _get(polling_server, "/v2/health/ready").json()
    assert predictions_hold(polling_server)


@pytest.mark.slow
def test_an_api_load_reloads_that_model_and_leaves_the_others_as_they_are(polling_server):
    # deep's file changes on disk (a sha256 mismatch): nothing re-reads it until someone asks.
    (polling_server.models / "deep" / "1" / "model.onnx").write_bytes(b"changed in place")
    assert (
        requests.post(f"{polling_server.url}/v2/repository/models/mlp/load", headers=AUTH, timeout=30).status_code
        == 200
    )
    polling_server.on_every_worker(
        lambda h: requests.get(f"{polling_server.url}/v2/models/deep/ready", headers=h, timeout=30).status_code == 200,
        timeout=20,
    )
    # Asked to load deep, every worker reads it, refuses it, and serves the version it had.
    r = requests.post(f"{polling_server.url}/v2/repository/models/deep/load", headers=AUTH, timeout=30)
    assert r.status_code == 400 and r.json()["error"].startswith("failed to load 'deep': artifact 'deep/1/model.onnx'")
    assert predictions_hold(polling_server)


@pytest.mark.slow
def test_a_load_of_a_model_the_manifest_does_not_name_changes_nothing(polling_server, tmp_path):
    (control,) = (tmp_path / "run").glob("xorlab-serve-*")
    r = requests.post(f"{polling_server.url}/v2/repository/models/resnet/load", headers=AUTH, timeout=30)
    assert r.status_code == 404 and r.json()["error"].startswith("model 'resnet' is not in the repository's manifest")
    assert not (control / "control.json").exists()  # no worker was asked to re-read anything


# ---- SIGHUP under traffic, every count kept ------------------------------------------------------


def test_sighup_reload_of_a_republished_repository_under_traffic(admin_server):
    """Publish a retrained repository into the served folder and reload while clients predict:
    no request fails, the new manifest's models are served, and no count is lost or doubled."""
    before = scrape(admin_server, "nv_inference_request_success_total", "mlp")
    ok, failures, stop = [0], [], threading.Event()

    def client() -> None:
        with requests.Session() as session:  # keep-alive, like a real client
            while not stop.is_set():
                try:
                    r = session.post(
                        f"{admin_server.url}/v1/models/mlp:predict", json={"instances": [[1, 0]]}, timeout=30
                    )
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
    new = admin_server.root.parent / ".models.tmp-new"
    build_repository(new, names=("mlp", "deep"))
    os.rename(admin_server.root, admin_server.root.parent / "models.old")
    os.rename(new, admin_server.root)
    admin_server.proc.send_signal(signal.SIGHUP)

    deadline = time.monotonic() + 30
    streak = 0
    while streak < 10 and time.monotonic() < deadline:  # ten answers in a row from new workers
        streak = streak + 1 if fresh("GET", f"{admin_server.url}/v1/models").json()["models"] == ["deep", "mlp"] else 0
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert streak == 10, "the new repository was not served after SIGHUP"
    assert failures == []
    assert ok[0] > 0
    assert scrape(admin_server, "nv_inference_request_success_total", "mlp") - before == ok[0]
