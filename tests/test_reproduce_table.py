"""Unit tests of files/support/reproduce_table.py: a row's verdict from its runs, the table, and the
README between its markers (reproduce.py's runs themselves: test_reproduce.py)."""

from support import errors, reproduce_table

import pytest

import reproduce
from harness import REPO_ROOT


def test_verdicts_median_and_range():
    entry = reproduce.BOOK[0]  # mnist, 97.8%, band 0.5 points
    runs = [{"command": "python files/mnist.py", "seconds": s, "seed": seed, "status": "ok",
             "fields": {"test_accuracy": str(value)}}
            for seed, value, s in ((42, 0.9755, 20.0), (1, 0.9809, 30.0), (2, 0.9761, 25.0))]
    row = reproduce_table.summarize(entry, runs)
    assert row["measured"] == pytest.approx(0.9761) and row["verdict"] == "within"
    assert (row["low"], row["high"], row["seconds"]) == (0.9755, 0.9809, 25.0)
    assert "median of 3; 97.5% to 98.1%" in reproduce_table.markdown_table([row])
    runs[0]["fields"]["test_accuracy"] = runs[2]["fields"]["test_accuracy"] = "0.95"
    assert reproduce_table.summarize(entry, runs)["verdict"] == "below"
    boston = next(entry for entry in reproduce.BOOK if entry["name"] == "bostonhousing")
    lower = [{**runs[0], "fields": {"kfold_mae": "2.60"}}]
    assert reproduce_table.summarize(boston, lower)["verdict"] == "within"  # MAE: lower is better
    crashed = [{"command": "python files/x.py", "seconds": 1.0, "seed": 42,
                "status": "crashed", "reason": "exit code 1: boom"}]
    assert reproduce_table.summarize(entry, crashed)["verdict"] == "crashed"
    # A smoke run's numbers (tiny data) are never held against the book's.
    assert reproduce_table.summarize(entry, runs, smoke=True)["verdict"].startswith("ran (smoke")


def test_update_readme_replaces_only_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    original = (REPO_ROOT / "README.md").read_text()
    assert reproduce_table.README_START in original and reproduce_table.README_END in original
    readme.write_text(original)
    reproduce_table.update_readme(readme, "| example |\n| --- |\n| mnist |\n")
    text = readme.read_text()
    before, inside = text.split(reproduce_table.README_START)
    inside, after = inside.split(reproduce_table.README_END)
    assert before == original.split(reproduce_table.README_START)[0]
    assert after == original.split(reproduce_table.README_END)[1]
    assert inside == "\n| example |\n| --- |\n| mnist |\n"
    readme.write_text("no markers here\n")
    with pytest.raises(errors.InputError, match="markers"):
        reproduce_table.update_readme(readme, "")


def test_the_machine_column_and_rows_without_a_run():
    """The README's rows name their machine; an example without a record has no numbers."""
    rows = [{"name": "mnist", "metric": "test_accuracy", "book": 0.978, "source": "s",
             "split": "test", "command": None, "seconds": None, "machine": None,
             "verdict": "no record yet"}]
    table = reproduce_table.markdown_table(rows)
    assert "| machine | verdict |" in table.splitlines()[0]
    assert table.splitlines()[2] == ("| mnist | test_accuracy | 97.8% (s, test) | - | - | - | - "
                                     "| no record yet |")
    # This run's own table (results.md) is one machine's: no column for it.
    this_run = {key: value for key, value in rows[0].items() if key != "machine"}
    assert "machine" not in reproduce_table.markdown_table([{**this_run, "seconds": 1.0,
                                                             "command": "c"}])
