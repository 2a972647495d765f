"""The code the guides quote is the code that runs: every line of a block marked ``<!-- quote: FILE -->`` must
be a line of FILE (leading spaces and a trailing ``# comment`` aside), so a quote cannot drift from the source."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDES = sorted((ROOT / "docs").glob("*.md"))
QUOTE = re.compile(r"<!-- quote: (\S+) -->\n```python\n(.*?)```", re.S)


def source_lines(path: Path) -> set[str]:
    lines = set()
    for line in path.read_text().splitlines():
        stripped = line.strip()
        lines.add(stripped)
        lines.add(re.sub(r"\s+#.*$", "", stripped))  # the line without its trailing comment
    return lines


def quotes():
    for guide in GUIDES:
        for match in QUOTE.finditer(guide.read_text()):
            yield pytest.param(guide, match.group(1), match.group(2), id=f"{guide.name}:{match.group(1)}")


def test_the_backprop_guide_quotes_code():
    assert len([q for q in quotes() if q.values[0].name == "elbo_backprop.md"]) >= 10


@pytest.mark.parametrize("guide, source, block", list(quotes()))
def test_every_quoted_line_is_in_its_source(guide, source, block):
    lines = source_lines(ROOT / source)
    missing = [line for line in block.splitlines() if line.strip() and line.strip() not in lines]
    assert not missing, f"{guide.name} quotes lines that are not in {source}: {missing}"
