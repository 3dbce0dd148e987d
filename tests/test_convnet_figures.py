"""Tests for files/support/convnet_figures.py: the pictures made of arrays (in-process)."""

from support import book_curves, convnet_figures

import numpy as np
import pytest
from PIL import Image

from harness import assert_png


def test_overlay_stretches_the_heatmap_over_the_picture(tmp_path):
    heatmap = np.random.default_rng(0).uniform(0, 1, (30, 30))
    full_size = np.random.default_rng(1).uniform(0, 255, (60, 80, 3))
    path = convnet_figures.overlay_heatmap(full_size, heatmap, tmp_path / "overlay.png")
    with Image.open(path) as overlay:
        assert overlay.size == (80, 60)  # stretched over the picture


def test_grids_place_every_channel_and_pattern(tmp_path):
    activation = np.random.default_rng(0).normal(size=(5, 6, 20))
    grid = convnet_figures.channel_grid(activation, columns=16)
    assert grid.shape == (2 * 6, 16 * 7) and 0 <= grid.min() and grid.max() <= 255
    patterns = np.stack([convnet_figures.deprocess(np.random.default_rng(i).normal(
        size=(20, 20, 3))) for i in range(3)])
    assert patterns.dtype == np.uint8
    assert convnet_figures.pattern_grid(patterns).shape == (24, 3 * 24, 3)
    assert_png(convnet_figures.save_pattern_grid(patterns, tmp_path / "patterns.png"))


def test_validation_comparison_is_drawn_by_pictures_seen(tmp_path, figures):

    augment_book = book_curves.book_history("convnet", "augment")
    runs = [("scratch", {"history": {"val_accuracy": [0.6, 0.7]}, "pictures_per_epoch": None},
             0.7, None),
            ("augment", {"history": {"val_accuracy": [0.6, 0.8]}, "pictures_per_epoch": 3200},
             0.8, augment_book)]
    assert_png(convnet_figures.compare_validation_accuracy(runs, tmp_path / "compare.png"))
    (figure,) = figures
    curves = {label.split(":")[0]: x for (_, label), (x, _) in figure["curves"].items()}
    assert curves["scratch"] == [2.0, 4.0]  # thousands of pictures: 2,000 an epoch by default
    assert curves["augment"] == [3.2, 6.4]
    book_x = curves["augment (book, 1st ed.)"]
    assert len(book_x) == 100 and book_x[-1] == pytest.approx(320.0)  # the book's 3,200 a time
    assert augment_book["note"] in figure["caption"]
