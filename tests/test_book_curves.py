"""The book's own curves: data/book_curves.json (made by data/make_book_curves.py),
files/support/book_curves.py that reads it (book_history, book_distance, beside_book), and
helpers.plot_history drawing it.
The smoke runs of each script check their plots and metrics.json carry it (test_scripts.py,
test_fundamentals.py, test_convnet.py)."""

import json

from support import book_curves, outputs

import pytest

import helpers
import make_book_curves
from harness import REPO_ROOT, assert_png, book_curves_drawn

SHARED_LOGS = REPO_ROOT.parent / "shared" / "book" / "book_curves.json"
COMMITTED = json.loads((REPO_ROOT / "data" / "book_curves.json").read_text())


def test_every_run_this_project_reproduces_has_its_curves():
    curves = COMMITTED["curves"]
    assert set(curves) == {"mnist", "imdb", "reuters", "fundamentals", "convnet"}
    assert set(curves["convnet"]) == {"mnist", "scratch", "augment", "features",
                                      "features-augment", "finetune"}
    assert set(curves["fundamentals"]) == {"original", "smaller", "bigger", "l2", "dropout"}
    for stages in curves.values():
        for book in stages.values():
            lengths = {len(values) for values in book["history"].values()}
            assert len(lengths) == 1, f"{book['run']}: curves of different lengths"
            assert set(book["history"]) <= {"loss", "accuracy", "val_loss", "val_accuracy"}
            assert book["examples_per_epoch"] > 0
    assert COMMITTED["source"]["repository"] == "fchollet/deep-learning-with-python-notebooks"


def test_known_values_from_the_notebooks():
    augment = book_curves.book_history("convnet", "augment")["history"]["val_accuracy"]
    assert len(augment) == 100
    # The check: the mean of its last 10 validation accuracies is 83.0%.
    assert sum(augment[-10:]) / 10 == pytest.approx(0.830, abs=0.0005)
    reuters_final = book_curves.book_history("reuters", "final")
    assert len(reuters_final["history"]["loss"]) == 8  # the notebook's 8 epochs, not 9
    assert "8 epochs" in reuters_final["note"]
    assert book_curves.book_history("mnist", "training")["history"]["accuracy"][-1] == 0.989


@pytest.mark.skipif(not SHARED_LOGS.is_file(), reason="needs ../shared/book (not in CI)")
def test_committed_file_is_what_the_maker_writes_from_the_logs():
    made = make_book_curves.book_curves(json.loads(SHARED_LOGS.read_text()))
    assert made == COMMITTED


def test_no_book_curve_where_the_book_printed_none():
    assert book_curves.book_history("bostonhousing", "kfold") is None  # verbose=0 in the book
    assert book_curves.book_history("tensors", "engine") is None  # a 2nd-edition example
    assert book_curves.book_history("convnet", "visualize") is None


def book(values, examples_per_epoch=100, metric="val_accuracy"):
    return {"run": "demo", "note": None, "examples_per_epoch": examples_per_epoch,
            "history": {metric: values}}


def test_distance_epoch_by_epoch_over_the_epochs_both_have():
    run = {"val_accuracy": [0.5, 0.7, 0.8]}
    distance = book_curves.book_distance(run, book([0.6, 0.6, 0.9, 0.95]), examples_per_epoch=100)
    assert distance["points"] == 3
    assert distance["mean_abs_difference"] == pytest.approx((0.1 + 0.1 + 0.1) / 3)
    assert distance["last_10_mean_abs_difference"] == pytest.approx(0.1)


def test_distance_over_the_last_ten_epochs():
    run = {"val_accuracy": [0.0] * 5 + [1.0] * 10}
    distance = book_curves.book_distance(run, book([1.0] * 15))
    assert distance["mean_abs_difference"] == pytest.approx(5 / 15)
    assert distance["last_10_mean_abs_difference"] == 0.0


def test_distance_where_epochs_differ_in_size_reads_the_book_at_the_same_examples_seen():
    # This run's epochs are half the book's: its epoch 2 is the book's epoch 1, and its
    # epoch 3 lies halfway between the book's 1 and 2. Epoch 1 lies before the book's first.
    run = {"val_loss": [9.0, 1.0, 2.0, 3.0]}
    distance = book_curves.book_distance(run, book([1.0, 3.0], 200, "val_loss"), "val_loss", 100)
    assert distance["points"] == 3
    assert distance["mean_abs_difference"] == pytest.approx(0.0)


def test_no_distance_without_a_shared_curve():
    assert book_curves.book_distance({"loss": [1.0]}, book([0.5])) is None
    assert book_curves.book_distance({"val_accuracy": [1.0]}, None) is None


def test_beside_book_keeps_the_record_and_adds_the_distances():
    record = book([0.5, 0.6])
    kept = book_curves.beside_book(record, {"val_accuracy": [0.5, 0.8], "loss": [1.0]}, 100)
    assert kept["history"] == record["history"] and kept["run"] == "demo"
    assert kept["this_run_examples_per_epoch"] == 100
    assert kept["distance"]["val_accuracy"]["mean_abs_difference"] == pytest.approx(0.1)
    assert book_curves.beside_book(None, {"loss": [1.0]}) is None


def test_plot_draws_the_book_dashed_in_the_run_s_colour(tmp_path, figures):
    reuters = book_curves.book_history("reuters", "validation")
    history = {key: values[:3] for key, values in reuters["history"].items()}
    plot = helpers.plot_history(history, ["loss", "accuracy"],
                                book=book_curves.BookRun(reuters), examples_per_epoch=7982)
    assert_png(outputs.save_figure(plot, tmp_path / "curves.png"))
    (figure,) = figures
    drawn = book_curves_drawn(figure)
    assert len(drawn) == 4  # training and validation, loss and accuracy
    for (_, label), (epochs, values) in drawn.items():
        metric = label.split()[1]
        key = metric if label.startswith("training") else f"val_{metric}"
        assert values == reuters["history"][key]  # the whole book run, exactly
        assert epochs == list(range(1, 21))  # the same epochs: an epoch means the same
    assert "3.6-reuters-validation" in figure["caption"]
    assert ("mean |run - book| over 3 epochs: val_accuracy 0.000 (last 10: 0.000), "
            "val_loss 0.000") in figure["caption"]


def test_plot_counts_examples_seen_when_epochs_differ_in_size(tmp_path, figures):
    final = book_curves.book_history("reuters", "final")
    history = {"loss": [2.0, 1.0], "accuracy": [0.5, 0.7]}
    plot = helpers.plot_history(history, ["loss", "accuracy"],
                                book=book_curves.BookRun(final), examples_per_epoch=8982)
    outputs.save_figure(plot, tmp_path / "final.png")
    (figure,) = figures
    run_x, _ = figure["curves"][("Training loss", "training loss")]
    book_x, _ = figure["curves"][("Training loss", "training loss (book, 1st ed.)")]
    assert run_x == [8.982, 17.964]  # thousands of training newswires seen
    assert book_x[:2] == [7.982, 15.964] and len(book_x) == 8
    assert "8 epochs" in figure["caption"]  # how the book's run differs


def test_plot_without_a_book_run_draws_only_the_run(tmp_path, figures):
    outputs.save_figure(helpers.plot_history({"loss": [1.0, 0.5]}, ["loss"]),
                        tmp_path / "loss.png")
    (figure,) = figures
    assert not book_curves_drawn(figure) and figure["caption"] == ""
