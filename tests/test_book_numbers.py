"""Each of the book's numbers has one source, files/support/book_numbers.py: reproduce.py's
table and every script's printed comparison read it, and each script's header and the
README's results table say the same. Trains nothing."""

import ast
import re
from pathlib import Path

from support import reproduce_table
from support.book_numbers import BOOK

import pytest

import reproduce

FILES = Path(__file__).resolve().parent.parent / "files"
README = FILES.parent / "README.md"


def reproduce_numbers():
    """{name or name:metric: book number} as reproduce.py's BOOK holds them."""
    numbers = {}
    for entry in reproduce.BOOK:
        if entry["book"] is not None:
            numbers[entry["name"]] = entry["book"]
        for metric, (book, _, _) in entry.get("extra_metrics", {}).items():
            numbers[f"{entry['name']}:{metric}"] = book
    return numbers


def test_reproduce_compares_with_the_one_source():
    assert reproduce_numbers() == BOOK


def book_paragraph(script):
    """The paragraph of a script's header that gives the book's results."""
    header = ast.get_docstring(ast.parse((FILES / script).read_text(encoding="utf-8")))
    paragraph = next(part for part in header.split("\n\n") if part.startswith("Book result"))
    return " ".join(paragraph.split())


@pytest.mark.parametrize("name", sorted(BOOK))
def test_each_header_says_the_book_number(name):
    example = name.split(":")[0]
    entry = next(entry for entry in reproduce.BOOK if entry["name"] == example)
    text = book_paragraph(entry["command"][0])
    if len(entry["command"]) > 1:  # convnet.py: "...; STAGE ~72% validation accuracy; ..."
        stage = entry["command"][1]
        text = next(part for part in re.split(r"[:;]\s*", text) if part.startswith(f"{stage} "))
    value = BOOK[name]
    # Accuracies as percentages (0.82 -> 82%, also as "~82-84%"), MAE as it is (2.38).
    written = (rf"{round(value * 100, 1):g}(-\d+)?%" if value < 1 else re.escape(f"{value}"))
    assert re.search(rf"(?<![\d.]){written}", text), (name, text)


@pytest.mark.parametrize("name", sorted(BOOK))
def test_the_readme_results_table_says_the_book_number(name):
    example, _, metric = name.partition(":")
    metric = metric or next(entry["metric"] for entry in reproduce.BOOK
                            if entry["name"] == example)
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in README.read_text(encoding="utf-8").splitlines()
            if line.startswith(f"| {example} | {metric} |")]
    assert len(rows) == 1, name
    assert rows[0][2].startswith(f"{reproduce_table.format_value(metric, BOOK[name])} (")


def test_no_script_prints_a_book_number_of_its_own():
    for script in FILES.glob("*.py"):
        source = script.read_text(encoding="utf-8")
        assert not re.search(r"\(book: (about )?\d", source), script.name
        assert not re.search(r"\bbook=f?\"~?\d", source), script.name
