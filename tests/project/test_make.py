"""What each make command installs and says, read from `make -n` (the commands make would run,
none run) against a virtual environment that does not exist yet: `make run` on the committed
repository installs serving only (no torch), training only when the repository is missing;
`make test` everything; `fast` (gunicorn's C parser) only where it can be built; and each install
step is announced, with pip's own progress (not --quiet) for the long one."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests import ROOT


def dry_run(tmp_path, *args: str) -> str:
    # A make of its own, not a sub-make of the `make test` running this (no "Entering directory").
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", f"VENV={tmp_path / 'venv'}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def installs(text: str) -> list[str]:
    """The extras of each `pip install -e` line, in order."""
    return re.findall(r'pip install .*-c constraints\.txt -e "\.\[([\w,]+)\]"', text)


def test_make_run_on_the_committed_repository_installs_serving_only(tmp_path):
    out = dry_run(tmp_path, "run", "FAST=yes")
    assert installs(out) == ["serve,fast"]
    assert "installing xorlab[serve,fast]: serving only (no torch)" in out
    assert out.rstrip().endswith("--models models")  # then serves


def test_make_run_without_a_repository_installs_training_and_trains_first(tmp_path):
    out = dry_run(tmp_path, "run", "FAST=yes", f"MODELS={tmp_path / 'none'}")
    assert installs(out) == ["train,serve,fast"]
    assert out.index("xorlab-train --out") < out.index("xorlab-serve --models")


@pytest.mark.parametrize(
    ("target", "extras"),
    [
        ("train", "train,serve,fast"),
        ("serve", "serve,fast"),
        ("test", "train,serve,fast,dev"),
        ("test-fast", "train,serve,fast,dev"),
    ],
)
def test_each_target_installs_its_extras(tmp_path, target, extras):
    assert installs(dry_run(tmp_path, target, "FAST=yes")) == [extras]


def test_without_a_compiler_the_c_parser_is_left_out_with_a_word(tmp_path):
    out = dry_run(tmp_path, "test", "FAST=no")
    assert installs(out) == ["train,serve,dev"]
    assert "apt-get install gcc python3.11-dev" in out


def test_each_install_step_is_said_and_pips_progress_shown(tmp_path):
    out = dry_run(tmp_path, "test", "FAST=yes")
    # echo "==> text" or the Makefile's say: printf '==> %s\n' "text"
    said = re.findall(r"""==> (?:%s\\n' ")?([^"\n]*)""", out)
    assert [s.split(" ")[0] for s in said[:4]] == ["creating", "installing", "installing", "installed"], said
    assert "creating the virtual environment" in said[0] and "pip at the version constraints.txt pins" in said[1]
    install = next(line for line in out.splitlines() if installs(line))
    assert not re.search(r"\s(--quiet|-q)\b", install), install  # pip says what it downloads, with its progress


def test_make_alone_lists_the_commands():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    done = subprocess.run(
        ["make", "--no-print-directory"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0
    assert {line.split(":")[0] for line in done.stdout.splitlines()} >= {
        "run",
        "test",
        "test-fast",
        "train",
        "serve",
        "bench",
    }


def test_torch_index_url_brings_torch_alone_first_where_training_is_installed(tmp_path):
    out = dry_run(tmp_path, "test", "FAST=yes", "TORCH_INDEX_URL=file:///somewhere/cpu")
    first = next(line for line in out.splitlines() if "--index-url" in line)
    assert first.endswith('--no-deps --index-url "file:///somewhere/cpu" -c constraints.txt torch'), first
    assert out.index(first) < out.index('-e ".[train,serve,fast,dev]"')
    # serving has no torch
    assert "--index-url" not in dry_run(tmp_path, "run", "TORCH_INDEX_URL=file:///somewhere/cpu")
    assert "--index-url" not in dry_run(tmp_path, "test")
