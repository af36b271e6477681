"""What was tested is what ships: every package that installing xorlab's extras brings in
(pyproject's dependencies and extras, followed through each installed package's own requirements)
is pinned to an exact version in constraints.txt, which the Makefile (so CI's `make test` and the
README's commands) installs with. A dependency added without its pin, or a transitive one that
arrives unpinned, fails here; so does an installed version that differs from its pin."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests import ROOT

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


@pytest.mark.parametrize("extra", EXTRAS)
def test_every_package_an_extra_installs_is_pinned_in_constraints(extra):
    pinned = pins((ROOT / "constraints.txt").read_text())
    installed = installed_closure([extra])
    unpinned = sorted(set(installed) - set(pinned))
    assert unpinned == [], f"installed by .[{extra}] but not pinned in constraints.txt: {unpinned}"
    # The local build tag (torch's +cpu) is where the package came from, not another version.
    differ = {n: (v, pinned[n]) for n, v in installed.items() if v.split("+")[0] != pinned[n].split("+")[0]}
    assert differ == {}, f"installed (version, pin) differ: {differ}"


def test_every_install_goes_through_constraints():
    # The Makefile's install line, which `make run`, `make test` and CI (.ci/run) all use.
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if re.search(r"pip install\b(?!.*--upgrade pip)", line)]
    assert installs and all("-c constraints.txt" in line for line in installs), installs
    assert "make test" in (ROOT / ".ci/run").read_text()
