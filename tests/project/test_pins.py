"""What was tested is what ships: every package that installing xorlab's extras brings in
(pyproject's dependencies and extras, followed through each installed package's own requirements)
is pinned to an exact version in constraints.txt, which the Makefile (so CI's `make test` and the
README's commands) installs with. A dependency added without its pin, or a transitive one that
arrives unpinned, fails here; so does an installed version that differs from its pin.

Checked twice: on what this machine installed (here torch's CPU build), and on what a fresh machine
whose pip reaches only PyPI installs, resolved from PyPI's metadata without downloading a wheel
(tools/pypi.py; on Linux x86-64 that is torch's CUDA build, with NVIDIA's libraries and triton,
which the lock pins too)."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import platform
import re
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests import ROOT
from tools import pypi

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = sorted(PYPROJECT["optional-dependencies"])


def pins(text: str) -> dict[str, str]:
    """constraints.txt as {canonical name: version}; only `name==version` lines count as pins."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line)
            assert match, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def _applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})


def installed_closure(extras: list[str]) -> dict[str, str]:
    """{canonical name: installed version} of everything `pip install ".[extras]"` brings in,
    followed through the installed packages' metadata (markers evaluated for this machine)."""
    todo = [Requirement(r) for r in PYPROJECT["dependencies"]]
    todo += [Requirement(r) for extra in extras for r in PYPROJECT["optional-dependencies"][extra]]
    seen: dict[str, str] = {}
    done: set[tuple[str, frozenset]] = set()
    while todo:
        requirement = todo.pop()
        name, extras_asked = canonicalize_name(requirement.name), frozenset(requirement.extras)
        if (name, extras_asked) in done:
            continue
        done.add((name, extras_asked))
        dist = metadata.distribution(name)  # PackageNotFoundError: declared but not installed
        seen[name] = dist.version
        for line in dist.requires or []:
            child = Requirement(line)
            if _applies(child, set(extras_asked)):
                todo.append(child)
    return seen


def test_pins_parse_only_exact_versions():
    assert pins("a==1.0\n# note\nB_c==2.0+cpu  # why\n") == {"a": "1.0", "b-c": "2.0+cpu"}
    with pytest.raises(AssertionError, match="not an exact pin"):
        pins("a>=1.0\n")


def test_the_closure_follows_transitive_requirements():
    # flask needs werkzeug, which needs markupsafe: found through two levels of metadata.
    assert {"flask", "werkzeug", "markupsafe"} <= set(installed_closure(["serve"]))


def check_pinned(found: dict[str, str], what: str) -> None:
    """Every package of `found` ({canonical name: version}) pinned, at that version."""
    pinned = pins((ROOT / "constraints.txt").read_text())
    unpinned = sorted(set(found) - set(pinned))
    assert unpinned == [], f"installed by {what} but not pinned in constraints.txt: {unpinned}"
    # The local build tag (torch's +cpu) is where the package came from, not another version.
    differ = {n: (v, pinned[n]) for n, v in found.items() if v.split("+")[0] != pinned[n].split("+")[0]}
    assert differ == {}, f"{what}: (version, pin) differ: {differ}"


@pytest.mark.parametrize("extra", EXTRAS)
def test_every_package_an_extra_installs_is_pinned_in_constraints(extra):
    check_pinned(installed_closure([extra]), f".[{extra}]")


LINUX_X86_64 = sys.platform == "linux" and platform.machine() == "x86_64"


# This machine as a fresh one would see it; and, elsewhere, Linux x86-64 too (torch's CUDA build).
@pytest.mark.slow
@pytest.mark.parametrize(
    "target", [None] + ([] if LINUX_X86_64 else [pypi.CUDA_PLATFORM]), ids=lambda t: t or "this-machine"
)
def test_what_pypi_alone_installs_is_pinned_in_constraints(target):
    try:
        install = pypi.resolve(EXTRAS, platform=target)
    except pypi.Unreachable as exc:
        if os.environ.get("CI"):  # CI reaches PyPI: there this test must run
            raise
        pytest.skip(
            f"PyPI cannot be reached from here (the check of a fresh machine's install needs it): {str(exc)[-300:]}"
        )
    found = pypi.packages(install)
    check_pinned(
        found, f"pip install -c constraints.txt '.[{','.join(EXTRAS)}]' from PyPI alone ({target or 'this machine'})"
    )
    if target or LINUX_X86_64:  # the CUDA build is the one checked, with what it brings in
        assert {"torch", "triton", "nvidia-cublas"} <= set(found), sorted(found)


def test_the_pypi_resolution_ignores_this_machines_pip_settings():
    env = pypi.pypi_only_environment(
        {
            "PATH": "/bin",
            "PIP_FIND_LINKS": "/wheels",
            "PIP_INDEX_URL": "http://mirror/simple",
            "PIP_EXTRA_INDEX_URL": "file:///x",
            "PIP_CONSTRAINT": "c.txt",
            "PIP_CERT": "ca.pem",
        }
    )
    assert env == {
        "PATH": "/bin",
        "PIP_CERT": "ca.pem",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    # pip's --platform is literal: a manylinux_2_28 machine installs the older manylinux wheels too
    tags = pypi.platform_tags("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64" and {"manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert pypi.platform_tags("macosx_11_0_arm64") == ["macosx_11_0_arm64"]


def test_every_install_goes_through_constraints():
    # The Makefile's install line, which `make run`, `make test` and CI (.ci/run) all use.
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if re.search(r"pip install\b(?!.*--upgrade pip)", line)]
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_the_lock_pins_pip_and_torchs_cuda_build():
    # pip 24 or newer reads a wheel's metadata without downloading it (the PyPI check above);
    # the Makefile installs the pinned one before anything else.
    pinned = pins((ROOT / "constraints.txt").read_text())
    assert int(pinned["pip"].split(".")[0]) >= 24
    assert {"triton", "nvidia-cublas", "cuda-toolkit"} <= set(pinned)
