"""Tests for files/convnet_figures.py: the pictures made of arrays (in-process)."""

import numpy as np
from PIL import Image

import convnet_figures
from conftest import assert_png


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


def test_validation_comparison_is_drawn_by_pictures_seen(tmp_path):
    runs = [("scratch", {"history": {"val_accuracy": [0.6, 0.7]}, "pictures_per_epoch": None},
             0.7),
            ("augment", {"history": {"val_accuracy": [0.6, 0.8]}, "pictures_per_epoch": 3200},
             0.8)]
    assert_png(convnet_figures.compare_validation_accuracy(runs, tmp_path / "compare.png"))
