"""The small helpers module the book's scripts share: history plots, multi-hot vectors, words.

What the book's code calls, first:
- `plot_history`: training vs validation curves as PNG, with the book's own curves
  (`book_history`) dashed beside them; `beside_book` keeps the book's run and the distance to
  it in metrics.json;
- `vectorize_sequences`: multi-hot encoding of word-id lists (IMDB, Reuters);
- `decode_words`: word ids back to text.
Below them, what plot_history draws with (the book's curves, the caption, the x axis).

The scripts' machinery lives in modules named for what it holds: `backend_check` (imported
first by every script), `command_line`, `outputs`, `keras_files` and `input_errors`.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write PNG files; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from outputs import save_atomically  # noqa: E402

BOOK_CURVES = Path(__file__).resolve().parent.parent / "data" / "book_curves.json"


def plot_history(history, metrics, path, title=None, book=None, examples_per_epoch=None):
    """Plot training vs validation curves, one panel per metric, into a PNG file.

    `history` is a keras History or its `.history` dict; `metrics` names keys such as
    "loss", "accuracy" or "mae" (the "val_" curve is drawn when present). `book` is the
    book's run of the same example (`book_history`): its curves are drawn dashed in the
    same colours, labelled "book, 1st ed.", with a caption saying how its run differs.
    The x axis counts epochs when one of the book's epochs covered as many training examples
    as one of this run's (`examples_per_epoch`), else training examples seen.
    """
    curves = getattr(history, "history", history)
    same_epochs = book is None or examples_per_epoch in (None, book["examples_per_epoch"])
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        curve_styles = ((metric, "o-", "training"), (f"val_{metric}", "s-", "validation"))
        for key, style, label in curve_styles:
            if key in curves:
                x = epoch_axis(len(curves[key]), None if same_epochs else examples_per_epoch)
                (line,) = ax.plot(x, curves[key], style, markersize=3, label=f"{label} {metric}")
                if book is not None and key in book["history"]:
                    plot_book_curve(ax, line, book["history"][key],
                                    None if same_epochs else book["examples_per_epoch"],
                                    f"{label} {metric}")
        ax.set_xlabel("epoch" if same_epochs else "training examples seen (thousands)")
        if same_epochs:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel(metric)
        ax.set_title(_title_of(metric, validation=f"val_{metric}" in curves))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    caption = book_caption(book, curves, metrics, examples_per_epoch)
    add_caption(fig, caption)
    if caption:
        print(caption)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_atomically(path, lambda partial: fig.savefig(partial, dpi=100, format="png"))
    plt.close(fig)
    return path


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
    history = getattr(history, "history", history)
    distances = [book_distance(history, book, metric, examples_per_epoch)
                 for metric in book["history"]]
    return {**book, "this_run_examples_per_epoch": examples_per_epoch,
            "distance": {distance["metric"]: distance for distance in distances if distance}}


def vectorize_sequences(sequences, dimension=10000):
    """Multi-hot encode lists of word ids: row i has a 1.0 at every id that occurs in sequence i.

    Vectorized: one fancy-indexing assignment, no Python loop over words.
    """
    lengths = np.fromiter((len(seq) for seq in sequences), dtype=np.int64, count=len(sequences))
    results = np.zeros((len(sequences), dimension), dtype="float32")
    if lengths.sum() == 0:
        return results
    word_ids = np.concatenate([np.asarray(seq, dtype=np.int64) for seq in sequences])
    if word_ids.min() < 0 or word_ids.max() >= dimension:
        raise ValueError(
            f"word ids must be in [0, {dimension}); got {word_ids.min()}..{word_ids.max()}. "
            f"Load the data with num_words={dimension}."
        )
    rows = np.repeat(np.arange(len(sequences)), lengths)
    results[rows, word_ids] = 1.0
    return results


def decode_words(sequence, word_index, index_from=3, unknown="?"):
    """Turn word ids back into text. Ids 0, 1 and 2 (padding, start, out-of-vocabulary)
    have no word and print as `unknown`."""
    id_to_word = {rank: word for word, rank in word_index.items()}
    return " ".join(id_to_word.get(i - index_from, unknown) for i in sequence)


# --------------------------------------------------------------------------------------
# What plot_history draws with
# --------------------------------------------------------------------------------------


def plot_book_curve(ax, run_line, values, examples_per_epoch, label):
    """The book's curve `values` beside a run's `run_line`: dashed, in the same colour,
    labelled "`label` (book, 1st ed.)"; at epochs 1, 2, ... or, given how many training
    examples one of the book's epochs covered, at thousands of examples seen."""
    ax.plot(epoch_axis(len(values), examples_per_epoch), values, "--",
            color=run_line.get_color(), linewidth=1.2, label=f"{label} (book, 1st ed.)")


def add_caption(fig, text):
    """Lay the figure out with `text` (if any) under it, wrapped to the figure's width."""
    if not text:
        fig.tight_layout()
        return
    lines = textwrap.wrap(text, width=int(fig.get_figwidth() * fig.dpi / 6.3))  # ~6 px a letter
    fig.text(0.5, 0.01, "\n".join(lines), ha="center", va="bottom", fontsize=8)
    # Room for the lines: about 12 pixels each at 8 points and 100 dpi, plus a margin.
    fig.tight_layout(rect=(0, (12 * len(lines) + 8) / (fig.get_figheight() * fig.dpi), 1, 1))


def epoch_axis(count, examples_per_epoch=None):
    """The x values of a curve of `count` epochs: 1..count, or (given how many training
    examples an epoch covered) the thousands of examples seen after each epoch."""
    if examples_per_epoch is None:
        return list(range(1, count + 1))
    return [(epoch + 1) * examples_per_epoch / 1000 for epoch in range(count)]


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


def _title_of(metric, validation=True):
    name = {"loss": "loss", "accuracy": "accuracy", "mae": "MAE"}.get(metric, metric)
    return f"Training and validation {name}" if validation else f"Training {name}"
