"""deploy/kubernetes read the ways the tests need it: its files' documents, the kustomizations
rendered by kubectl (a pinned kubectl 1.33 from tools/kubectl-env.sh, which needs no cluster for
`kubectl kustomize`), and the pod templates inside them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import ROOT

DEPLOY = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = {
    "default": DEPLOY,
    "gpu": DEPLOY / "overlays" / "gpu",
    "single-node": DEPLOY / "overlays" / "single-node",
    "kserve": DEPLOY / "kserve",
}
KSERVE_GROUP = "serving.kserve.io"


def manifest_files() -> list[Path]:
    """Every file of Kubernetes documents (kustomize's own files are not sent to the API server)."""
    return sorted(p for p in DEPLOY.rglob("*.yaml") if p.name != "kustomization.yaml")


def documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def objects(path: Path) -> list[dict]:
    return documents(path.read_text())


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_spec(obj: dict) -> dict:
    """The pod a workload makes (Deployment, Job, CronJob), or the Pod itself."""
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def pod_labels(obj: dict) -> dict:
    template = obj["spec"]["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else obj["spec"]["template"]
    return template["metadata"]["labels"]


def env(container: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def tool(script: str, folder: str, what: str) -> str:
    """The path tools/<script> prints once it has built (or found) the tool in tools/out/<folder>.
    Where it cannot be built the test is skipped with the way to install it, except in CI (CI=true),
    where .ci/run has built it and its absence is a failure."""
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / script), str(ROOT / "tools" / "out" / folder)],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHON": sys.executable},
        timeout=900,
    )
    if done.returncode != 0:
        why = (
            f"{what} is not installed and cannot be here (tools/{script} exited {done.returncode}): install it "
            f"with `bash tools/{script} tools/out/{folder}`\n{done.stderr[-800:]}"
        )
        if in_ci():
            pytest.fail(why)
        pytest.skip(why)
    return done.stdout.strip().splitlines()[-1]


def kustomize(kubectl: str, folder: Path) -> list[dict]:
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"kubectl kustomize {folder.relative_to(ROOT)}:\n{done.stderr}"
    return documents(done.stdout)
