"""The evaluation tables of the README and docs/evaluation.md come from one set of images: each is marked with
the JSON that ``python -m numpyvae.evaluate`` wrote, every number in it is that JSON's, the JSON's -ELBO and
IWAE passes saw the same number of images, and no row names another image count."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "docs" / "evaluation.md"]
MARKER = re.compile(r"<!-- evaluation table: (\S+) -->\n((?:\|.*\|\n)+)")
COUNT = re.compile(r"(\d[\d,]*) (?:MNIST )?(?:test )?images")


def tables():
    for page in PAGES:
        for match in MARKER.finditer(page.read_text()):
            yield pytest.param(page, match.group(1), match.group(2), id=f"{page.name}:{match.group(1)}")


def cells(table: str) -> list[list[str]]:
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.strip().splitlines()]
    return [rows[0]] + [row for row in rows[2:]]  # the header, then the rows (the |---| line dropped)


def number(text: str) -> float:
    return float(text.replace("*", "").replace(",", "").split()[0])


def expected_rows(results: dict) -> list[tuple[re.Pattern, float, float | None]]:
    """(what a row's label matches, its value, its standard error) for every number the JSON holds."""
    rows = [(re.compile(r"^reconstruction"), results["reconstruction"], results["reconstruction_stderr"]),
            (re.compile(r"^KL\b"), results["kl"], results["kl_stderr"]),
            (re.compile(r"-ELBO"), results["negative_elbo"], results["negative_elbo_stderr"])]
    rows += [(re.compile(rf"^IWAE.*\bK = {row['k']}\b"), row["iwae"], row["iwae_stderr"])
             for row in results.get("iwae_ladder", [])]
    rows += [(re.compile(rf"^paired: IWAE\(K = {row['to_k']}\) - IWAE\(K = {row['from_k']}\)"), row["difference"],
              row["difference_stderr"]) for row in results.get("iwae_differences", [])]
    return rows


def test_the_pages_mark_their_evaluation_tables():
    assert len(list(tables())) >= 2
    for page in PAGES:  # a table with both a -ELBO and an IWAE row must be a marked one
        text = page.read_text()
        marked = {match.group(2) for match in MARKER.finditer(text)}
        for table in re.findall(r"((?:^\|.*\|\n)+)", text, re.M):
            if "-ELBO" in table and "IWAE" in table:
                assert table in marked, f"{page.name} has an unmarked evaluation table:\n{table}"


@pytest.mark.parametrize("page, source, table", list(tables()))
def test_every_row_is_on_the_same_images_and_from_the_json(page, source, table):
    results = json.loads((ROOT / source).read_text())  # the marker names it from the repository root
    images = results["images"]
    assert results.get("iwae_ladder_images", images) == images  # the -ELBO and IWAE passes saw the same images
    assert results.get("iwae_images", images) == images
    header, *rows = cells(table)
    counts = {int(count.replace(",", "")) for count in COUNT.findall(" ".join(header))}
    assert counts == {images}, f"the header of {page.name}'s table names {counts}, the JSON {images} images"
    for row in rows:
        assert not COUNT.findall(" ".join(row)), f"a row names its own image count: {row}"
    used = set()
    for row in rows:
        label = row[0]
        if label.startswith("active units"):
            assert row[1] == f"{results['active_units']} of {len(results['kl_per_dim'])}"
            continue
        matches = [i for i, (pattern, _, _) in enumerate(expected_rows(results)) if pattern.search(label)]
        assert len(matches) == 1, f"{label!r} matches {len(matches)} of the JSON's numbers"
        _, value, error = expected_rows(results)[matches[0]]
        used.add(matches[0])
        if "±" in row[1]:
            shown, shown_error = (number(part) for part in row[1].split("±"))
        else:
            shown, shown_error = number(row[1]), number(row[2])
        assert shown == round(value, 2) and shown_error == round(error, 2), (label, row, value, error)
        for term, key in (("reconstruction", "reconstruction"), ("KL", "kl")):  # "(reconstruction 82.21 + KL ...)"
            inner = re.search(rf"\({'.*' if term == 'KL' else ''}{term} ([\d.]+)", label)
            if inner:
                assert float(inner.group(1)) == round(results[key], 2), label
    assert used, "the table shows none of the JSON's numbers"
