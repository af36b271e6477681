"""The container engine the deployment tests drive, and the images they build with it.

`find_engine`: `docker` when its daemon answers (with `docker compose`), else `podman` (with
podman-compose), else why there is none. `build_images` builds docker-compose.yml's images the way
the Compose stack is built (tests/deploy/test_containers.py runs that stack; test_kube_play.py runs
the Kubernetes pods from the same images)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yml"


@dataclasses.dataclass
class Engine:
    name: str  # docker | podman
    cli: str
    compose: list[str]

    def run(self, *args: str, check: bool = True, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
        result = subprocess.run([self.cli, *args], capture_output=True, text=True, timeout=timeout, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result


def _answers(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def find_podman() -> Engine | str:
    """podman with podman-compose, or why not."""
    podman = shutil.which("podman")
    if podman and _answers([podman, "info"]):
        beside = Path(sys.executable).with_name("podman-compose")
        podman_compose = str(beside) if beside.exists() else shutil.which("podman-compose")
        if podman_compose:
            return Engine("podman", podman, [podman_compose])
        pytest.fail(
            "podman runs here but podman-compose is missing: install the dev extra (or pip install podman-compose)"
        )
    return "podman is installed but `podman info` fails" if podman else "podman is not installed"


def find_engine() -> Engine | str:
    """The engine to use, or why there is none."""
    why = []
    docker = shutil.which("docker")
    if docker and _answers([docker, "info"]):
        if _answers([docker, "compose", "version"]):
            return Engine("docker", docker, [docker, "compose"])
        why.append("docker runs but has no `docker compose` (Compose v2)")
    elif docker:
        why.append("docker is installed but its daemon does not answer (`docker info`)")
    podman = find_podman()
    if isinstance(podman, Engine):
        return podman
    why.append(podman)
    return "; ".join(why)


def build_env(engine: Engine, env: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    if engine.name == "podman":
        env["BUILDAH_FORMAT"] = "docker"  # OCI images have no HEALTHCHECK; Docker's format keeps it
    return env


def build_images(
    engine: Engine,
    *services: str,
    env: dict[str, str] | None = None,
    files: list[Path] | None = None,
    project: list[str] | None = None,
    timeout: float = 2400,
) -> None:
    """docker-compose.yml's images (all, or those of `services`), built by the Compose implementation."""
    command = [*engine.compose, *(project or [])]
    for file in files or [COMPOSE_FILE]:
        command += ["-f", str(file)]
    result = subprocess.run(
        [*command, "build", *services],
        cwd=ROOT,
        env=build_env(engine, env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"compose build {' '.join(services)} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
