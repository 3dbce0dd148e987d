"""The datasets as keras.datasets returns them, also offline from Keras's own files.

`load_mnist`, `load_imdb`, `load_reuters`, `load_boston_housing` and `load_word_index` call
keras.datasets by default; with --data-dir (or --smoke, the project's sample data) they read
Keras's own files (mnist.npz, imdb.npz, ...) from that folder and shuffle, split and encode
them exactly as keras.datasets does. A file that is missing or damaged becomes
`DataUnavailable`: one line saying where to get it, not a traceback.

Not in the book scripts: the book calls keras.datasets, which needs the network.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

from support.errors import DataUnavailable, error_reason

import numpy as np

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_SHUFFLE_SEED = 113  # the seed keras.datasets uses to shuffle before splitting

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
