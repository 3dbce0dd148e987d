"""Unit tests of files/helpers.py: multi-hot vectors, decoding word ids, history plots (the
book's curves beside them: test_book_curves.py). (That it imports no module of the project:
test_support_imports.py.)"""

from support import datasets, outputs

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

import helpers
from harness import assert_png

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
    (train, _), _ = datasets.load_imdb(sample_data_dir, num_words=10000)
    text = helpers.decode_words(train[0], datasets.load_word_index("imdb", sample_data_dir))
    assert text.startswith("? ") and len(text.split()) == len(train[0])


# ---- History plots ---------------------------------------------------------------------------


def test_plot_history_draws_from_keras3_keys_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    history = {"loss": [0.9, 0.5, 0.3], "val_loss": [1.0, 0.7, 0.8],
               "accuracy": [0.6, 0.8, 0.9], "val_accuracy": [0.5, 0.7, 0.7]}
    figure = helpers.plot_history(history, ["loss", "accuracy"])
    assert [axes.get_title() for axes in figure.axes] == [
        "Training and validation loss", "Training and validation accuracy"]
    assert list(tmp_path.iterdir()) == []  # drawing only: the script saves it
    # outputs.save_figure writes it (at 100 dpi: 5.5 x 4.4 inches a panel) and closes it.
    path = outputs.save_figure(figure, tmp_path / "curves.png")
    assert_png(path)
    with Image.open(path) as image:
        assert image.size == (1100, 440)
    assert not plt.fignum_exists(figure.number)
    assert sorted(item.name for item in tmp_path.iterdir()) == ["curves.png"]


@pytest.mark.training
def test_plot_history_accepts_a_keras_history(tmp_path):
    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    history = model.fit(np.ones((8, 2)), np.ones(8), epochs=2, verbose=0)
    figure = helpers.plot_history(history, ["loss", "mae"])
    assert_png(outputs.save_figure(figure, tmp_path / "mae.png"))

