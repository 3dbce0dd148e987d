"""The chapter 2-3 scripts end to end: their --smoke runs in this process through
main(argv), and every script's command line through its `__main__` block. (mnist.py as the
quickstart starts it, `python files/mnist.py` in a real process of its own, runs under
reproduce.py in test_reproduce.py.)"""

import runpy
import sys

from support import book_curves

import numpy as np
import pytest

from harness import (
    REPO_ROOT,
    assert_finite_numbers,
    assert_no_python_warnings,
    assert_png,
    book_curves_drawn,
    read_metrics,
    result_fields,
    run_script,
)

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)

# script -> (headline keys on the RESULT line, plots it must write)
SCRIPTS = {
    "mnist": (["test_accuracy", "test_loss", "seconds"], ["training.png"]),
    "imdb": (["test_accuracy", "test_loss", "seconds"], ["validation.png", "final.png"]),
    "reuters": (["test_accuracy", "test_loss", "random_baseline_accuracy", "seconds"],
                ["validation.png", "final.png"]),
    "bostonhousing": (["test_mae", "kfold_mae", "seconds"],
                      ["validation_mae.png", "final_training.png"]),
}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """Run each script's smoke mode once per test module; tests then read its outputs."""
    runs = {}

    def run(script):
        if script not in runs:
            output_dir = tmp_path_factory.mktemp(script)
            done = run_script(script, "--smoke", "--verbose", "0", "--output-dir", output_dir)
            runs[script] = (done, output_dir)
        return runs[script]

    return run


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_smoke_run_trains_and_writes_its_outputs(script, smoke_run):
    keys, plots = SCRIPTS[script]
    done, output_dir = smoke_run(script)
    assert done.returncode == 0, done.stderr[-3000:]

    assert_no_python_warnings(done)
    fields = result_fields(done.stdout)
    assert fields["script"] == script
    for key in keys:
        assert key in fields, f"RESULT line lacks {key}: {fields}"

    metrics = read_metrics(output_dir)
    assert metrics["script"] == script
    assert_finite_numbers(metrics, keys)
    for key in keys:  # the RESULT line and metrics.json agree
        assert float(fields[key]) == pytest.approx(metrics[key], abs=0.051)
    loss = metrics["history"]["loss"]
    assert len(loss) >= 2 and np.all(np.isfinite(loss))
    assert loss[-1] < loss[0], f"training loss did not go down: {loss}"
    for plot in plots:
        assert_png(output_dir / plot)


# The book's run of each curve in metrics.json (the stage names of data/book_curves.json).
BOOK_RUNS = {
    "mnist": {"history": "training"},
    "imdb": {"history": "final", "validation_history": "validation"},
    "reuters": {"history": "final", "validation_history": "validation"},
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_smoke_run_keeps_the_book_s_curves_beside_its_own(script, smoke_run):
    done, output_dir = smoke_run(script)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = read_metrics(output_dir)
    if script not in BOOK_RUNS:  # Boston: the book printed no per-epoch log
        assert "book_history" not in metrics
        return
    assert set(metrics["book_history"]) == set(BOOK_RUNS[script])
    for key, stage in BOOK_RUNS[script].items():
        kept, book = metrics["book_history"][key], book_curves.book_history(script, stage)
        assert kept["history"] == book["history"] and kept["run"] == book["run"]
        # The distance is taken against this run's own curve, over the epochs both have.
        for metric, distance in kept["distance"].items():
            assert distance["points"] <= len(metrics[key][metric])
            assert 0 <= distance["mean_abs_difference"] < 10


def test_smoke_classifier_beats_chance(smoke_run):
    # The sample data is learnable: even a few epochs do clearly better than guessing.
    done, _ = smoke_run("imdb")
    assert float(result_fields(done.stdout)["test_accuracy"]) > 0.6
    assert "first review, decoded: ? " in done.stdout


def test_reuters_compares_with_random_guessing(smoke_run):
    done, _ = smoke_run("reuters")
    fields = result_fields(done.stdout)
    assert float(fields["test_accuracy"]) > float(fields["random_baseline_accuracy"])


def test_bostonhousing_reports_folds_and_dollars(smoke_run):
    done, output_dir = smoke_run("bostonhousing")
    metrics = read_metrics(output_dir)
    assert len(metrics["fold_maes"]) == metrics["settings"]["folds"]
    assert metrics["kfold_mae"] == pytest.approx(np.mean(metrics["fold_maes"]), rel=1e-4)
    assert len(metrics["average_val_mae_per_epoch"]) == metrics["settings"]["curve_epochs"]
    assert metrics["test_mae_dollars"] == round(metrics["test_mae"] * 1000)
    assert "predictions are off by about $" in done.stdout


def test_reuters_smoke_run_draws_the_book_s_curves_from_the_data_file(smoke_run):
    done, _ = smoke_run("reuters")
    validation, final = done.figures  # validation.png, final.png
    for figure, stage in ((validation, "validation"), (final, "final")):
        book = book_curves.book_history("reuters", stage)
        drawn = {label: values for (_, label), (_, values) in book_curves_drawn(figure).items()}
        expected = {"training loss (book, 1st ed.)": book["history"]["loss"],
                    "training accuracy (book, 1st ed.)": book["history"]["accuracy"]}
        if stage == "validation":  # the final model trains without validation data
            expected.update({
                "validation loss (book, 1st ed.)": book["history"]["val_loss"],
                "validation accuracy (book, 1st ed.)": book["history"]["val_accuracy"]})
        assert drawn == expected
        assert book["run"] in figure["caption"]
    assert "8 epochs on the 7,982 newswires" in final["caption"]  # the book's final model


@pytest.mark.parametrize("script", [*sorted(SCRIPTS), "tensors", "fundamentals", "convnet",
                                    "reproduce"])
def test_command_line_runs_main_and_answers_help(script, monkeypatch, capsys):
    """`python files/<script>.py --help`: the file's `__main__` block runs main through
    command_line.run (executed here with runpy, as Python runs a script file)."""
    monkeypatch.setattr(sys, "argv", [f"files/{script}.py", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(REPO_ROOT / "files" / f"{script}.py"), run_name="__main__")
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python files/")
    if script != "reproduce":  # not a book section; the chapters say which they are
        assert "Chapter" in out


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_names_the_chapter_and_the_common_flags(script):
    done = run_script(script, "--help")
    assert done.returncode == 0
    assert "Chapter" in done.stdout
    for flag in ("--epochs", "--batch-size", "--seed", "--data-dir", "--output-dir", "--smoke",
                 "--verbose"):
        assert flag in done.stdout


