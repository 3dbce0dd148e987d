"""Tests for files/support/picture_pipeline.py: the committed sample pictures, the tf.data pipeline,
the book's Keras 2.0.8 augmentation and VGG16's preprocessing (in-process). Preparing the
pictures: test_getting_pictures.py."""

from support import picture_pipeline

import numpy as np

import make_images
from convnet import BOOK_AUGMENTATION
from harness import REPO_ROOT

SAMPLE_SPLIT = REPO_ROOT / "data" / "sample" / "cats_and_dogs_small"


def augment(pictures, seed):
    """book_augmentation with the book's settings, as convnet.py passes them."""
    return picture_pipeline.book_augmentation(pictures, seed, **BOOK_AUGMENTATION)


def test_the_committed_sample_pictures_are_what_make_images_draws(tmp_path):
    made = make_images.make_split_folders(tmp_path)
    committed = sorted(path.relative_to(SAMPLE_SPLIT) for path in SAMPLE_SPLIT.rglob("*.jpg"))
    assert committed == sorted(path.relative_to(made) for path in made.rglob("*.jpg"))
    assert len(committed) == 128  # 40 + 12 + 12 pictures of each class
    for path in committed:
        assert (SAMPLE_SPLIT / path).read_bytes() == (made / path).read_bytes(), path
    assert sum((SAMPLE_SPLIT / path).stat().st_size for path in committed) < 400_000


def test_find_split_names_the_folder_and_how_to_get_the_pictures(tmp_path):
    from support import errors

    import pytest

    assert picture_pipeline.find_split(SAMPLE_SPLIT.parent) == SAMPLE_SPLIT
    assert picture_pipeline.find_split(SAMPLE_SPLIT) == SAMPLE_SPLIT
    assert picture_pipeline.has_split(SAMPLE_SPLIT.parent)
    assert not picture_pipeline.has_split(tmp_path)
    with pytest.raises(errors.DataUnavailable, match="prepare --source"):
        picture_pipeline.find_split(tmp_path)


def test_augmentation_needs_the_book_s_fill_mode():
    import pytest
    import tensorflow as tf

    pictures = tf.zeros((1, 8, 8, 3), tf.uint8)
    with pytest.raises(ValueError, match="nearest"):
        picture_pipeline.book_augmentation(pictures, tf.constant([0, 0], tf.int64),
                                       **{**BOOK_AUGMENTATION, "fill_mode": "constant"})


def test_without_horizontal_flip_no_picture_is_mirrored(monkeypatch):
    import tensorflow as tf

    picture = np.arange(9 * 9 * 3, dtype=np.uint8).reshape(1, 9, 9, 3)
    draws = tf.constant([[0.5] * 6 + [0.25]], tf.float32)  # a flip draw below 0.5
    monkeypatch.setattr(tf.random, "stateless_uniform", lambda shape, seed: draws)
    result = picture_pipeline.book_augmentation(tf.constant(picture), tf.constant([0, 0], tf.int64),
                                            **{**BOOK_AUGMENTATION, "horizontal_flip": False})
    np.testing.assert_array_equal(result.numpy(), picture)


def test_training_pictures_repeat_and_evaluation_pictures_come_once():
    folder = SAMPLE_SPLIT / "train"
    count = len(list(folder.glob("*/*.jpg")))
    paths, labels, skipped = picture_pipeline.split_pictures(folder)
    assert len(paths) == count and not skipped
    once = picture_pipeline.image_dataset(paths, labels, 48, batch_size=16)
    for _ in range(2):  # the second pass comes from the cache
        batch_labels = np.concatenate([labels.numpy() for _, labels in once])
        assert batch_labels.shape == (count, 1)
        assert batch_labels.sum() == count / 2  # as many dogs (1) as cats (0)
    # Training data repeats, as the book's generators did: 3 passes' worth of batches.
    training = picture_pipeline.image_dataset(paths, labels, 48, batch_size=count // 2,
                                          training=True,
                                          augmentation=BOOK_AUGMENTATION, seed=1)
    batches = [(images_.numpy(), labels.numpy()) for images_, labels in training.take(6)]
    assert all(batch.shape == (count // 2, 48, 48, 3) for batch, _ in batches)
    assert sum(labels.sum() for _, labels in batches) == 3 * count / 2
    assert batches[0][0].dtype == np.float32 and 0 <= batches[0][0].min() <= 255


def reference_2_0_8_transform(image, draws):
    """Keras 2.0.8's ImageDataGenerator.random_transform for one picture, written out in
    NumPy from its source: R @ T @ S @ Z about the centre, nearest sampling and fill,
    then the flip. `draws` are the seven uniform [0, 1) numbers book_augmentation uses."""
    height, width = image.shape[:2]

    def spread(index, low, high):
        return low + draws[index] * (high - low)

    theta = np.deg2rad(spread(0, -40, 40))
    tx, ty = spread(1, -0.2, 0.2) * height, spread(2, -0.2, 0.2) * width
    shear = spread(3, -0.2, 0.2)  # radians
    zx, zy = spread(4, 0.8, 1.2), spread(5, 0.8, 1.2)
    rotation = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0],
                         [0, 0, 1]])
    shift = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    shearing = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    zoom = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    o_row, o_col = height / 2 + 0.5, width / 2 + 0.5
    offset = np.array([[1, 0, o_row], [0, 1, o_col], [0, 0, 1]])
    reset = np.array([[1, 0, -o_row], [0, 1, -o_col], [0, 0, 1]])
    matrix = offset @ rotation @ shift @ shearing @ zoom @ reset
    rows, cols = np.mgrid[0:height, 0:width]
    source = np.einsum("ij,jhw->ihw", matrix, np.stack([rows, cols, np.ones_like(rows)]))
    source_rows = np.clip(np.round(source[0]), 0, height - 1).astype(int)  # fill "nearest"
    source_cols = np.clip(np.round(source[1]), 0, width - 1).astype(int)
    out = image[source_rows, source_cols]
    return out[:, ::-1] if draws[6] < 0.5 else out


def test_augmentation_is_keras_2_0_8_image_data_generator():
    import tensorflow as tf

    pictures = np.random.default_rng(0).integers(0, 256, (6, 30, 40, 3), dtype=np.uint8)
    seed = tf.constant([7, 3], tf.int64)
    augmented = augment(tf.constant(pictures), seed).numpy()
    draws = tf.random.stateless_uniform([6, 7], seed=seed).numpy()
    assert augmented.shape == pictures.shape and augmented.dtype == np.uint8
    for picture, result, picture_draws in zip(pictures, augmented, draws, strict=True):
        expected = reference_2_0_8_transform(picture, picture_draws)
        # Only a coordinate that lands within float rounding of a pixel boundary may differ.
        assert (expected != result).any(axis=-1).mean() < 0.005
    assert not np.array_equal(augmented, pictures)
    # Same seed, same pictures: reproducible; another seed: other transforms.
    assert np.array_equal(augment(tf.constant(pictures), seed).numpy(), augmented)
    other = augment(tf.constant(pictures), tf.constant([8, 3], tf.int64))
    assert not np.array_equal(other.numpy(), augmented)


def test_augmentation_at_mid_range_is_identity_or_mirror(monkeypatch):
    import tensorflow as tf

    # Draws in the middle of every range mean no rotation, shift or shear and a zoom of 1:
    # the picture comes back unchanged, or exactly mirrored when the flip draw is < 0.5.
    picture = np.arange(9 * 9 * 3, dtype=np.uint8).reshape(1, 9, 9, 3)
    for flip_draw, expected in ((0.25, picture[:, :, ::-1]), (0.75, picture)):
        draws = tf.constant([[0.5] * 6 + [flip_draw]], tf.float32)
        monkeypatch.setattr(tf.random, "stateless_uniform", lambda shape, seed, d=draws: d)
        result = augment(tf.constant(picture), tf.constant([0, 0], tf.int64))
        np.testing.assert_array_equal(result.numpy(), expected)


def test_pipeline_vgg16_preprocessing_is_keras_s():
    import keras
    import tensorflow as tf


    pixels = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(pixels.copy())
    np.testing.assert_allclose(picture_pipeline.vgg16_preprocess(tf.constant(pixels)).numpy(),
                               expected, atol=1e-4)
