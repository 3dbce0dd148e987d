"""The book's own training curves (1st edition, from its notebooks' per-epoch logs in
data/book_curves.json), drawn dashed beside a run's, and how far a run's curves lie from them.

`of(script, stage)` gives the book's run of one example (a BookRun), or None where the book
printed no per-epoch log for it. helpers.plot_history draws it with `draw` and `caption`;
outputs.finish keeps it in metrics.json with `beside` (`beside_book`: the book's numbers, and
the distance of each curve the two runs share, `book_distance`).
"""

from __future__ import annotations

import json

from support.paths import REPO_ROOT

import numpy as np

from helpers import epoch_axis

BOOK_CURVES = REPO_ROOT / "data" / "book_curves.json"


class BookRun:
    """The book's run of one example: what plot_history needs to draw it beside a run."""

    def __init__(self, record):
        self.record = record  # book_history's dict

    def same_epochs(self, examples_per_epoch):
        """Whether one of this run's epochs covered as many training examples as the book's."""
        return examples_per_epoch in (None, self.record["examples_per_epoch"])

    def draw(self, ax, run_line, key, label, examples_per_epoch=None):
        """The book's curve of `key` (if it has one) beside the run's `run_line`."""
        if key in self.record["history"]:
            per_epoch = None if self.same_epochs(examples_per_epoch) else \
                self.record["examples_per_epoch"]
            plot_book_curve(ax, run_line, self.record["history"][key], per_epoch, label)

    def caption(self, curves, metrics, examples_per_epoch=None):
        return book_caption(self.record, curves, metrics, examples_per_epoch)

    def beside(self, history, examples_per_epoch=None):
        """This run as metrics.json keeps it beside `history` (`beside_book`)."""
        return beside_book(self, history, examples_per_epoch)


def of(script, stage):
    """The book's run of `stage` of `script` as a BookRun, or None (see book_history)."""
    record = book_history(script, stage)
    return None if record is None else BookRun(record)


def book_history(script, stage):
    """The book's run of `stage` of `script` (1st edition, from data/book_curves.json), or None
    where the book printed no per-epoch log for it.

    A dict: "run" (its name in the notebooks' logs), "history" (per-epoch values under Keras
    3's names: loss, accuracy, val_loss, val_accuracy), "examples_per_epoch" (training
    examples one of its epochs covered) and "note" (how the book's run differs, or None).
    """
    curves = json.loads(BOOK_CURVES.read_text(encoding="utf-8"))["curves"]
    return curves.get(script, {}).get(stage)


def beside_book(book, history, examples_per_epoch=None):
    """The book's run as metrics.json keeps it (`book_history`): its record, plus how many
    training examples one of this run's epochs covered and the distance (`book_distance`)
    of each curve the two runs share. None where the book has no log."""
    if book is None:
        return None
    book = getattr(book, "record", book)  # a BookRun or book_history's dict
    history = getattr(history, "history", history)
    distances = [book_distance(history, book, metric, examples_per_epoch)
                 for metric in book["history"]]
    return {**book, "this_run_examples_per_epoch": examples_per_epoch,
            "distance": {distance["metric"]: distance for distance in distances if distance}}


def plot_book_curve(ax, run_line, values, examples_per_epoch, label):
    """The book's curve `values` beside a run's `run_line`: dashed, in the same colour,
    labelled "`label` (book, 1st ed.)"; at epochs 1, 2, ... or, given how many training
    examples one of the book's epochs covered, at thousands of examples seen."""
    ax.plot(epoch_axis(len(values), examples_per_epoch), values, "--",
            color=run_line.get_color(), linewidth=1.2, label=f"{label} (book, 1st ed.)")


def book_caption(book, curves, metrics, examples_per_epoch=None):
    """One line under a plot: the book's run, how it differs, how far this run is from it."""
    if book is None:
        return None
    parts = [f"dashed: the book's run {book['run']} (Keras 2.0.8)"]
    if book["note"]:
        parts.append(book["note"])
    # Validation curves when there are any (accuracy first), else the training curves.
    for names in ([f"val_{metric}" for metric in reversed(metrics)], list(reversed(metrics))):
        distances = [distance for distance in (book_distance(curves, book, metric,
                                                             examples_per_epoch)
                                               for metric in names) if distance]
        if distances:
            parts.append(f"mean |run - book| over {distances[0]['points']} epochs: " + ", ".join(
                f"{distance['metric']} {distance['mean_abs_difference']:.3f} (last 10: "
                f"{distance['last_10_mean_abs_difference']:.3f})" for distance in distances))
            break
    return "; ".join(parts)


def book_distance(history, book, metric="val_accuracy", examples_per_epoch=None):
    """How far a run's curve is from the book's: the mean absolute difference of `metric`
    per epoch over the epochs both have, and over the last 10 of them. Where the epochs
    differ in size, the book's curve is read (linearly) at this run's training examples seen.
    None when one of them has no such curve."""
    history = getattr(history, "history", history)
    if book is None or metric not in history or metric not in book["history"]:
        return None
    run_values = np.asarray(history[metric], dtype="float64")
    book_values = np.asarray(book["history"][metric], dtype="float64")
    if examples_per_epoch in (None, book["examples_per_epoch"]):
        count = min(len(run_values), len(book_values))
        run_values, book_values = run_values[:count], book_values[:count]
    else:
        run_seen = np.asarray(epoch_axis(len(run_values), examples_per_epoch), dtype="float64")
        book_seen = np.asarray(epoch_axis(len(book_values), book["examples_per_epoch"]),
                               dtype="float64")
        inside = (run_seen >= book_seen[0]) & (run_seen <= book_seen[-1])
        run_values = run_values[inside]
        book_values = np.interp(run_seen[inside], book_seen, book_values)
    if len(run_values) == 0:
        return None
    differences = np.abs(run_values - book_values)
    return {"metric": metric, "points": len(differences),
            "mean_abs_difference": float(differences.mean()),
            "last_10_mean_abs_difference": float(differences[-10:].mean())}
