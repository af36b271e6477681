"""The README's prerequisites are what CI installs: the table between `<!-- prerequisites: begin -->`
and `<!-- prerequisites: end -->` in README.md names the same Debian/Ubuntu packages as .ci/run's
PREREQUISITES and CONTAINER_PREREQUISITES (the container engine's row: where Docker runs, CI
installs none of it), and .ci/run installs them from those lists. The skips for a missing one
name the row's packages (tests/prerequisites.py)."""

from __future__ import annotations

import re

import pytest

from tests import ROOT
from tests.prerequisites import install, rows

CI = (ROOT / ".ci" / "run").read_text()


def ci_list(name: str) -> list[str]:
    found = re.findall(rf'^{name}="([^"]*)"$', CI, flags=re.M)
    assert len(found) == 1, f".ci/run should set {name} once"
    return found[0].split()


def test_the_readme_names_what_ci_installs():
    table = rows()
    containers = [packages for what, packages in table if "podman" in packages]
    assert containers == [ci_list("CONTAINER_PREREQUISITES")], containers
    rest = sorted(p for what, packages in table if "podman" not in packages for p in packages)
    assert rest == sorted(ci_list("PREREQUISITES"))


def test_ci_installs_from_those_lists():
    assert 'wanted="$PREREQUISITES $CONTAINER_PREREQUISITES"' in CI and "wanted=$PREREQUISITES" in CI
    assert re.search(r"apt-get install -y -qq \$to_install", CI)
    assert "to_install=$(missing $wanted" in CI


def test_every_row_says_what_it_is_for_and_what_happens_without_it():
    table = rows()
    assert len(table) >= 5 and all(packages for _, packages in table)
    assert {
        "python3.11",
        "python3.11-venv",
        "make",
        "gcc",
        "python3.11-dev",
        "curl",
        "chromium",
        "chromium-driver",
        "podman",
    } <= {p for _, packages in table for p in packages}


def test_the_table_reader_reads_a_table():
    text = (
        "x\n<!-- prerequisites: begin -->\n| for | packages | without them |\n|---|---|---|\n"
        "| `make run` | `python3.11` `make` | no |\n| a browser | `chromium` (or `docker`?) | skips |\n"
        "<!-- prerequisites: end -->\n"
    )
    assert rows(text) == [("`make run`", ["python3.11", "make"]), ("a browser", ["chromium", "docker"])]
    with pytest.raises(AssertionError, match="no prerequisites block"):
        rows("no table here")


@pytest.mark.parametrize(
    ("package", "says"),
    [
        ("chromium", "apt-get install chromium chromium-driver"),
        ("podman", "apt-get install podman runc netavark aardvark-dns iptables mmdebstrap"),
        ("gcc", "apt-get install gcc python3.11-dev"),
    ],
)
def test_a_skip_names_the_packages_to_install(package, says):
    assert install(package).startswith(says + " (Debian/Ubuntu; README.md, Quick start: ")


def test_the_skips_for_a_missing_prerequisite_use_the_table():
    for path, package in (
        ("tests/serve/http/test_browser.py", "chromium"),
        ("tests/deploy/conftest.py", "podman"),
        ("tests/serve/operations/test_metrics.py", "prometheus"),
        ("tests/serve/http/test_hostile_input.py", "gcc"),
    ):
        assert f"install('{package}')" in (ROOT / path).read_text(), path
