"""The deployment, run for real: the three images built from the Dockerfiles, the compose stack
(train -> serve -> proxy) started by a Compose implementation with a short training, and the
service used through the proxy's published port the way a client would.

Engine: `docker` when its daemon answers (with `docker compose`), else `podman` (with
podman-compose); skipped, with the reason, where neither runs. Everything is made under one
project name per run (containers, the `models` volume, the network, the test's own client
container) and removed at the end, also when a test or the start-up fails; a leftover is an error.

Podman without systemd runs no healthcheck on a timer: the checks are run on demand there
(`podman healthcheck run`, exit 0 = healthy), and on a timer by Docker.
"""

from __future__ import annotations

import asyncio
import hashlib
import html.parser
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

from tests import ROOT
from tests.deploy.engine import COMPOSE_FILE, Engine, build_env, build_images
from tools.live_server import free_port

SERVE_UID = 10001
MAX_BODY = 16 * 1024 * 1024  # xorlab.serve.config's max_body_bytes; nginx.conf's client_max_body_size
XOR_INPUTS = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR = [0, 1, 1, 0]
# The whole-pipeline run is short: the four models at the lesson's settings (seconds) and a
# small study, enough for the report's verdict and pictures.
SHORT_TRAINING = ["--study-seeds", "8", "--function-seeds", "2"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]  # the first test's setup builds the images


# --- the stack -------------------------------------------------------------------------------


class Stack:
    """One compose project: the repository's docker-compose.yml plus a test override."""

    def __init__(self, engine: Engine, tmp: Path):
        self.engine = engine
        self.project = f"xorlabtest{uuid.uuid4().hex[:10]}"
        self.port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = yaml.safe_load(COMPOSE_FILE.read_text())
        train_command = base["services"]["train"]["command"]
        assert "--if-missing" in train_command, "train must keep an existing repository (docs/deploying.md)"
        self.override = tmp / "compose.test.yml"
        self.override.write_text(yaml.safe_dump({"services": {"train": {"command": train_command + SHORT_TRAINING}}}))
        self.images = {name: service["image"] for name, service in base["services"].items()}
        self.env = build_env(
            engine,
            {
                **os.environ,
                "XORLAB_ADDRESS": "127.0.0.1",
                "XORLAB_PORT": str(self.port),
                "XORLAB_GRPC_PORT": str(self.grpc_port),
            },
        )
        self.cold_start: float | None = None

    def compose(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        command = [*self.engine.compose, "-p", self.project, "-f", str(COMPOSE_FILE), "-f", str(self.override), *args]
        result = subprocess.run(command, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"compose {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{self.logs()}"
            )
        return result

    def container(self, service: str) -> str:
        ids = self.engine.run(
            "ps",
            "-a",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ).stdout.split()
        assert len(ids) == 1, f"{service}: expected one container, found {ids}"
        return ids[0]

    def healthy(self, service: str) -> bool:
        cid = self.container(service)
        if self.engine.name == "podman":
            return self.engine.run("healthcheck", "run", cid, check=False).returncode == 0
        status = self.engine.run("inspect", "--format", "{{.State.Health.Status}}", cid).stdout.strip()
        return status == "healthy"

    def wait_healthy(self, timeout: float = 600) -> float:
        """Until serve's and the proxy's healthchecks pass and the proxy answers ready; seconds taken."""
        start = time.monotonic()
        while True:
            ready = False
            try:
                ready = requests.get(f"{self.url}/v2/health/ready", timeout=2).status_code == 200
            except requests.RequestException:
                pass
            if ready and self.healthy("serve") and self.healthy("proxy"):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise AssertionError(f"the stack was not healthy within {timeout} s:\n{self.logs()}")
            time.sleep(0.5)

    def logs(self, service: str | None = None, last: int | None = 6000) -> str:
        """The services' logs (the `last` characters: enough for an assertion message)."""
        result = self.compose("logs", *([service] if service else []), check=False, timeout=120)
        return (result.stdout + result.stderr)[-last if last else 0 :]

    def exec(self, service: str, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.engine.run("exec", self.container(service), *command, check=check)

    def leftovers(self) -> list[str]:
        label = f"label=com.docker.compose.project={self.project}"
        found = []
        for kind, args in (
            ("container", ["ps", "-a", "-q", "--filter", label]),
            ("container", ["ps", "-a", "-q", "--filter", f"label=xorlab.test={self.project}"]),
            ("volume", ["volume", "ls", "-q", "--filter", label]),
            ("network", ["network", "ls", "-q", "--filter", label]),
        ):
            found += [f"{kind} {name}" for name in self.engine.run(*args, check=False).stdout.split()]
        if self.engine.name == "podman":
            pods = self.engine.run("pod", "ls", "-q", "--filter", f"name=^pod_{self.project}$", check=False)
            found += [f"pod {name}" for name in pods.stdout.split()]
        return sorted(set(found))

    def remove_everything(self) -> None:
        self.compose("down", "-v", check=False, timeout=300)
        # What `down` can miss: containers of a start that failed half way, the test's client.
        for item in self.leftovers():
            kind, name = item.split()
            command = {
                "container": ["rm", "-f", "-v"],
                "volume": ["volume", "rm", "-f"],
                "network": ["network", "rm"],
                "pod": ["pod", "rm", "-f"],
            }[kind]
            self.engine.run(*command, name, check=False)


@pytest.fixture(scope="module")
def stack(engine, tmp_path_factory):
    stack = Stack(engine, tmp_path_factory.mktemp("stack"))
    try:
        build_images(engine, env=stack.env, files=[COMPOSE_FILE, stack.override], project=["-p", stack.project])
        started = time.monotonic()
        stack.compose("up", "-d")
        stack.wait_healthy()
        stack.cold_start = time.monotonic() - started
        print(f"\ncold start (first `up -d` to healthy, short training): {stack.cold_start:.1f} s")
        yield stack
    finally:
        stack.remove_everything()
        left = stack.leftovers()
        assert not left, f"the test stack left {left}"


# --- the images ------------------------------------------------------------------------------


def test_images_are_built_with_healthchecks_users_and_no_torch_for_serving(stack):
    engine = stack.engine
    config = {}
    for service, image in stack.images.items():
        inspected = json.loads(engine.run("image", "inspect", image).stdout)[0]
        config[service] = inspected["Config"]
        print(f"{image}: {inspected['Size'] / 1e6:.0f} MB")
        # Docker keeps it in Config, podman at the top level (and only in Docker's image format).
        config[service]["Healthcheck"] = inspected["Config"].get("Healthcheck") or inspected.get("Healthcheck")
    for service in ("serve", "proxy"):
        assert (config[service]["Healthcheck"] or {}).get("Test"), f"the {service} image lost its HEALTHCHECK"
    for service, image_config in config.items():
        uid = image_config["User"].split(":")[0]
        assert uid.isdigit() and int(uid) >= 1000, f"{service} runs as {image_config['User']!r}"
    no_torch = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)"
    result = engine.run("run", "--rm", "--entrypoint", "python", stack.images["serve"], "-c", no_torch, check=False)
    assert result.returncode == 0, f"torch is importable in the serving image:\n{result.stderr}"


# --- through the proxy -----------------------------------------------------------------------


def _v2_infer(stack, model: str, rows: list[list[int]]) -> list[float]:
    meta = requests.get(f"{stack.url}/v2/models/{model}", timeout=10).json()
    (inp,) = meta["inputs"]
    body = {
        "inputs": [
            {"name": inp["name"], "shape": [len(rows), 2], "datatype": "FP32", "data": [v for row in rows for v in row]}
        ]
    }
    answer = requests.post(f"{stack.url}/v2/models/{model}/infer", json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    (out,) = answer.json()["outputs"]
    return out["data"]


def test_v1_and_v2_answer_the_truth_table_alike(stack):
    models = requests.get(f"{stack.url}/v1/models", timeout=10).json()["models"]
    assert {"perceptron", "mlp"} <= set(models)
    for model in models:
        v1 = requests.post(f"{stack.url}/v1/models/{model}:predict", json={"instances": XOR_INPUTS}, timeout=10)
        assert v1.status_code == 200, v1.text
        v1_out = np.ravel(v1.json()["predictions"])
        v2_out = np.ravel(_v2_infer(stack, model, XOR_INPUTS))
        np.testing.assert_allclose(v1_out, v2_out, rtol=1e-6, err_msg=model)
        if model == "mlp":
            assert [round(y) for y in v2_out] == XOR, f"mlp does not solve XOR: {v2_out}"
        if model == "perceptron":  # one line cannot separate XOR's points
            assert [round(y) for y in v2_out] != XOR


def test_tritonclient_binary_infer(stack):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(f"127.0.0.1:{stack.port}")
    assert client.is_server_ready()
    meta = client.get_model_metadata("mlp")
    inp = httpclient.InferInput(meta["inputs"][0]["name"], [4, 2], "FP32")
    inp.set_data_from_numpy(np.array(XOR_INPUTS, dtype=np.float32), binary_data=True)
    out_name = meta["outputs"][0]["name"]
    result = client.infer("mlp", [inp], outputs=[httpclient.InferRequestedOutput(out_name, binary_data=True)])
    assert np.round(result.as_numpy(out_name)).ravel().tolist() == XOR


def test_tritonclient_grpc_through_the_proxys_grpc_port(stack):
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(f"127.0.0.1:{stack.grpc_port}")
    assert client.is_server_live() and client.is_model_ready("mlp")
    inp = grpcclient.InferInput("x", [4, 2], "FP32")
    inp.set_data_from_numpy(np.array(XOR_INPUTS, dtype=np.float32))
    result = client.infer("mlp", [inp], outputs=[grpcclient.InferRequestedOutput("y")])
    assert np.round(result.as_numpy("y")).ravel().tolist() == XOR
    with pytest.raises(grpcclient.InferenceServerException) as refused:
        client.infer("nope", [inp])
    assert refused.value.status() == "StatusCode.NOT_FOUND"


def test_report_names_who_solves_xor(stack):
    report = requests.get(f"{stack.url}/v1/report", timeout=10).json()
    solvers = sorted(name for name, model in report["models"].items() if model["solved"])
    assert "mlp" in solvers and "perceptron" not in solvers, solvers
    for name in solvers:
        assert name in report["verdict"], f"the verdict does not name {name}: {report['verdict']}"


class _Images(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs)["src"])


def test_report_page_and_its_pictures(stack):
    page = requests.get(f"{stack.url}/", headers={"Accept": "text/html"}, timeout=10)  # a browser; others get JSON
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    parser = _Images()
    parser.feed(page.text)
    assert parser.sources, "the report page shows no picture"
    for source in parser.sources:
        picture = requests.get(stack.url + source, timeout=10)
        assert picture.status_code == 200, source
        assert picture.headers["Content-Type"].startswith("image/"), (source, picture.headers["Content-Type"])


def test_request_id_reaches_the_service_and_comes_back(stack):
    rid = f"test-{uuid.uuid4().hex}"
    answer = requests.get(f"{stack.url}/v2/health/ready", headers={"X-Request-ID": rid}, timeout=10)
    assert answer.headers["X-Request-ID"] == rid
    assert rid in stack.logs("serve", last=None), "gunicorn's access log never saw the request id"
    made = requests.get(f"{stack.url}/v2/health/live", timeout=10).headers["X-Request-ID"]
    assert len(made) == 32 and int(made, 16) >= 0  # one made for a client that sent none


def test_body_limit_is_the_services_and_proxy_errors_are_json(stack):
    url = f"{stack.url}/v2/models/mlp/infer"
    headers = {"Content-Type": "application/json"}
    at_limit = requests.post(url, data=b" " * MAX_BODY, headers=headers, timeout=60)
    assert at_limit.status_code == 400, "a body at the limit must reach the service (which refuses bad JSON)"
    over = requests.post(url, data=b" " * (MAX_BODY + 1), headers=headers, timeout=60)
    assert over.status_code == 413 and over.headers["Content-Type"] == "application/json"
    assert "16777216" in over.json()["error"]
    huge_header = requests.get(f"{stack.url}/v2/health/live", headers={"X-Big": "a" * 40_000}, timeout=10)
    assert huge_header.status_code in (400, 431) and huge_header.headers["Content-Type"] == "application/json"


def test_serve_runs_unprivileged_on_a_read_only_root_behind_the_proxy_only(stack):
    assert stack.exec("serve", "id", "-u").stdout.strip() == str(SERVE_UID)
    denied = stack.exec("serve", "touch", "/opt/venv/x", check=False)
    assert denied.returncode != 0 and "Read-only file system" in denied.stderr
    denied = stack.exec("serve", "touch", "/var/lib/xorlab/models/x", check=False)
    assert denied.returncode != 0, "serve can write to the model repository"
    serve = json.loads(stack.engine.run("inspect", stack.container("serve")).stdout)[0]
    assert serve["HostConfig"]["ReadonlyRootfs"] is True
    bindings = serve["HostConfig"].get("PortBindings") or {}  # podman lists exposed ports, bound to nothing
    published = [b for found in bindings.values() for b in found or [] if b.get("HostPort")]
    assert not published, f"gunicorn is published on the host: {published}"
    proxy = json.loads(stack.engine.run("inspect", stack.container("proxy")).stdout)[0]
    assert proxy["HostConfig"]["ReadonlyRootfs"] is True and stack.exec("proxy", "id", "-u").stdout.strip() != "0"


def test_serves_network_hands_a_closing_listeners_queue_to_the_others(stack):
    # compose's sysctls, as the engine applied them in serve's network namespace
    assert stack.exec("serve", "cat", "/proc/sys/net/ipv4/tcp_migrate_req").stdout.strip() == "1"


def test_gunicorn_runs_the_worker_class_compose_asks_for(stack):
    from xorlab.serve.config import WORKERS

    wanted = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["serve"]["environment"]["XORLAB_WORKER_CLASS"]
    assert f"Using worker: {WORKERS[wanted]}" in stack.logs("serve", last=None)


def test_the_proxy_follows_serve_to_a_new_address(stack):
    """nginx keeps its connections to gunicorn open (an upstream block), and nginx 1.22 reads an
    upstream block's addresses only when it loads its configuration: the proxy's entrypoint looks
    the service's name up again every 2 s and reloads nginx when its addresses change. Here serve
    leaves the network and comes back at another address (the proxy itself is left alone; a
    recreated serve would get a new address the same way, but Compose implementations recreate
    the services that depend on it too)."""
    engine, serve = stack.engine, stack.container("serve")
    ((network, settings),) = json.loads(engine.run("inspect", serve).stdout)[0]["NetworkSettings"]["Networks"].items()
    before = settings["IPAddress"]
    connect = ["network", "connect", "--alias", "serve"]
    if engine.name == "podman":  # an address of its own choosing: podman's IPAM may hand back the same one
        subnet = json.loads(engine.run("network", "inspect", network).stdout)[0]["subnets"][0]["subnet"]
        prefix = subnet.rsplit(".", 1)[0]
        assert subnet.endswith(".0/24") and before.startswith(prefix + "."), (subnet, before)
        connect += ["--ip", f"{prefix}.{200 if not before.endswith('.200') else 201}"]
    engine.run("network", "disconnect", network, serve)
    engine.run(*connect, network, serve)
    after = json.loads(engine.run("inspect", serve).stdout)[0]["NetworkSettings"]["Networks"][network]["IPAddress"]
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = requests.post(f"{stack.url}/v1/models/mlp:predict", json={"instances": [[0, 1]]}, timeout=5)
            if answer.status_code == 200:
                break
            assert answer.headers["Content-Type"] == "application/json", answer.text  # the proxy's own 5xx, in JSON
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, (
            f"the proxy did not reach serve at {after} (was {before}):\n{stack.logs('proxy')}"
        )
        time.sleep(0.5)
    print(f"\nserve moved: {before} -> {after}")
    if after != before:
        assert f"now at: {after}:8000" in stack.logs("proxy", last=None), "the proxy never named serve's new address"
    stack.wait_healthy()


# --- slow clients ----------------------------------------------------------------------------


class Attackers:
    """SLOW connections sending their headers a line a second (never the blank line), SILENT ones
    sending nothing; a connection the proxy closes is opened again, so the count stays up."""

    def __init__(self, port: int, slow: int, silent: int):
        self.port, self.slow, self.silent = port, slow, silent
        self.open = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _one(self, slow: bool) -> None:
        while not self.stop.is_set():
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", self.port), 5)
            except (TimeoutError, OSError):
                await asyncio.sleep(0.5)
                continue
            self.open += 1
            try:
                if slow:
                    writer.write(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n")
                line = 0
                while not self.stop.is_set():
                    if slow:
                        writer.write(b"X-Slow-%d: 1\r\n" % line)
                        line += 1
                        await writer.drain()
                    try:
                        if await asyncio.wait_for(reader.read(1), 1.0) is not None:
                            break  # the proxy answered or closed: reconnect
                    except TimeoutError:
                        pass
            except OSError:
                pass
            finally:
                self.open -= 1
                writer.close()

    async def _main(self) -> None:
        await asyncio.gather(
            *[self._one(True) for _ in range(self.slow)], *[self._one(False) for _ in range(self.silent)]
        )

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while self.open < self.slow + self.silent and time.monotonic() < deadline:
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)


def test_slow_and_silent_clients_do_not_delay_others(stack):
    """128 slow-header and 128 silent connections held open through the proxy; meanwhile a fresh
    client's requests (a new connection each) must all be answered within 1 s. Against gunicorn
    alone, 16 slow-header connections delay every fresh request past 10 s (docs/deploying.md)."""
    slow = silent = 128
    latencies, held = [], []
    with Attackers(stack.port, slow, silent) as attackers:
        end = time.monotonic() + 12  # past nginx's 10 s header timeout: the attackers reconnect
        while time.monotonic() < end:
            held.append(attackers.open)
            start = time.monotonic()
            answer = requests.post(
                f"{stack.url}/v2/models/mlp/infer",
                timeout=10,
                json={"inputs": [{"name": "x", "shape": [4, 2], "datatype": "FP32", "data": [0, 0, 0, 1, 1, 0, 1, 1]}]},
            )
            latencies.append(time.monotonic() - start)
            assert answer.status_code == 200, answer.text
            time.sleep(0.2)
    print(
        f"\n{slow}+{silent} slow/silent connections (held: {min(held)}-{max(held)}); {len(latencies)} fresh requests, "
        f"median {sorted(latencies)[len(latencies) // 2] * 1e3:.1f} ms, max {max(latencies) * 1e3:.1f} ms"
    )
    assert sorted(held)[len(held) // 10] >= 0.9 * (slow + silent), f"the attackers were not held open: {held}"
    assert max(latencies) < 1.0, f"a fresh request waited {max(latencies):.2f} s: {sorted(latencies)[-5:]}"


def test_small_requests_declaring_millions_of_objects_kill_no_worker_behind_the_proxy(stack):
    """Round three, through the published ports, against serve's memory limit (512 MB): a 2 kB
    gzip gRPC message of a million empty inputs and a 16 kB gzip body declaring five million empty
    lists each once got a worker killed by the memory cgroup (a 502 for it and for every request
    that worker held). Now each is a client error, and every worker lives."""
    import gzip

    import grpc
    from tritonclient.grpc import service_pb2 as pb

    message = pb.ModelInferRequest(model_name="mlp").SerializeToString() + b"\x2a\x00" * 1_000_000
    body = b'{"instances": [' + b"[]," * 5_500_000 + b"[]]}"
    sent = gzip.compress(body, 9)
    with grpc.insecure_channel(f"127.0.0.1:{stack.grpc_port}") as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        for _ in range(3):
            with pytest.raises(grpc.RpcError) as refused:
                call(message, timeout=60, compression=grpc.Compression.Gzip)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
            answer = requests.post(
                f"{stack.url}/v1/models/mlp:predict", data=sent, headers={"Content-Encoding": "gzip"}, timeout=60
            )
            assert answer.status_code == 400 and "more values than" in answer.json()["error"], answer.text
    log = stack.logs("serve", last=None)
    assert "SIGKILL" not in log and "out of memory" not in log, log[-3000:]
    assert _v2_infer(stack, "mlp", XOR_INPUTS)


# --- the life cycle --------------------------------------------------------------------------


def _manifest_digest(stack) -> str:
    manifest = stack.exec("serve", "cat", "/var/lib/xorlab/models/manifest.json").stdout
    return hashlib.sha256(manifest.encode()).hexdigest()


def test_down_keeps_the_repository_and_up_again_does_not_retrain(stack):
    published = _manifest_digest(stack)
    stack.compose("down")
    volumes = stack.engine.run("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}")
    assert volumes.stdout.split(), "`down` removed the models volume"
    started = time.monotonic()
    stack.compose("up", "-d")
    stack.wait_healthy()
    seconds = time.monotonic() - started
    print(f"\nsecond `up -d` to healthy: {seconds:.1f} s (cold start was {stack.cold_start:.1f} s)")
    assert _manifest_digest(stack) == published, "the second `up` retrained and republished the repository"


INFLIGHT_CLIENT = r"""
import socket, sys, time
body = b'{"inputs": [{"name": "%s", "shape": [4, 2], "datatype": "FP32", "data": [0, 0, 0, 1, 1, 0, 1, 1]}]}'
sock = socket.create_connection(("serve", 8000), timeout=30)
sock.sendall(b"POST /v2/models/mlp/infer HTTP/1.1\r\nHost: serve\r\nContent-Type: application/json\r\n"
             b"Connection: close\r\nContent-Length: %%d\r\n\r\n" %% len(body) + body[:20])
print("half sent", flush=True)
time.sleep(float(sys.argv[1]))
sock.sendall(body[20:])
answer = b""
while chunk := sock.recv(65536):
    answer += chunk
head, _, body = answer.partition(b"\r\n\r\n")
print("STATUS", head.split(b"\r\n")[0].decode(errors="replace"), flush=True)
print("BODY", body.decode(errors="replace"), flush=True)
"""


def test_sigterm_lets_an_in_flight_request_finish(stack):
    """A request whose body is still arriving when serve gets SIGTERM is answered, and serve exits 0.
    The client runs in a container on the stack's network (gunicorn is not published)."""
    engine, serve = stack.engine, stack.container("serve")
    input_name = requests.get(f"{stack.url}/v2/models/mlp", timeout=10).json()["inputs"][0]["name"]
    networks = json.loads(engine.run("inspect", serve).stdout)[0]["NetworkSettings"]["Networks"]
    client = f"{stack.project}-client"
    engine.run(
        "run",
        "-d",
        "--name",
        client,
        "--label",
        f"xorlab.test={stack.project}",
        "--network",
        next(iter(networks)),
        "--entrypoint",
        "python",
        stack.images["serve"],
        "-c",
        INFLIGHT_CLIENT % input_name,
        "3",
    )
    deadline = time.monotonic() + 60
    while "half sent" not in engine.run("logs", client).stdout:
        assert time.monotonic() < deadline, engine.run("logs", client).stderr
        time.sleep(0.2)
    # `compose stop`: SIGTERM, then SIGKILL after stop_grace_period; and an explicit stop, which no
    # restart policy undoes.
    stopping = subprocess.Popen(
        [
            *stack.engine.compose,
            "-p",
            stack.project,
            "-f",
            str(COMPOSE_FILE),
            "-f",
            str(stack.override),
            "stop",
            "serve",
        ],
        cwd=ROOT,
        env=stack.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        engine.run("wait", client, timeout=60)
    finally:
        stopping.wait(timeout=120)
    lines = dict(line.split(" ", 1) for line in engine.run("logs", client).stdout.splitlines() if " " in line)
    assert lines.get("STATUS", "").startswith("HTTP/1.1 200"), (
        f"the in-flight request was not answered:\n{lines}\n{stack.logs('serve')}"
    )
    body = json.loads(lines["BODY"])
    assert [round(y) for y in body["outputs"][0]["data"]] == XOR
    state = json.loads(engine.run("inspect", serve).stdout)[0]["State"]
    assert state["ExitCode"] == 0, f"serve exited {state['ExitCode']} after SIGTERM:\n{stack.logs('serve')}"
