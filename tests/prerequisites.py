"""What to install for a test that cannot run here, from one source: the README's prerequisites
table (the rows between `<!-- prerequisites: begin -->` and `<!-- prerequisites: end -->`), which
.ci/run installs (tests/project/test_prerequisites.py keeps the two the same).

    pytest.skip(f"no chromium on PATH: {install('chromium')}")
"""

from __future__ import annotations

import re

from tests import ROOT

BLOCK = re.compile(r"<!-- prerequisites: begin -->\n(.*?)<!-- prerequisites: end -->", flags=re.S)
PACKAGE = re.compile(r"`([a-z0-9][a-z0-9.+-]*)`")


def rows(text: str | None = None) -> list[tuple[str, list[str]]]:
    """The table's rows as (what they are for, their Debian/Ubuntu packages)."""
    text = (ROOT / "README.md").read_text() if text is None else text
    block = BLOCK.search(text)
    assert block, "README.md has no prerequisites block"
    found = []
    for line in block.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(cells[0]) <= {"-"} or cells[1] == "packages":
            continue
        found.append((cells[0], PACKAGE.findall(cells[1])))
    return found


def install(package: str) -> str:
    """How to install what the row naming `package` needs, and for what."""
    for what, packages in rows():
        if package in packages:
            return (
                f"apt-get install {' '.join(packages)} (Debian/Ubuntu; README.md, Quick start: {what.replace('`', '')})"
            )
    raise KeyError(f"no row of README.md's prerequisites names {package}")
