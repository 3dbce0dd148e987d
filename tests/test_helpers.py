"""Unit tests of files/helpers.py: loaders against Keras's own, text tools, plots, results."""

import importlib
import json
import re

import helpers

import keras
import numpy as np
import pytest

from conftest import REPO_ROOT, assert_png

# ---- The offline loaders return exactly what keras.datasets returns for the same file ------


def ragged(rng, count, vocabulary):
    sequences = np.empty(count, dtype="object")
    sequences[:] = [list(map(int, rng.integers(1, vocabulary, rng.integers(1, 30))))
                    for _ in range(count)]
    return sequences


@pytest.fixture
def keras_files(tmp_path):
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


def test_mnist_matches_keras(keras_files, monkeypatch):
    load = keras_loader(monkeypatch, "mnist", keras_files / "mnist.npz")
    assert_same_splits(helpers.load_mnist(keras_files), load())


@pytest.mark.parametrize("num_words", [None, 10, 40])
@pytest.mark.parametrize("name", ["imdb", "reuters"])
def test_word_datasets_match_keras(name, num_words, keras_files, monkeypatch):
    load = keras_loader(monkeypatch, name, keras_files / f"{name}.npz")
    ours = getattr(helpers, f"load_{name}")(keras_files, num_words=num_words)
    assert_same_splits(ours, load(num_words=num_words))


def test_imdb_other_seed_matches_keras(keras_files, monkeypatch):
    load = keras_loader(monkeypatch, "imdb", keras_files / "imdb.npz")
    assert_same_splits(helpers.load_imdb(keras_files, num_words=25, seed=5),
                       load(num_words=25, seed=5))


def test_boston_housing_matches_keras(keras_files, monkeypatch):
    load = keras_loader(monkeypatch, "boston_housing", keras_files / "boston_housing.npz")
    assert_same_splits(helpers.load_boston_housing(keras_files), load())
    assert len(helpers.load_boston_housing(keras_files)[0][0]) == int(47 * 0.8)


def test_word_index_reads_json(tmp_path):
    (tmp_path / "reuters_word_index.json").write_text(json.dumps({"the": 1, "of": 2}))
    assert helpers.load_word_index("reuters", tmp_path) == {"the": 1, "of": 2}


# ---- When data cannot be had ---------------------------------------------------------------


def test_missing_file_names_file_origin_and_flag(tmp_path):
    with pytest.raises(helpers.DataUnavailable) as error:
        helpers.load_reuters(tmp_path)
    message = str(error.value)
    assert str(tmp_path / "reuters.npz") in message
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters.npz" in message
    assert "--data-dir" in message


def test_wrong_keys_are_reported(tmp_path):
    np.savez(tmp_path / "boston_housing.npz", features=np.zeros((3, 13)))
    with pytest.raises(helpers.DataUnavailable, match="lacks the arrays x, y"):
        helpers.load_boston_housing(tmp_path)


def test_corrupt_file_is_reported(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(helpers.DataUnavailable, match="could not be read"):
        helpers.load_mnist(tmp_path)


def test_failed_download_becomes_data_unavailable(monkeypatch):
    def offline(**kwargs):
        raise Exception("URL fetch failure on https://example.invalid/mnist.npz: None -- "
                        "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(helpers.DataUnavailable) as error:
        helpers.load_mnist()
    assert "could not download mnist.npz" in str(error.value)
    assert "URL fetch failure" in str(error.value)
    assert "--data-dir" in str(error.value)


def test_run_turns_data_unavailable_into_exit_2(capsys):
    def main():
        raise helpers.DataUnavailable("mnist.npz not found")

    with pytest.raises(SystemExit) as exit_info:
        helpers.run(main)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: mnist.npz not found\n"


def test_sample_data_has_keras_layout(sample_data_dir):
    (x_train, y_train), (x_test, y_test) = helpers.load_mnist(sample_data_dir)
    assert x_train.shape[1:] == (28, 28) and x_train.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10))
    (train, labels), _ = helpers.load_imdb(sample_data_dir, num_words=10000)
    assert all(seq[0] == 1 for seq in train)  # Keras's start marker
    assert set(np.unique(labels)) == {0, 1}
    (train, labels), (test, _) = helpers.load_reuters(sample_data_dir, num_words=10000)
    assert labels.max() < 46 and len(train) == 4 * len(test)
    (x_train, _), (x_test, _) = helpers.load_boston_housing(sample_data_dir)
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


# ---- Multi-hot vectors and decoding -----------------------------------------------------------


def test_vectorize_sequences_small_example():
    vectors = helpers.vectorize_sequences([[1, 3, 3], [], [0, 4]], dimension=5)
    np.testing.assert_array_equal(vectors, [[0, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 1]])
    assert vectors.dtype == np.float32


def test_vectorize_sequences_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    sequences = [list(rng.integers(0, 100, rng.integers(0, 40))) for _ in range(50)]
    expected = np.zeros((50, 100), dtype=np.float32)
    for row, sequence in enumerate(sequences):
        for word in sequence:
            expected[row, word] = 1.0
    np.testing.assert_array_equal(helpers.vectorize_sequences(sequences, 100), expected)


def test_vectorize_sequences_takes_keras_object_arrays():
    sequences = np.empty(2, dtype="object")
    sequences[:] = [[1, 2], [3]]
    assert helpers.vectorize_sequences(sequences, 4).sum() == 3
    assert helpers.vectorize_sequences([], 4).shape == (0, 4)
    assert helpers.vectorize_sequences([[], []], 4).sum() == 0


def test_vectorize_sequences_rejects_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match="num_words=10"):
        helpers.vectorize_sequences([[1, 10]], dimension=10)


def test_decode_words_undoes_the_index_offset():
    word_index = {"the": 1, "movie": 2, "great": 3}
    # Keras data: 1 = start marker, 2 = unknown word, word ranks shifted by 3.
    assert helpers.decode_words([1, 4, 5, 2, 6], word_index) == "? the movie ? great"


def test_decode_words_on_sample_data(sample_data_dir):
    (train, _), _ = helpers.load_imdb(sample_data_dir, num_words=10000)
    text = helpers.decode_words(train[0], helpers.load_word_index("imdb", sample_data_dir))
    assert text.startswith("? ") and len(text.split()) == len(train[0])


# ---- Command line, plots, results --------------------------------------------------------------


def test_parser_defaults_and_smoke(tmp_path):
    parser = helpers.make_parser("demo", "Demo.", epochs=20, batch_size=512)
    args = helpers.parse_args(parser, [])
    assert (args.epochs, args.batch_size, args.seed, args.smoke) == (20, 512, 42, False)
    assert args.output_dir == helpers.REPO_ROOT / "runs" / "demo"
    args = helpers.parse_args(parser, ["--smoke", "--output-dir", str(tmp_path)], smoke_epochs=3)
    assert args.epochs == 3 and args.data_dir == helpers.SAMPLE_DATA_DIR
    assert args.output_dir == tmp_path


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "x"])
def test_positive_int_rejects(value):
    parser = helpers.make_parser("demo", "Demo.", epochs=20, batch_size=512)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--batch-size", value])
    assert exit_info.value.code == 2


def test_plot_history_writes_png_from_keras3_keys(tmp_path):
    history = {"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.7, 0.8],
               "accuracy": [0.6, 0.8, 0.9], "val_accuracy": [0.5, 0.7, 0.7]}
    path = helpers.plot_history(history, ["loss", "accuracy"], tmp_path / "sub" / "curves.png")
    assert_png(path)


def test_plot_history_accepts_a_keras_history(tmp_path):
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = model.fit(np.ones((8, 2)), np.ones(8), epochs=2, verbose=0)
    assert_png(helpers.plot_history(history, ["loss", "mae"], tmp_path / "mae.png"))


def test_write_results_json_and_result_line(tmp_path, capsys):
    parser = helpers.make_parser("demo", "Demo.", epochs=5, batch_size=128)
    args = helpers.parse_args(parser, ["--output-dir", str(tmp_path)])
    helpers.write_results(args, "demo",
                          {"test_accuracy": np.float32(0.98123), "seconds": 11.234, "count": 3},
                          extra={"history": {"loss": [np.float64(0.5), 0.25]}})
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == ("RESULT script=demo test_accuracy=0.9812 seconds=11.2 count=3 "
                    "backend=tensorflow")
    assert re.fullmatch(r"RESULT script=\w+( [a-z_]+=\S+)+", line)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["test_accuracy"] == pytest.approx(0.98123, abs=1e-6)
    assert record["history"]["loss"] == [0.5, 0.25]
    assert record["settings"]["epochs"] == 5
    assert record["backend"] == "tensorflow"
