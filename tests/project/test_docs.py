"""The documentation cannot drift from the repository: every relative link in README.md and docs/
resolves (the file exists; a #fragment names a heading in it), every test and command
docs/reliability.md names exists, every `python -m` command the documents name runs, and the
README's answer is the committed repository's.

The curl examples are run against a live server in tests/serve/hosting/test_gunicorn.py."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests import ROOT
from xorlab.outcome_words import NOT_SOLVED, OUTCOME_WORDS

README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
RELIABILITY = ROOT / "docs" / "reliability.md"

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", flags=re.M | re.S)
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", flags=re.S)
LINK = re.compile(r"\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where brackets are not links."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: the heading's text, lowercased, with everything but letters,
    digits, spaces, '-' and '_' removed and spaces made '-'; repeats get -1, -2, ..."""
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", text).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1))  # a link: its text
        title = title.replace("`", "").replace("*", "")
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(doc: Path) -> list[str]:
    # not http:, https:, mailto:
    return [target for target in LINK.findall(prose(doc.read_text())) if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


def test_the_documents_are_found():
    assert {d.name for d in DOCS} >= {
        "README.md",
        "training.md",
        "model-repository.md",
        "serving.md",
        "operating.md",
        "deploying.md",
        "reliability.md",
        "benchmarks.md",
    }


def test_the_link_checker_reads_what_github_renders():
    text = "# A `code` title: here/there\n## Usage\n## Usage\n```\n# not a heading\n```\n"
    assert anchors(text) == {"a-code-title-herethere", "usage", "usage-1"}
    assert LINK.findall(prose("[a](x.md#y) `[b](no.md)` [c [d]](z.md)\n```\n[e](no.md)\n```\n")) == ["x.md#y", "z.md"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(doc):
    broken = []
    for target in links(doc):
        path, _, fragment = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.is_relative_to(ROOT) or not file.exists():
            broken.append(f"{target}: no such file in the repository")
        elif fragment and (file.suffix != ".md" or fragment not in anchors(file.read_text())):
            broken.append(f"{target}: no heading #{fragment} in {file.relative_to(ROOT)}")
    assert broken == []


def test_nothing_points_outside_the_repository():
    for doc in DOCS:
        # A path beside the clone (the team's shared folder) that a user's clone does not have.
        assert not re.search(r"\.\./shared\b", doc.read_text()), doc.name


def test_the_readme_is_a_front_door():
    text = README.read_text()
    assert len(text.splitlines()) < 200
    for page in ("training", "model-repository", "serving", "operating", "deploying", "reliability", "benchmarks"):
        assert f"](docs/{page}.md)" in text, page


def test_the_readmes_answer_is_the_committed_repositorys():
    manifest = json.loads((ROOT / "models" / "manifest.json").read_text())
    text = README.read_text()
    for name, model in manifest["models"].items():
        study = manifest["study"]["architectures"][name]
        low, high = study["ci95"]
        ends = study["outcomes"]
        rest = (
            ", ".join(f"{ends[kind]['share']:.1%} {OUTCOME_WORDS[kind]}" for kind in NOT_SOLVED if ends[kind]["count"])
            or "none"
        )
        row = (
            f"| `{name}` | {'→'.join(map(str, model['architecture']['layers']))} | {model['trainer']} "
            f"| {model['final_loss']:.6f} | {'yes' if model['solved'] else 'no'} "
            f"| {study['successes']:,}/{study['n']:,} ({study['rate']:.1%}) | {100 * low:.1f}–{100 * high:.1f}% "
            f"| {rest} |"
        )
        assert row in text, row
    assert f"seeds 0–{manifest['study']['seed_range'][1]}" in text


# ---- docs/reliability.md ---------------------------------------------------------------------


def test_every_test_named_in_reliability_md_exists():
    named = set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", RELIABILITY.read_text()))
    assert len(named) >= 40
    missing = []
    for path, function in sorted(named):
        file = ROOT / path
        defined = (
            {n.name for n in ast.parse(file.read_text()).body if isinstance(n, ast.FunctionDef)}
            if file.exists()
            else set()
        )
        if function not in defined:
            missing.append(f"{path}::{function}")
    assert missing == []


def test_reliability_md_names_the_long_runs():
    assert {"tests.serve.hosting.soak", "tests.serve.operations.fuzz"} <= set(
        re.findall(r"python -m ([\w.]+)", RELIABILITY.read_text())
    )


COMMANDS = sorted({m for doc in DOCS for m in re.findall(r"python -m ([A-Za-z_][\w.]*)", doc.read_text())})


@pytest.mark.parametrize("module", COMMANDS)
def test_every_python_m_command_in_the_documents_runs(module):
    assert (ROOT / module.replace(".", "/")).with_suffix(".py").is_file() or (
        ROOT / module.replace(".", "/") / "__main__.py"
    ).is_file(), f"python -m {module}: no such module in the repository"
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr[-2000:]


# ---- every command the README shows runs as shown from the repository root ---------------------

MAKEFILE = (ROOT / "Makefile").read_text()
MAKE_TARGETS = set(re.findall(r"^([A-Za-z][\w.-]*):(?!=)", MAKEFILE, flags=re.M)) | {".venv/bin/.installed"}
SCRIPTS = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]) | {
    "python",
    "pip",
    "podman-compose",
    "pytest",
}  # what .venv/bin holds after make test (podman-compose, pytest: the dev extra)
# Programs the README's prerequisites bring (python3.11, curl), apt-get to install them, and the
# Docker alternative it names.
PREREQUISITE_PROGRAMS = {"python3.11", "curl", "apt-get", "docker", "make"}
COMMAND_WORDS = (
    "make",
    ".venv/",
    "python",
    "pip",
    "xorlab-",
    "pytest",
    "docker",
    "podman",
    "curl",
    "apt-get",
    ". ",
    "source ",
)
OPERATORS = {"|", "||", "&&", ";", "&"}
PREREQUISITES_BLOCK = re.compile(r"<!-- prerequisites: begin -->.*?<!-- prerequisites: end -->", flags=re.S)


def shell_commands(text: str) -> list[str]:
    """The shell commands a document shows: each line of a ```sh block, each `$ ` line of a
    ```console block (with its continuation lines), and each code span in the prose that starts
    like a command (`make test-fast`, `.venv/bin/python -m ...`)."""
    found = []
    for _fence, lang, body in re.findall(r"^(```|~~~)(\w*)\n(.*?)^\1[ \t]*$", text, flags=re.M | re.S):
        lines = body.splitlines()
        if lang == "sh":
            found += [re.sub(r"(^|\s)#.*$", "", line).strip() for line in lines]
        elif lang == "console":
            for i, line in enumerate(lines):
                if line.startswith("$ "):
                    command = line[2:]
                    while command.endswith("\\") and i + 1 < len(lines):
                        i += 1
                        command = command[:-1] + " " + lines[i].strip()
                    found.append(command)
    prose_only = PREREQUISITES_BLOCK.sub("", FENCE.sub("", text))  # the table there names packages, not commands
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", prose_only):
        bare = re.sub(r"^(\w+=\S+\s+)+", "", span)  # VAR=value before the command
        if bare.startswith(COMMAND_WORDS) and not bare.startswith(("python3.11-", "make ")) or bare.startswith("make "):
            found.append(span)
    return [c for c in found if c]


def why_not_runnable(command: str) -> str | None:
    """None when each simple command of `command` is a make target, a program in .venv/bin, the
    venv's activation or a program the README's prerequisites install; else why not."""
    lexer = shlex.shlex(re.sub(r"<[^<>]*>", "X", command), posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    words = list(lexer)
    segments, current = [], []
    for word in words:
        if word in OPERATORS:
            segments.append(current)
            current = []
        else:
            current.append(word)
    segments.append(current)
    for segment in filter(None, segments):
        while segment and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", segment[0]):
            segment = segment[1:]  # an environment variable for the command
        program, args = segment[0], segment[1:]
        if program == "make":
            targets = [a for a in args if not a.startswith("-") and "=" not in a]
            unknown = [t for t in targets if t not in MAKE_TARGETS]
            if unknown:
                return f"{command}: make has no target {unknown}"
        elif program.startswith(".venv/bin/"):
            if program.removeprefix(".venv/bin/") not in SCRIPTS:
                return f"{command}: {program} is not something .venv/bin holds"
        elif program in (".", "source"):
            if args != [".venv/bin/activate"]:
                return f"{command}: sources something other than .venv/bin/activate"
        elif program not in PREREQUISITE_PROGRAMS:
            return (
                f"{command}: {program} is not on PATH from the README's prerequisites: run it through make, "
                f".venv/bin/{program}, or after `. .venv/bin/activate`"
            )
    return None


def test_the_command_checker_tells_runnable_from_not():
    text = (
        "```sh\nmake run    # serves\nxorlab-train --out /tmp/m\n.venv/bin/xorlab-train --arch mlp\n```\n"
        "```console\n$ curl -s http://x/ | python3.11 -c 'import json, sys; print(1)'\n{}\n```\n"
        "Then `python -m bench.outcomes --long 18001`, `make test-fast` and `make nosuch`; not `--steps 5001`.\n"
    )
    commands = shell_commands(text)
    assert commands == [
        "make run",
        "xorlab-train --out /tmp/m",
        ".venv/bin/xorlab-train --arch mlp",
        "curl -s http://x/ | python3.11 -c 'import json, sys; print(1)'",
        "python -m bench.outcomes --long 18001",
        "make test-fast",
        "make nosuch",
    ]
    assert [c for c in commands if why_not_runnable(c)] == [
        "xorlab-train --out /tmp/m",
        "python -m bench.outcomes --long 18001",
        "make nosuch",
    ]
    assert why_not_runnable("PIP_EXTRA_INDEX_URL=<the index> make test") is None
    assert why_not_runnable(". .venv/bin/activate") is None


def test_every_command_the_readme_shows_runs_from_the_repository_root():
    commands = shell_commands(README.read_text())
    assert len(commands) >= 10
    assert [why for why in map(why_not_runnable, commands) if why] == []
