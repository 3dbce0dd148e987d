"""Unit tests of files/support/datasets.py: the offline loaders against Keras's own, and the
project's sample data (data/sample/) they read with --smoke."""

import importlib
import json

from support import datasets, errors

import keras
import numpy as np
import pytest

from harness import REPO_ROOT

# ---- The offline loaders return exactly what keras.datasets returns for the same file ------


def ragged(rng, count, vocabulary):
    sequences = np.empty(count, dtype="object")
    sequences[:] = [list(map(int, rng.integers(1, vocabulary, rng.integers(1, 30))))
                    for _ in range(count)]
    return sequences


@pytest.fixture
def dataset_files(tmp_path):
    """Small files in Keras's formats, plus a way to point Keras's own loader at them."""
    rng = np.random.default_rng(7)
    np.savez(tmp_path / "mnist.npz",
             x_train=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, 50, dtype=np.uint8),
             x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, 20, dtype=np.uint8))
    np.savez(tmp_path / "imdb.npz", x_train=ragged(rng, 40, 60), y_train=rng.integers(0, 2, 40),
             x_test=ragged(rng, 30, 60), y_test=rng.integers(0, 2, 30))
    np.savez(tmp_path / "reuters.npz", x=ragged(rng, 57, 80), y=rng.integers(0, 46, 57))
    np.savez(tmp_path / "boston_housing.npz", x=rng.normal(size=(47, 13)), y=rng.normal(size=47))
    return tmp_path


def keras_loader(monkeypatch, name, path):
    """keras.datasets.<name>.load_data, with its download step returning our local file."""
    module = importlib.import_module(f"keras.src.datasets.{name}")
    monkeypatch.setattr(module, "get_file", lambda *args, **kwargs: str(path))
    return module.load_data


def assert_same_splits(ours, theirs):
    for our_split, their_split in zip(ours, theirs, strict=True):
        for our_array, their_array in zip(our_split, their_split, strict=True):
            assert our_array.shape == their_array.shape
            assert our_array.dtype == their_array.dtype
            if our_array.dtype == object:
                assert [list(s) for s in our_array] == [list(s) for s in their_array]
            else:
                np.testing.assert_array_equal(our_array, their_array)


def test_mnist_matches_keras(dataset_files, monkeypatch):
    load = keras_loader(monkeypatch, "mnist", dataset_files / "mnist.npz")
    assert_same_splits(datasets.load_mnist(dataset_files), load())


@pytest.mark.parametrize("num_words", [None, 10, 40])
@pytest.mark.parametrize("name", ["imdb", "reuters"])
def test_word_datasets_match_keras(name, num_words, dataset_files, monkeypatch):
    load = keras_loader(monkeypatch, name, dataset_files / f"{name}.npz")
    ours = getattr(datasets, f"load_{name}")(dataset_files, num_words=num_words)
    assert_same_splits(ours, load(num_words=num_words))


def test_imdb_other_seed_matches_keras(dataset_files, monkeypatch):
    load = keras_loader(monkeypatch, "imdb", dataset_files / "imdb.npz")
    assert_same_splits(datasets.load_imdb(dataset_files, num_words=25, seed=5),
                       load(num_words=25, seed=5))


def test_boston_housing_matches_keras(dataset_files, monkeypatch):
    load = keras_loader(monkeypatch, "boston_housing", dataset_files / "boston_housing.npz")
    assert_same_splits(datasets.load_boston_housing(dataset_files), load())
    assert len(datasets.load_boston_housing(dataset_files)[0][0]) == int(47 * 0.8)


def test_word_index_reads_json(tmp_path):
    (tmp_path / "reuters_word_index.json").write_text(json.dumps({"the": 1, "of": 2}))
    assert datasets.load_word_index("reuters", tmp_path) == {"the": 1, "of": 2}


# ---- When data cannot be had ---------------------------------------------------------------


def test_missing_file_names_file_origin_and_flag(tmp_path):
    with pytest.raises(errors.DataUnavailable) as error:
        datasets.load_reuters(tmp_path)
    message = str(error.value)
    assert str(tmp_path / "reuters.npz") in message
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters.npz" in message
    assert "--data-dir" in message


def test_wrong_keys_are_reported(tmp_path):
    np.savez(tmp_path / "boston_housing.npz", features=np.zeros((3, 13)))
    with pytest.raises(errors.DataUnavailable, match="lacks the arrays x, y"):
        datasets.load_boston_housing(tmp_path)


def test_corrupt_file_is_reported(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(errors.DataUnavailable, match="could not be read"):
        datasets.load_mnist(tmp_path)


def test_failed_download_becomes_data_unavailable(monkeypatch):
    def offline(**kwargs):
        raise Exception("URL fetch failure on https://example.invalid/mnist.npz: None -- "
                        "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(errors.DataUnavailable) as error:
        datasets.load_mnist()
    assert "could not download mnist.npz" in str(error.value)
    assert "URL fetch failure" in str(error.value)
    assert "--data-dir" in str(error.value)


def test_sample_data_has_keras_layout(sample_data_dir):
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(sample_data_dir)
    assert x_train.shape[1:] == (28, 28) and x_train.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10))
    (train, labels), _ = datasets.load_imdb(sample_data_dir, num_words=10000)
    assert all(seq[0] == 1 for seq in train)  # Keras's start marker
    assert set(np.unique(labels)) == {0, 1}
    (train, labels), (test, _) = datasets.load_reuters(sample_data_dir, num_words=10000)
    assert labels.max() < 46 and len(train) == 4 * len(test)
    (x_train, _), (x_test, _) = datasets.load_boston_housing(sample_data_dir)
    assert x_train.shape == (404, 13) and x_test.shape == (102, 13)


def test_sample_data_generator_writes_every_file(tmp_path):
    make_sample_data = importlib.import_module("make_sample_data")
    make_sample_data.main(tmp_path)
    names = {path.name for path in tmp_path.iterdir()}
    assert names == {"mnist.npz", "imdb.npz", "imdb_word_index.json", "reuters.npz",
                     "reuters_word_index.json", "boston_housing.npz", "cats_and_dogs_small"}
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) == 6 + 128  # the datasets, and the sample pictures
    assert sum(path.stat().st_size for path in files) < 1_200_000
    # What is committed in data/sample/ is what the generator writes: the same arrays in
    # each .npz (its bytes differ with the Python and NumPy that wrote it: Python 3.10's
    # zipfile headers, NumPy 1's pickles of the word-id lists), the same bytes elsewhere.
    committed = REPO_ROOT / "data" / "sample"
    for path in files:
        twin = committed / path.relative_to(tmp_path)
        if path.suffix == ".npz":
            assert_same_arrays(path, twin)
        else:
            assert path.read_bytes() == twin.read_bytes(), path


def assert_same_arrays(path, other):
    with np.load(path, allow_pickle=True) as arrays, np.load(other, allow_pickle=True) as twins:
        assert sorted(arrays.files) == sorted(twins.files), path
        for name in arrays.files:
            array, twin = arrays[name], twins[name]
            assert (array.dtype, array.shape) == (twin.dtype, twin.shape), (path, name)
            if array.dtype == object:  # ragged word-id lists
                assert [list(item) for item in array] == [list(item) for item in twin]
            else:
                np.testing.assert_array_equal(array, twin)
