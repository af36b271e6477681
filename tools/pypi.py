"""xorlab's installs as a fresh machine whose pip reaches only PyPI sees them: which packages each
set of extras brings in, at which versions, and how much pip downloads for them.

    .venv/bin/python -m tools.pypi                        # make run's, make train's and make test's installs
    .venv/bin/python -m tools.pypi --extras train         # one set of extras
    .venv/bin/python -m tools.pypi --platform manylinux_2_28_aarch64 --extras train

pip resolves pyproject's requirements with constraints.txt (`pip install --dry-run --report`),
ignoring this machine's pip settings (its config files and PIP_* variables: local wheel folders,
mirrors, constraints of its own), and reads each wheel's published metadata without downloading
the wheel (pip 24 or newer; an older pip fetches every wheel in full). The sizes are those of the
files the resolution chose (each one's Content-Length, asked with a HEAD request). With
--platform it resolves for another machine, wheels only (so without the `fast` extra, which PyPI
has only as source). `--here` resolves with this machine's own pip settings instead.

The same resolution is what tests/project/test_pins.py checks against constraints.txt, and what
`make lock` adds torch's CUDA build's packages from (`--lock FILE`): on Linux x86-64 PyPI's torch
is the CUDA build, which brings NVIDIA's libraries and triton, so the lock pins them too.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
PYTHON_VERSION = "3.11"
# PyPI's torch for Linux x86-64 is the CUDA build: `make lock` resolves it for this platform.
CUDA_PLATFORM = "manylinux_2_28_x86_64"
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
# What pip may keep from the environment: how to connect, never where packages come from.
CONNECTION_SETTINGS = {"PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY", "PIP_DEFAULT_TIMEOUT", "PIP_TIMEOUT", "PIP_RETRIES"}
# The installs the Makefile makes (README, "Quick start": what pip downloads).
INSTALLS = {
    "make run (a committed repository)": "serve,fast",
    "make train, make run without a repository": "train,serve,fast",
    "make test": "train,serve,fast,dev",
}


class Unreachable(RuntimeError):
    """pip could not reach the package index."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(extras: list[str]) -> list[str]:
    """pyproject's dependencies and those of `extras`: what `pip install ".[extras]"` asks for."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *(r for extra in extras for r in project["optional-dependencies"][extra])]


def platform_tags(platform: str) -> list[str]:
    """pip's --platform takes each tag literally: a manylinux_2_N tag becomes itself and every
    older manylinux tag a machine with glibc 2.N also installs (their legacy names too)."""
    match = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform)
    if not match:
        return [platform]
    newest, arch = int(match.group(1)), match.group(2)
    tags = []
    for minor in range(newest, 4, -1):
        tags.append(f"manylinux_2_{minor}_{arch}")
        if minor in LEGACY_MANYLINUX:
            tags.append(f"{LEGACY_MANYLINUX[minor]}_{arch}")
    return tags


def pypi_only_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with pip's own settings gone but those that say how to connect: pip then
    reads no config file, finds no local wheels and uses its default index, PyPI."""
    environ = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in environ.items() if not k.startswith("PIP_") or k in CONNECTION_SETTINGS}
    env["PIP_CONFIG_FILE"] = os.devnull  # no /etc/pip.conf, /etc/xdg/pip, ~/.config/pip
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def resolve(
    extras: list[str],
    *,
    constraints: Path = CONSTRAINTS,
    platform: str | None = None,
    pypi_only: bool = True,
    extra_requirements: tuple[str, ...] = (),
) -> list[dict]:
    """The packages `pip install -c constraints ".[extras]"` would install on a machine without
    any of them: the `install` entries of pip's installation report (name, version, the file's
    URL, its metadata). Raises Unreachable when the index cannot be reached."""
    import pip

    if int(pip.__version__.split(".")[0]) < 24:
        raise RuntimeError(
            f"pip {pip.__version__} downloads every wheel to read its metadata; upgrade it first "
            "(make installs the version constraints.txt pins)"
        )
    asked = [*requirements([e for e in extras if not (platform and e == "fast")]), *extra_requirements]
    with tempfile.TemporaryDirectory(prefix="xorlab-pypi-") as tmp:
        report = Path(tmp, "report.json")
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--no-cache-dir",
            "--report",
            str(report),
            "-c",
            str(Path(constraints).resolve()),
        ]
        if platform:
            command += [a for tag in platform_tags(platform) for a in ("--platform", tag)]
            command += [
                "--python-version",
                PYTHON_VERSION,
                "--implementation",
                "cp",
                "--abi",
                "cp" + PYTHON_VERSION.replace(".", ""),
                "--only-binary=:all:",
            ]
        done = subprocess.run(
            [*command, *asked],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=900,
            env=pypi_only_environment() if pypi_only else None,
        )
        if done.returncode != 0:
            unreachable = (
                "NewConnectionError",
                "ProxyError",
                "ConnectTimeoutError",
                "Max retries exceeded",
                "Temporary failure in name resolution",
                "Network is unreachable",
            )
            kind = Unreachable if any(u in done.stderr for u in unreachable) else RuntimeError
            raise kind(f"pip exited {done.returncode}: {done.stderr[-2000:]}")
        return json.loads(report.read_text())["install"]


def packages(install: list[dict]) -> dict[str, str]:
    """{canonical name: version} of a resolution."""
    return {canonical(item["metadata"]["name"]): item["metadata"]["version"] for item in install}


def size(url: str) -> int:
    """The bytes pip downloads for `url` (a local file's size for file: URLs)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path)).stat().st_size
    with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=60) as answer:
        return int(answer.headers["Content-Length"])


def sizes(install: list[dict]) -> dict[str, int]:
    """{canonical name: bytes of the file pip would download} for a resolution."""
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        found = pool.map(lambda item: size(item["download_info"]["url"]), install)
        return {canonical(item["metadata"]["name"]): n for item, n in zip(install, found, strict=True)}


def pins(text: str) -> dict[str, str]:
    """A constraints file's `name==version` lines as {canonical name: version}."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            found[canonical(name)] = version
    return found


def lock_cuda(path: Path) -> list[str]:
    """Append to the lock at `path` the packages torch's CUDA build brings in that the lock does
    not pin yet: torch resolved for Linux x86-64 from PyPI with the lock's pins as constraints."""
    pinned = pins(path.read_text())
    install = resolve([], constraints=path, platform=CUDA_PLATFORM, extra_requirements=(f"torch=={pinned['torch']}",))
    missing = sorted(
        (item["metadata"]["name"], item["metadata"]["version"])
        for item in install
        if canonical(item["metadata"]["name"]) not in pinned
    )
    lines = [f"{name}=={version}" for name, version in missing]
    if lines:
        with path.open("a") as file:
            file.write(
                "# torch's CUDA build (PyPI's torch on Linux x86-64) brings these; a CPU build does not install them\n"
            )
            file.write("".join(line + "\n" for line in lines))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pypi", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--extras",
        action="append",
        help="a set of extras, comma-separated, repeatable (default: each of make's installs)",
    )
    parser.add_argument(
        "--platform",
        help="resolve for another machine: a wheel platform tag such as manylinux_2_28_aarch64 (wheels only)",
    )
    parser.add_argument(
        "--here", action="store_true", help="with this machine's pip settings (local wheels, mirrors), not PyPI's alone"
    )
    parser.add_argument(
        "--largest", type=int, default=5, metavar="N", help="name the N largest downloads of each install (default 5)"
    )
    parser.add_argument(
        "--lock",
        metavar="FILE",
        type=Path,
        help="add torch's CUDA build's packages to the lock FILE (make lock) and stop",
    )
    args = parser.parse_args(argv)
    if args.lock:
        for line in lock_cuda(args.lock):
            print(f"{args.lock}: + {line}")
        return 0
    installs = (
        {f".[{e}]": e for e in args.extras} if args.extras else {f"{what}: .[{e}]": e for what, e in INSTALLS.items()}
    )
    where = f"for {args.platform}" if args.platform else "for this machine"
    print(
        f"{'from this machine’s pip settings' if args.here else 'from PyPI alone'}, {where}, "
        f"Python {PYTHON_VERSION}, with constraints.txt"
    )
    for title, extras in installs.items():
        install = resolve(extras.split(","), platform=args.platform, pypi_only=not args.here)
        found = sizes(install)
        total = sum(found.values())
        largest = ", ".join(
            f"{name} {n / 1e6:,.1f} MB" for name, n in sorted(found.items(), key=lambda kv: -kv[1])[: args.largest]
        )
        print(f"{title}: {len(found)} packages, {total / 1e6:,.1f} MB to download (largest: {largest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
