"""deploy/kubernetes's pods, run: `podman kube play` plays the claim, the training Job's pod and the
serving Deployment as the base renders them (`kubectl kustomize deploy/kubernetes`), from the images
docker-compose.yml builds. Training publishes a repository into the claim; serving becomes ready
on it and answers the XOR truth table through its ports (HTTP and gRPC); running the Job's pod
again changes nothing (--if-missing); the retraining CronJob's pod publishes a new repository,
which serving loads by itself while it keeps answering.

The pod specs are the committed ones but for what podman cannot express, each changed by one
function below (docs/deploying.md lists them): names made unique, emptyDir volumes included
(podman's names are the host's, and it makes an emptyDir a volume named as the pod names it);
the Job and the CronJob played as Pods made from their pod templates (podman 4.3 plays Pods,
Deployments and claims); the serving ports bound to loopback (there is no Service); the probes
removed (podman makes the liveness probe a curl healthcheck the image cannot run), their routes
asked by the test; the training pods' network policy given as `--network none`. What podman
ignores (the preStop hook, the grace period, the topology spread, fsGroup, an emptyDir's medium
and size) is not exercised here; test_kubernetes.py checks it in the manifests.
"""

from __future__ import annotations

import copy
import json
import time
import uuid

import numpy as np
import pytest
import requests
import yaml

from tests.deploy.engine import Engine, build_images, find_podman
from tests.deploy.kube import KUSTOMIZATIONS, env, kustomize, one, pod_spec, tool
from tools.live_server import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # the images may be built first

XOR_INPUTS = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR = [0, 1, 1, 0]


# --- what podman cannot express, one change each -----------------------------------------------


def unique_names(docs: list[dict], suffix: str) -> list[dict]:
    """podman's pods, containers and volumes are named on the host, not in a namespace: every
    name (and every claim a pod names) gets the run's suffix, so runs side by side never meet. And
    podman 4.3 makes an emptyDir a volume named as the pod names it (`tmp`), shared by every pod
    that names one so: each pod's gets the pod's name, so that it is the pod's own, as in Kubernetes."""
    docs = copy.deepcopy(docs)
    claims = {d["metadata"]["name"] for d in docs if d["kind"] == "PersistentVolumeClaim"}
    for doc in docs:
        doc["metadata"]["name"] = f"{doc['metadata']['name']}-{suffix}"
        if doc["kind"] not in ("Pod", "Deployment", "Job", "CronJob"):
            continue
        spec = pod_spec(doc)
        renamed = {}
        for volume in spec.get("volumes", []):
            claim = volume.get("persistentVolumeClaim")
            if claim and claim["claimName"] in claims:
                claim["claimName"] = f"{claim['claimName']}-{suffix}"
            if "emptyDir" in volume:
                renamed[volume["name"]] = volume["name"] = f"{volume['name']}-{doc['metadata']['name']}"
        for container in spec["containers"]:
            for mount in container.get("volumeMounts", []):
                mount["name"] = renamed.get(mount["name"], mount["name"])
    return docs


def as_pod(workload: dict) -> dict:
    """A Job's or CronJob's pod as a Pod, which podman plays (it plays no Job): the template's
    metadata and spec, unchanged."""
    template = (
        workload["spec"]["jobTemplate"]["spec"]["template"]
        if workload["kind"] == "CronJob"
        else workload["spec"]["template"]
    )
    metadata = {
        "name": workload["metadata"]["name"],
        "namespace": workload["metadata"]["namespace"],
        **copy.deepcopy(template["metadata"]),
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": copy.deepcopy(template["spec"])}


def on_loopback(deployment: dict, host_ports: dict[str, int]) -> dict:
    """No Service in front: the container's ports are bound on the host's loopback (a free port
    each) for the test to be the client."""
    deployment = copy.deepcopy(deployment)
    for port in pod_spec(deployment)["containers"][0]["ports"]:
        port["hostIP"], port["hostPort"] = "127.0.0.1", host_ports[port["name"]]
    return deployment


def without_probes(deployment: dict) -> dict:
    """podman 4.3 turns a liveness probe into a healthcheck that runs curl (the slim image has none)
    on the probe's port as a number (a named port becomes 0), and ignores the others: the probes
    go, and the test asks their routes on their ports itself."""
    deployment = copy.deepcopy(deployment)
    for container in pod_spec(deployment)["containers"]:
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            container.pop(probe, None)
    return deployment


NO_NETWORK = ["--network", "none"]  # the training pods' NetworkPolicy: nothing in, nothing out


# --- the run -------------------------------------------------------------------------------------


class Play:
    """The pods of one run, played and removed (`podman kube down`, then whatever is left)."""

    def __init__(self, engine: Engine, folder):
        self.engine, self.folder = engine, folder
        self.suffix = f"kubetest{uuid.uuid4().hex[:8]}"
        self.files: list = []

    def play(self, name: str, docs: list[dict], *options: str) -> None:
        path = self.folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        self.files.append(path)
        self.engine.run("kube", "play", *options, str(path), timeout=300)

    def container(self, pod: str, name: str) -> str:
        return f"{pod}-{name}"  # podman's name for a played pod's container

    def exit_code(self, container: str, timeout: float = 600) -> int:
        done = self.engine.run("wait", container, timeout=timeout)
        return int(done.stdout.strip().splitlines()[-1])

    def logs(self, container: str) -> str:
        done = self.engine.run("logs", container, check=False)
        return done.stdout + done.stderr

    def leftovers(self) -> list[str]:
        pods = self.engine.run("pod", "ls", "--format", "{{.Name}}", check=False).stdout.split()
        volumes = self.engine.run("volume", "ls", "--format", "{{.Name}}", check=False).stdout.split()
        return [f"pod {p}" for p in pods if self.suffix in p] + [f"volume {v}" for v in volumes if self.suffix in v]

    def remove_everything(self) -> None:
        for path in reversed(self.files):
            self.engine.run("kube", "down", str(path), check=False, timeout=300)
        for item in self.leftovers():
            kind, name = item.split()
            self.engine.run(
                *(["pod", "rm", "-f", name] if kind == "pod" else ["volume", "rm", "-f", name]), check=False
            )


@pytest.fixture(scope="module")
def podman() -> Engine:
    found = find_podman()
    if isinstance(found, str):
        pytest.skip(f"podman kube play needs podman: {found}")
    return found


@pytest.fixture(scope="module")
def base(podman) -> list[dict]:
    return kustomize(tool("kubectl-env.sh", "kubectl", "kubectl 1.33"), KUSTOMIZATIONS["default"])


def _manifest(engine: Engine, container: str) -> dict:
    return json.loads(engine.run("exec", container, "cat", "/var/lib/xorlab/models/manifest.json").stdout)


def _v2(url: str, model: str) -> list[float]:
    body = {"inputs": [{"name": "x", "shape": [4, 2], "datatype": "FP32", "data": [v for r in XOR_INPUTS for v in r]}]}
    answer = requests.post(f"{url}/v2/models/{model}/infer", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["outputs"][0]["data"]


def test_the_training_and_serving_pods_run_under_podman_kube_play(podman, base, tmp_path):
    started = time.monotonic()
    build_images(podman, "train", "serve")
    print(f"\nimages built (or found) in {time.monotonic() - started:.1f} s")
    run = Play(podman, tmp_path)
    ports = {"http": free_port(), "grpc": free_port()}
    url = f"http://127.0.0.1:{ports['http']}"
    docs = unique_names(base, run.suffix)
    claim = one(docs, "PersistentVolumeClaim")
    train, retrain = as_pod(one(docs, "Job")), as_pod(one(docs, "CronJob"))
    committed = one(docs, "Deployment")
    serve = without_probes(on_loopback(committed, ports))
    try:
        # Training publishes into the claim, with no network at all.
        run.play("train", [claim, train], *NO_NETWORK)
        trainer = run.container(train["metadata"]["name"], pod_spec(train)["containers"][0]["name"])
        started = time.monotonic()
        code = run.exit_code(trainer)
        assert code == 0, f"training exited {code}:\n{run.logs(trainer)[-4000:]}"
        print(f"training pod: published in {time.monotonic() - started:.1f} s")

        # Serving becomes ready on the repository and answers through its ports.
        run.play("serve", [serve])
        server = run.container(f"{serve['metadata']['name']}-pod-0", pod_spec(serve)["containers"][0]["name"])
        started = time.monotonic()
        deadline = started + 180
        while True:
            try:
                if requests.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"serving was not ready within 180 s:\n{run.logs(server)[-4000:]}"
            time.sleep(1)
        print(f"serving pod: ready in {time.monotonic() - started:.1f} s")
        container = pod_spec(committed)["containers"][0]
        named = {p["name"]: ports[p["name"]] for p in container["ports"]}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = container[probe]["httpGet"]
            answer = requests.get(
                f"http://127.0.0.1:{named[get['port']]}{get['path']}", timeout=container[probe]["timeoutSeconds"]
            )
            assert answer.status_code == 200, f"{probe}: {get} answered {answer.status_code}"
        v1 = requests.post(f"{url}/v1/models/mlp:predict", json={"instances": XOR_INPUTS}, timeout=10)
        assert v1.status_code == 200 and [round(y) for y in v1.json()["predictions"]] == XOR, v1.text
        assert [round(y) for y in _v2(url, "mlp")] == XOR
        assert [round(y) for y in _v2(url, "perceptron")] != XOR  # one line cannot separate XOR's points
        import tritonclient.grpc as grpcclient

        client = grpcclient.InferenceServerClient(f"127.0.0.1:{ports['grpc']}")
        x = grpcclient.InferInput("x", [4, 2], "FP32")
        x.set_data_from_numpy(np.array(XOR_INPUTS, dtype=np.float32))
        assert np.round(client.infer("mlp", [x]).as_numpy("y")).ravel().tolist() == XOR

        # Hardened as the manifest says: uid 10001, a read-only root and repository, /tmp writable,
        # the workers the manifest sets, the published files the training user's.
        assert podman.run("exec", server, "id", "-u").stdout.strip() == "10001"
        for path in ("/opt/venv/x", "/var/lib/xorlab/models/x"):
            denied = podman.run("exec", server, "touch", path, check=False)
            assert denied.returncode != 0 and "Read-only file system" in denied.stderr, path
        assert podman.run("exec", server, "touch", "/tmp/x", check=False).returncode == 0
        owner = podman.run("exec", server, "stat", "-c", "%u", "/var/lib/xorlab/models/manifest.json").stdout.strip()
        assert owner == "10001"
        assert run.logs(server).count("Booting worker with pid") == int(env(container)["XORLAB_WORKERS"])
        published = _manifest(podman, server)

        # The Job's pod again: --if-missing leaves the repository as it is.
        run.play(
            "train-again",
            [dict(train, metadata=dict(train["metadata"], name=train["metadata"]["name"] + "-again"))],
            *NO_NETWORK,
        )
        again = run.container(train["metadata"]["name"] + "-again", pod_spec(train)["containers"][0]["name"])
        assert run.exit_code(again) == 0 and "nothing to do (--if-missing)" in run.logs(again)
        assert _manifest(podman, server) == published

        # Retraining (the CronJob's pod) publishes a new repository; serving loads it by itself
        # (XORLAB_POLL_SECONDS) and answers throughout.
        run.play("retrain", [retrain], *NO_NETWORK)
        retrainer = run.container(retrain["metadata"]["name"], pod_spec(retrain)["containers"][0]["name"])
        poll = int(env(container)["XORLAB_POLL_SECONDS"])
        failures, answered, started = [], 0, time.monotonic()
        retraining, reloaded_at = True, None
        # Asking all along: while training runs, while serving notices and loads the new repository,
        # and a poll interval after.
        while reloaded_at is None or time.monotonic() < reloaded_at + poll:
            try:
                outputs = [round(y) for y in _v2(url, "mlp")]
                answered += outputs == XOR
                if outputs != XOR:
                    failures.append(f"mlp answered {outputs}")
            except (AssertionError, requests.RequestException) as e:
                failures.append(repr(e))
            if (
                retraining
                and podman.run("inspect", "--format", "{{.State.Running}}", retrainer).stdout.strip() != "true"
            ):
                retraining, trained_at = False, time.monotonic()
                assert run.exit_code(retrainer) == 0, run.logs(retrainer)[-4000:]
            if not retraining and reloaded_at is None:
                if "the model repository changed" in run.logs(server):
                    reloaded_at = time.monotonic()
                assert time.monotonic() < trained_at + 4 * poll + 10, (
                    f"serving did not load the new repository:\n{run.logs(server)[-3000:]}"
                )
            time.sleep(0.2)
        assert _manifest(podman, server)["created"] != published["created"], "retraining published nothing"
        print(
            f"retraining: published in {trained_at - started:.1f} s, loaded by serving "
            f"{reloaded_at - trained_at:.1f} s later; {answered} truth tables answered meanwhile, "
            f"{len(failures)} failed"
        )
        assert failures == [] and answered > 0, failures[:5]
    finally:
        run.remove_everything()
        left = run.leftovers()
        assert not left, f"the test left {left}"
