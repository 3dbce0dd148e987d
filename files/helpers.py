"""Small helpers shared by the chapter scripts.

Only what at least two scripts need lives here:

- the common command-line flags (`make_parser`, `parse_args`), the output folder check
  (`start`) and `run`, which turns a problem with the reader's input (a missing dataset, an
  output folder that cannot be written, ...) into a short message and exit code 2 instead
  of a traceback;
- dataset loading: `keras.datasets` by default, or Keras's own files from `--data-dir`;
- `vectorize_sequences` (multi-hot encoding) and `decode_words` (word ids back to text);
- `plot_history` (training vs validation curves as PNG, with the book's own curves from
  `book_history` beside them), `write_results` (`metrics.json` plus the final `RESULT ...`
  line) and `save_atomically` (no half-written file that looks complete).

Each script stays readable without opening this file: the names say what they do.

Every script imports this module before Keras (its own import block in pyproject.toml's
isort settings): importing it checks the Keras backend setting first (`check_backend`), so
a mistyped KERAS_BACKEND or a backend that is not installed ends in one line, not in a
traceback from inside Keras's own import.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import logging
import math
import os
import pickle
import sys
import tempfile
import textwrap
import time
import zipfile
from pathlib import Path

# Hide TensorFlow's warning that a tf.function was traced again: expected when a script
# builds a fresh model per fold or per experiment. (Its C++ start-up log lines can only be
# silenced from the shell: export TF_CPP_MIN_LOG_LEVEL=2.)
logging.getLogger("tensorflow").setLevel(logging.ERROR)

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # write PNG files; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

import interruption  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA_DIR = REPO_ROOT / "data" / "sample"
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_SHUFFLE_SEED = 113  # the seed keras.datasets uses to shuffle before splitting


class InputError(Exception):
    """A problem with the reader's input (paths, files, folders, flag values), not with the
    code: `run` prints it as one `error:` line and exits with code 2, no traceback."""


class DataUnavailable(InputError):
    """A dataset file could not be found, downloaded or read."""


# --------------------------------------------------------------------------------------
# The Keras backend, checked before Keras is imported
# --------------------------------------------------------------------------------------

BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
BACKEND_EXTRAS = {"tensorflow": ".", "jax": ".[jax]", "torch": ".[torch]"}


def backend_setting():
    """(backend name, where it was set), as Keras reads it: KERAS_BACKEND, else "backend"
    in keras.json (in KERAS_HOME or ~/.keras), else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "the environment variable KERAS_BACKEND"
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    config = keras_home / "keras.json"
    try:
        backend = json.loads(config.read_text()).get("backend")
    except (OSError, ValueError, AttributeError):  # no file, or one Keras ignores too
        backend = None
    return (backend, str(config)) if backend else ("tensorflow", "Keras's default")


def check_backend():
    """Exit with one `error:` line (code 2) when the backend setting names no backend these
    scripts run on, or one whose package is not installed."""
    backend, source = backend_setting()
    if backend not in BACKEND_PACKAGES:
        fix = ("`export KERAS_BACKEND=jax`, or unset KERAS_BACKEND for tensorflow"
               if source.startswith("the environment") else
               "edit \"backend\" in that file, or override it with `export KERAS_BACKEND=jax`")
        _exit_with(f"Keras backend {backend!r} (from {source}) is not one of "
                   f"{', '.join(BACKEND_PACKAGES)}; set it to one of them: {fix}.")
    if backend == "tensorflow":
        return  # installed with the project; importing it here would slow every start-up
    try:  # jax or torch: Keras imports it right after, so the import costs nothing extra
        importlib.import_module(BACKEND_PACKAGES[backend])
    except ImportError as error:
        _exit_with(f"Keras backend {backend!r} (from {source}) needs the "
                   f"{BACKEND_PACKAGES[backend]} package, which does not import here "
                   f"({error_reason(error)}); install it with "
                   f"`pip install \"{BACKEND_EXTRAS[backend]}\"` from the repository root.")


def _exit_with(message):
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def int_in_range(low, high=None):
    """argparse type: an integer in [low, high] (high None: no upper limit), so an
    impossible value such as `--epochs 0` is a usage error that names the range."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            allowed = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    parse.__name__ = "integer"  # what argparse calls the type in its messages
    return parse


positive_int = int_in_range(1)
positive_int.__doc__ = "argparse type: an integer >= 1 (so `--epochs 0` is a usage error)."
SEED_RANGE = (0, 2**32 - 1)  # what NumPy's seeding accepts


def add_common_flags(parser, script, epochs, batch_size):
    """Add the flags every script shares, with this script's book defaults."""
    group = parser.add_argument_group("common options")
    group.add_argument("--epochs", type=positive_int, default=epochs,
                       help="training epochs (default: %(default)s)")
    group.add_argument("--batch-size", type=positive_int, default=batch_size,
                       help="mini-batch size (default: %(default)s)")
    group.add_argument("--seed", type=int_in_range(*SEED_RANGE), default=42,
                       help="seeds Python, NumPy and the backend, 0 to 2**32-1 "
                            "(default: %(default)s)")
    group.add_argument("--data-dir", type=Path, default=_env_path("DLWP_DATA_DIR"),
                       help="read Keras's dataset files from this folder instead of downloading "
                            "them (also: env DLWP_DATA_DIR)")
    group.add_argument("--output-dir", type=Path, default=REPO_ROOT / "runs" / script,
                       help=f"where plots and metrics.json go (default: runs/{script}/)")
    group.add_argument("--smoke", action="store_true",
                       help="tiny run on the project's sample data in data/sample/: "
                            "seconds, no network")
    group.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2,
                       help="Keras fit verbosity: 0 silent, 1 progress bar, 2 one line "
                            "per epoch (default: %(default)s)")
    return parser


def make_parser(script, doc, epochs, batch_size):
    """An ArgumentParser whose description is the script's docstring, plus the common flags."""
    parser = argparse.ArgumentParser(
        prog=f"python files/{script}.py",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_common_flags(parser, script, epochs, batch_size)


def parse_args(parser, argv=None, smoke_epochs=2):
    """Parse the flags; `--smoke` switches to the sample data and caps the epochs."""
    args = parser.parse_args(argv)
    if args.smoke:
        args.data_dir = SAMPLE_DATA_DIR
        args.epochs = min(args.epochs, smoke_epochs)
    return args


def _env_path(name):
    value = os.environ.get(name)
    return Path(value) if value else None


def start(args):
    """Seed everything, check the output folder, and return a start time for `seconds`."""
    import keras

    keras.utils.set_random_seed(args.seed)  # Python, NumPy and the backend in one call
    prepare_output_dir(args.output_dir)
    return time.perf_counter()


def prepare_output_dir(folder):
    """Create `folder` and make sure files can be written there, before any training: a
    mistake in --output-dir then costs seconds, not an hour of training."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        what = "is not a folder" if folder.exists() and not folder.is_dir() else \
            f"cannot be created or written ({error.strerror or error})"
        raise InputError(f"output folder {folder} {what}; pass --output-dir with a folder "
                         f"you can write to") from None
    OUTPUT_FOLDERS.append(folder.resolve())
    return folder


OUTPUT_FOLDERS = []  # the folders this run writes into (checked by prepare_output_dir)


class WriteFailed(InputError):
    """An output file could not be written: no space left, permissions changed, the folder
    gone. Not a bug in the code: `run` prints it as one `error:` line, exit code 2."""


def save_atomically(path, save):
    """Call `save(partial_path)`, then rename the file to `path`: a run that is interrupted
    or fails while writing never leaves a half-written file under the final name, and an
    earlier run's file of that name stays as it was until the new one is complete."""
    path = Path(path)
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")  # keeps .keras, .png
    try:
        save(partial)
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        message = write_failure(error, path)
        if message is None:
            raise
        raise WriteFailed(message) from None
    return path


# What the environment, not the code, does to a write: always (a full disk, a quota, a
# read-only file system), or in an output folder (permissions changed, the folder removed
# while the run went on). The same errors elsewhere may be bugs and keep their traceback.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
OUTPUT_FOLDER_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOENT}


def write_failure(error, path=None):
    """One line for an OSError that the environment caused while writing an output, or
    None when it may be a bug."""
    path = path or error.filename
    in_output = path is not None and any(
        Path(path).resolve().is_relative_to(folder) for folder in OUTPUT_FOLDERS)
    if error.errno in ENVIRONMENT_ERRNOS or (error.errno in OUTPUT_FOLDER_ERRNOS and in_output):
        reason = os.strerror(error.errno)
        return (f"could not write {path or 'an output file'} ({reason}); files of earlier "
                f"runs are kept as they were. Make room or fix the folder (or pass "
                f"--output-dir elsewhere) and run again.")
    return None


def run(main):
    """Call `main()`; a problem with the reader's input (InputError) or a write the
    environment made fail (no space left, ...) becomes one line on stderr and exit code 2,
    Ctrl-C one line and exit code 130. Anything else is a bug in the code and keeps its
    traceback. Ctrl-C stops the script wherever it is (interruption.stopping_on_ctrl_c)."""
    try:
        with interruption.stopping_on_ctrl_c():
            main()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:  # written by Keras or matplotlib (a checkpoint, a plot)
        message = write_failure(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


# --------------------------------------------------------------------------------------
# Datasets: keras.datasets by default, Keras's own files with --data-dir
# --------------------------------------------------------------------------------------

DATASET_FILES = {
    # name: (file, the arrays it must hold, whether they are ragged word-id lists)
    "mnist": ("mnist.npz", ("x_train", "y_train", "x_test", "y_test"), False),
    "imdb": ("imdb.npz", ("x_train", "y_train", "x_test", "y_test"), True),
    "reuters": ("reuters.npz", ("x", "y"), True),
    "boston_housing": ("boston_housing.npz", ("x", "y"), False),
}


def _how_to_get(filename):
    return (
        f"It is Keras's own file, downloaded by keras.datasets from {KERAS_ORIGIN}{filename} "
        f"(and cached in ~/.keras/datasets/). Download it on a connected machine, put it in a "
        f"folder and pass --data-dir FOLDER (or set DLWP_DATA_DIR), or run with --smoke to use "
        f"the project's small sample data."
    )


def _read_npz(name, data_dir):
    filename, keys, ragged = DATASET_FILES[name]
    path = Path(data_dir) / filename
    if not path.is_file():
        raise DataUnavailable(f"{path} not found. {_how_to_get(filename)}")
    if not zipfile.is_zipfile(path):
        raise DataUnavailable(f"{path} could not be read (not an .npz file). "
                              f"{_how_to_get(filename)}")
    try:
        # Reuters and IMDB store ragged word-id lists as object arrays, which NumPy can only
        # read with pickling enabled; read those files only from sources you trust.
        with np.load(path, allow_pickle=ragged) as npz:
            missing = [key for key in keys if key not in npz.files]
            if missing:
                raise DataUnavailable(
                    f"{path} does not look like Keras's {filename}: it lacks the arrays "
                    f"{', '.join(missing)} (it has: {', '.join(npz.files) or 'none'}). "
                    f"{_how_to_get(filename)}"
                )
            return {key: npz[key] for key in keys}
    except (OSError, ValueError, pickle.UnpicklingError) as error:
        raise DataUnavailable(f"{path} could not be read ({error}). {_how_to_get(filename)}") \
            from None


def error_reason(error):
    """The first line of an exception's message (or its type's name): the reason to print."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _fetch(filename, fetch, **kwargs):
    """Run a keras.datasets function that downloads `filename`; a failure becomes
    DataUnavailable with the reason Keras gave."""
    try:
        return fetch(**kwargs)
    except Exception as error:  # Keras raises a bare Exception on a failed fetch
        reason = error_reason(error)
        raise DataUnavailable(
            f"could not download {filename} ({reason}). {_how_to_get(filename)}"
        ) from None


def _download(name, **kwargs):
    """The real keras.datasets loader of dataset `name`."""
    import keras

    return _fetch(DATASET_FILES[name][0], getattr(keras.datasets, name).load_data, **kwargs)


def load_mnist(data_dir=None):
    """MNIST as `keras.datasets.mnist.load_data()` returns it: uint8 images, uint8 labels."""
    if data_dir is None:
        return _download("mnist")
    arrays = _read_npz("mnist", data_dir)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_boston_housing(data_dir=None, test_split=0.2, seed=KERAS_SHUFFLE_SEED):
    """Boston housing, shuffled and split exactly as `keras.datasets.boston_housing` does."""
    if data_dir is None:
        return _download("boston_housing", test_split=test_split, seed=seed)
    arrays = _read_npz("boston_housing", data_dir)
    x, y = arrays["x"], arrays["y"]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)
    x, y = x[order], y[order]
    n_train = int(len(x) * (1 - test_split))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def _encode_words(sequences, num_words, start_char=1, oov_char=2, index_from=3):
    """Keras's convention: a start marker, word ids shifted by 3, rare words -> oov_char."""
    encoded = [[start_char] + [w + index_from for w in seq] for seq in sequences]
    if not num_words:
        num_words = max(max(seq) for seq in encoded)
    return [[w if w < num_words else oov_char for w in seq] for seq in encoded]


def _as_object_array(sequences):
    array = np.empty(len(sequences), dtype="object")
    array[:] = sequences
    return array


def load_imdb(data_dir=None, num_words=None, seed=KERAS_SHUFFLE_SEED):
    """IMDB reviews as `keras.datasets.imdb.load_data(num_words=...)` returns them."""
    if data_dir is None:
        return _download("imdb", num_words=num_words, seed=seed)
    arrays = _read_npz("imdb", data_dir)
    rng = np.random.RandomState(seed)  # one generator, train shuffled first, as in Keras
    splits = []
    for x_key, y_key in (("x_train", "y_train"), ("x_test", "y_test")):
        order = np.arange(len(arrays[x_key]))
        rng.shuffle(order)
        splits.append((arrays[x_key][order], arrays[y_key][order]))
    (x_train, y_train), (x_test, y_test) = splits
    # Keras picks the vocabulary size over train and test together.
    encoded = _encode_words(list(x_train) + list(x_test), num_words)
    n_train = len(x_train)
    return ((_as_object_array(encoded[:n_train]), y_train),
            (_as_object_array(encoded[n_train:]), y_test))


def load_reuters(data_dir=None, num_words=None, test_split=0.2, seed=KERAS_SHUFFLE_SEED):
    """Reuters newswires as `keras.datasets.reuters.load_data(num_words=...)` returns them."""
    if data_dir is None:
        return _download("reuters", num_words=num_words, test_split=test_split, seed=seed)
    arrays = _read_npz("reuters", data_dir)
    order = np.arange(len(arrays["x"]))
    np.random.RandomState(seed).shuffle(order)
    encoded = _encode_words(arrays["x"][order], num_words)
    labels = arrays["y"][order]
    n_train = int(len(encoded) * (1 - test_split))
    return ((_as_object_array(encoded[:n_train]), labels[:n_train]),
            (_as_object_array(encoded[n_train:]), labels[n_train:]))


def load_word_index(dataset, data_dir=None):
    """The word -> rank dictionary of "imdb" or "reuters" (`keras.datasets.X.get_word_index()`)."""
    import keras

    filename = f"{dataset}_word_index.json"
    if data_dir is None:
        return _fetch(filename, getattr(keras.datasets, dataset).get_word_index)
    path = Path(data_dir) / filename
    if not path.is_file():
        raise DataUnavailable(f"{path} not found. {_how_to_get(filename)}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataUnavailable(f"{path} could not be read ({error}). {_how_to_get(filename)}") \
            from None


# --------------------------------------------------------------------------------------
# Text: multi-hot vectors and decoding
# --------------------------------------------------------------------------------------


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
# Plots and results
# --------------------------------------------------------------------------------------


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


BOOK_CURVES = REPO_ROOT / "data" / "book_curves.json"


def book_history(script, stage):
    """The book's run of `stage` of `script` (1st edition, from data/book_curves.json), or None
    where the book printed no per-epoch log for it.

    A dict: "run" (its name in the notebooks' logs), "history" (per-epoch values under Keras
    3's names: loss, accuracy, val_loss, val_accuracy), "examples_per_epoch" (training
    examples one of its epochs covered) and "note" (how the book's run differs, or None).
    """
    curves = json.loads(BOOK_CURVES.read_text(encoding="utf-8"))["curves"]
    return curves.get(script, {}).get(stage)


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


def _title_of(metric, validation=True):
    name = {"loss": "loss", "accuracy": "accuracy", "mae": "MAE"}.get(metric, metric)
    return f"Training and validation {name}" if validation else f"Training {name}"


def _clean(value):
    """JSON-friendly numbers: NumPy scalars to Python, floats rounded for reading."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value):
        return round(value, 6)
    return value


def write_results(args, script, results, extra=None):
    """Write `metrics.json` and print the closing line `RESULT script=<name> key=value ...`,
    which ends with the Keras backend that ran (`backend=tensorflow`).

    `results` holds the headline numbers (they go on the RESULT line and into the JSON);
    `extra` holds anything else worth keeping (histories, per-fold scores, settings).
    """
    import keras

    results = {**results, "backend": keras.backend.backend()}  # tensorflow, jax or torch
    record = {"script": script, **_clean(results)}
    extra = dict(extra or {})
    book = extra.pop("book_history", None)  # the book's numbers stay exactly as printed
    record.update(_clean(extra))
    if book is not None:
        record["book_history"] = book
    record["settings"] = {key: str(value) if isinstance(value, Path) else value
                          for key, value in sorted(vars(args).items())}
    path = save_atomically(
        Path(args.output_dir) / "metrics.json",
        lambda partial: partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8"))
    fields = " ".join(f"{key}={_format(key, value)}" for key, value in results.items())
    print(f"RESULT script={script} {fields}", flush=True)
    return path


def _format(key, value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.1f}" if key.endswith("seconds") else f"{value:.4f}"
    return str(value)


# Importing this module checks the backend setting, before the script imports Keras.
check_backend()
