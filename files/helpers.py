"""The small helpers module the book's scripts share: history plots, multi-hot vectors, words.

- `plot_history`: training vs validation curves, drawn as a matplotlib Figure, with the
  book's own run of the same example (`book`, from support.book_curves) dashed beside them;
- `vectorize_sequences`: multi-hot encoding of word-id lists (IMDB, Reuters);
- `decode_words`: word ids back to text.

It imports no module of the project and writes no file: a script saves the figure with
support.outputs.save_figure (a notebook shows it as it is).
"""

from __future__ import annotations

import textwrap

# The plotting backend is Agg (PNG files, no display), chosen by support.backend_check when a
# script imports support; a notebook that imports this module keeps its own.
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator


def plot_history(history, metrics, title=None, book=None, examples_per_epoch=None):
    """Draw training vs validation curves, one panel per metric; returns the Figure.

    `history` is a keras History or its `.history` dict; `metrics` names keys such as
    "loss", "accuracy" or "mae" (the "val_" curve is drawn when present). `book` is the
    book's run of the same example (support.book_curves.of): its curves are drawn dashed in
    the same colours, labelled "book, 1st ed.", with a caption saying how its run differs.
    The x axis counts epochs when one of the book's epochs covered as many training examples
    as one of this run's (`examples_per_epoch`), else training examples seen.
    """
    curves = getattr(history, "history", history)
    same_epochs = book is None or book.same_epochs(examples_per_epoch)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        curve_styles = ((metric, "o-", "training"), (f"val_{metric}", "s-", "validation"))
        for key, style, label in curve_styles:
            if key in curves:
                x = epoch_axis(len(curves[key]), None if same_epochs else examples_per_epoch)
                (line,) = ax.plot(x, curves[key], style, markersize=3, label=f"{label} {metric}")
                if book is not None:
                    book.draw(ax, line, key, f"{label} {metric}", examples_per_epoch)
        ax.set_xlabel("epoch" if same_epochs else "training examples seen (thousands)")
        if same_epochs:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_ylabel(metric)
        ax.set_title(_title_of(metric, validation=f"val_{metric}" in curves))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    caption = book and book.caption(curves, metrics, examples_per_epoch)
    add_caption(fig, caption)
    if caption:
        print(caption)
    return fig


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


def _title_of(metric, validation=True):
    name = {"loss": "loss", "accuracy": "accuracy", "mae": "MAE"}.get(metric, metric)
    return f"Training and validation {name}" if validation else f"Training {name}"
