"""Unit tests of files/reproduce_table.py: a row's verdict from its runs, the table, and the
README between its markers (reproduce.py's runs themselves: test_reproduce.py)."""

import pytest

import input_errors
import reproduce
import reproduce_table
from conftest import REPO_ROOT


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
    machine = {"cpu": "Test CPU", "cores": 2, "gpu": "none found", "keras_backend": "jax",
               "keras": "3.x", "tensorflow": "2.x", "python": "3.11"}
    reproduce_table.update_readme(readme, "| example |\n| --- |\n| mnist |\n", machine, 600)
    text = readme.read_text()
    before, inside = text.split(reproduce_table.README_START)
    inside, after = inside.split(reproduce_table.README_END)
    assert before == original.split(reproduce_table.README_START)[0]
    assert after == original.split(reproduce_table.README_END)[1]
    assert "Machine: Test CPU, 2 cores; GPU: none found; Keras 3.x on jax" in inside
    assert "in 10 minutes" in inside and "| mnist |" in inside
    reproduce_table.update_readme(readme, "| mnist |\n", machine, 60, recorded=12)
    assert "in 1 minutes, taking 12 runs recorded earlier on this machine" in readme.read_text()
    readme.write_text("no markers here\n")
    with pytest.raises(input_errors.InputError, match="markers"):
        reproduce_table.update_readme(readme, "", machine, 1)
