"""The dogs-vs-cats pictures of Chapter 5: preparing, checking and reading them.

What `convnet.py` needs to get the book's 4,000 pictures into a model, kept out of the
chapter script because none of it is in the book's code:

- `split_pictures`: check a split's class folders before any training (a missing or empty
  class is an error, a picture that does not decode is skipped with a warning);
- `image_dataset` / `load_pictures`: the tf.data pipeline that replaces the book's
  `ImageDataGenerator.flow_from_directory`;
- `book_augmentation`: the book's `ImageDataGenerator` settings applied exactly as Keras
  2.0.8 applied them, inside that pipeline;
- `vgg16_preprocess`: VGG16's input preprocessing in TensorFlow ops, for the pipeline.

Getting the pictures and copying the book's subset of them is getting_pictures.py's part.

The pipeline is TensorFlow (tf.data) whatever Keras backend trains the model: Keras feeds
tf.data datasets to JAX and PyTorch too.
"""

import math
import sys
import warnings
from collections import namedtuple
from pathlib import Path

from support import console, errors
from support.paths import REPO_ROOT

import numpy as np
import tensorflow as tf
from PIL import Image

# The book's split of the 25,000 pictures: the file numbers of each class in each split.
SPLITS = {"train": range(0, 1000), "validation": range(1000, 1500), "test": range(1500, 2000)}
CLASS_NAMES = ("cat", "dog")  # folder order, so label 0 is "cats" and 1 is "dogs"
DEFAULT_DATA_DIR = REPO_ROOT / "data"
DECODE_CHECK_SIZE = 150  # pictures are checked by decoding them at about this size


# --------------------------------------------------------------------------------------
# Reading: checked picture folders + tf.data
# --------------------------------------------------------------------------------------


def image_problem(path, formats=("JPEG",)):
    """Why the picture at `path` (or in a binary file object) is unusable (a short text), or
    None when it decodes."""
    try:
        with Image.open(path) as image:
            if image.format not in formats:
                return f"not {' or '.join(formats)} but {image.format}"
            # Decoding at a reduced scale is fast and still reads the whole file, so a
            # truncated picture fails here.
            image.draft("RGB", (DECODE_CHECK_SIZE, DECODE_CHECK_SIZE))
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return f"cannot decode ({error})"
    return None


def find_split(data_dir):
    """The `cats_and_dogs_small` folder: in `data_dir`, `data_dir` itself, or data/."""
    base = Path(data_dir or DEFAULT_DATA_DIR)
    for folder in (base / "cats_and_dogs_small", base):
        if all((folder / split).is_dir() for split in SPLITS):
            return folder
    raise errors.DataUnavailable(
        f"no cats_and_dogs_small/ (with train/, validation/ and test/) in {base}. "
        f"Pass --data-dir FOLDER, or build it: `python files/convnet.py prepare` downloads the "
        f"pictures (Kaggle's or Microsoft's copy), `prepare --source PATH` copies them from a "
        f"download already here (`prepare --help` says more).")


def has_split(data_dir):
    """Whether `data_dir` holds a cats_and_dogs_small split (or is one)."""
    return bool(data_dir) and any(
        (Path(data_dir) / sub / "train").is_dir() for sub in ("cats_and_dogs_small", ""))


# What the training stages read: the formats TensorFlow's decode_image understands.
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
PICTURE_FORMATS = ("JPEG", "PNG", "GIF", "BMP")


def split_pictures(folder):
    """The usable pictures of one split (`folder/cats/`, `folder/dogs/`): paths, labels (0
    cat, 1 dog) and the paths skipped because they do not decode.

    Checked before any training: a missing or empty class folder is an error (training on
    one class would report 50% as if nothing were wrong); a picture that does not decode
    is skipped with a warning naming it.
    """
    paths, labels, skipped = [], [], []
    for label, name in enumerate(CLASS_NAMES):
        class_folder = Path(folder) / f"{name}s"
        if not class_folder.is_dir():
            raise errors.InputError(
                f"{class_folder} is missing: each split of cats_and_dogs_small needs a cats/ "
                f"and a dogs/ folder (`python files/convnet.py prepare` builds them).")
        candidates = sorted(path for path in class_folder.iterdir()
                            if path.suffix.lower() in PICTURE_SUFFIXES)
        usable = []
        for path in candidates:
            problem = image_problem(path, PICTURE_FORMATS)
            if problem:
                console.say(f"warning: skipped {path}: {problem}", file=sys.stderr)
                skipped.append(path)
            else:
                usable.append(path)
        if not usable:
            found = (f"none of its {len(candidates)} pictures decode" if candidates else
                     f"no {', '.join(PICTURE_SUFFIXES)} files in it")
            raise errors.InputError(
                f"{class_folder} holds no usable pictures ({found}); copy the pictures "
                f"again, e.g. with `python files/convnet.py prepare`.")
        paths += [str(path) for path in usable]
        labels += [float(label)] * len(usable)
    return paths, labels, skipped


def image_dataset(paths, labels, image_size, batch_size, training=False, augmentation=None,
                  seed=None, preprocess=None):
    """Batches of (images, labels) from picture files, as image_dataset_from_directory
    reads them (decode, 3 channels, resize), labels 0.0 cat, 1.0 dog.

    Every picture is decoded and resized once, in the first epoch; the pixels are then kept
    in memory (as uint8, 4x smaller than float32) and only shuffled and batched each epoch.
    Resizing is nearest-neighbour, as the book's flow_from_directory did (Keras 2.0.8 called
    PIL's resize, whose default was NEAREST then). A `training` dataset is shuffled and
    repeats forever, like the book's generators: fit's `steps_per_epoch` says how many
    batches make an epoch. `augmentation`, the book's ImageDataGenerator settings, transforms
    every training batch afresh (see book_augmentation). `preprocess`, when given, maps the
    float pixels (0-255) into what a model expects.
    """

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image = tf.image.resize(image, (image_size, image_size), method="nearest")
        return tf.cast(image, tf.uint8), label[None]

    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size)
    if augmentation:
        # enumerate numbers the batches, so each gets its own seed: random but repeatable,
        # and safe to run in parallel.
        dataset = dataset.enumerate().map(
            lambda step, batch: (book_augmentation(
                batch[0], tf.stack([tf.constant(seed, tf.int64), step]), **augmentation),
                batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE)

    def to_float(images, labels):
        images = tf.cast(images, tf.float32)
        return (preprocess(images) if preprocess else images), labels

    # prefetch lets the next batch be prepared while the model trains on this one.
    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


Pictures = namedtuple("Pictures", "train validation test train_steps skipped")
Pictures.__doc__ = """The three datasets of cats_and_dogs_small, the number of training
batches that make one epoch, and how many pictures were skipped as undecodable."""


def load_pictures(data_dir, image_size, batch_size, seed, steps_per_epoch=None,
                  augmentation=None, preprocess=None, for_training=True):
    """The train, validation and test datasets of cats_and_dogs_small (a Pictures tuple).

    An epoch is `steps_per_epoch` training batches, or one pass over the pictures. With
    `for_training` False, the training pictures come once, in order, unshuffled.
    """
    # fit's shuffle=True (its default) does nothing for a tf.data dataset, and recent Keras
    # versions warn about it on every fit: these datasets shuffle their training pictures
    # themselves (image_dataset), so it warns of a problem the scripts do not have.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed, but will be ignored",
                            category=UserWarning)
    split = find_split(data_dir)
    print(f"reading {split}")
    pictures = {name: split_pictures(split / name) for name in SPLITS}
    for name, (paths, labels, skipped) in pictures.items():
        dogs = int(sum(labels))
        print(f"{name}: {len(paths) - dogs} cats, {dogs} dogs"
              + (f"; skipped {len(skipped)} pictures that do not decode" if skipped else ""))
    datasets = [
        image_dataset(paths, labels, image_size, batch_size,
                      training=for_training and name == "train",
                      augmentation=augmentation if name == "train" else None, seed=seed,
                      preprocess=preprocess)
        for name, (paths, labels, _) in pictures.items()]
    train_count = len(pictures["train"][0])
    train_steps = steps_per_epoch or math.ceil(train_count / batch_size)
    print(f"{train_count} training pictures; an epoch is {train_steps} batches of "
          f"{batch_size} ({train_steps * batch_size} pictures"
          f"{', each randomly transformed' if augmentation else ''})")
    skipped = sum(len(skipped) for _, _, skipped in pictures.values())
    return Pictures(*datasets, train_steps, skipped)


# --------------------------------------------------------------------------------------
# Data augmentation, as the book's ImageDataGenerator did it
# --------------------------------------------------------------------------------------


def book_augmentation(images, seed, rotation_range, width_shift_range, height_shift_range,
                      shear_range, zoom_range, horizontal_flip, fill_mode="nearest"):
    """Randomly transform a batch of pictures exactly as Keras 2.0.8's ImageDataGenerator did
    with these arguments (the book's, passed in by convnet.py).

    What the arguments meant then, and so here: `rotation_range` degrees either way; shifts
    of up to that fraction of the height and (separately) the width; `shear_range` in
    RADIANS (later Keras: degrees); `zoom_range` z zooms height and width INDEPENDENTLY in
    [1 - z, 1 + z] (Keras 3's RandomZoom: not). The generator built ONE affine transform per
    picture (rotation, shift, shear and zoom, all about the picture's centre), sampled it
    once with nearest-neighbour interpolation, filled the uncovered border with the nearest
    edge pixels, then flipped half the pictures left-right. Keras 3's augmentation layers
    resample once per layer with bilinear interpolation (four blurs in a row), shear about
    the top-left corner and zoom both axes by the same factor, and they run slowly off the
    TensorFlow backend; so this function runs in the tf.data pipeline instead, on every
    backend. `seed` is a stateless seed pair.
    """
    if fill_mode != "nearest":
        raise ValueError(f"only fill_mode='nearest' (the book's) is implemented, not {fill_mode}")
    shape = tf.shape(images)
    batch = shape[0]
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    draws = tf.random.stateless_uniform([batch, 7], seed=seed)  # one row per picture

    def spread(column, low, high):
        return low + draws[:, column] * (high - low)

    theta = spread(0, -rotation_range, rotation_range) * np.pi / 180
    shift_rows = spread(1, -height_shift_range, height_shift_range) * height
    shift_cols = spread(2, -width_shift_range, width_shift_range) * width
    shear = spread(3, -shear_range, shear_range)
    zoom_rows = spread(4, 1 - zoom_range, 1 + zoom_range)
    zoom_cols = spread(5, 1 - zoom_range, 1 + zoom_range)
    flip = draws[:, 6] < (0.5 if horizontal_flip else 0.0)

    zeros, ones = tf.zeros_like(theta), tf.ones_like(theta)

    def matrices(*rows):  # 3x3 matrices, one per picture, from nine per-picture values
        return tf.reshape(tf.stack(rows, axis=-1), [-1, 3, 3])

    # In (row, column) coordinates; each maps an OUTPUT pixel to the INPUT pixel it shows,
    # which is how Keras 2.0.8 (and scipy.ndimage.affine_transform) wrote them.
    rotation = matrices(tf.cos(theta), -tf.sin(theta), zeros,
                        tf.sin(theta), tf.cos(theta), zeros, zeros, zeros, ones)
    shift = matrices(ones, zeros, shift_rows, zeros, ones, shift_cols, zeros, zeros, ones)
    shearing = matrices(ones, -tf.sin(shear), zeros,
                        zeros, tf.cos(shear), zeros, zeros, zeros, ones)
    zoom = matrices(zoom_rows, zeros, zeros, zeros, zoom_cols, zeros, zeros, zeros, ones)
    # About the centre: move the centre to the origin, transform, move it back (Keras
    # 2.0.8 put the centre at size / 2 + 0.5).
    centre_row, centre_col = height / 2 + 0.5, width / 2 + 0.5
    to_centre = matrices(ones, zeros, -centre_row + zeros, zeros, ones, -centre_col + zeros,
                         zeros, zeros, ones)
    from_centre = matrices(ones, zeros, centre_row + zeros, zeros, ones, centre_col + zeros,
                           zeros, zeros, ones)
    # The left-right flip came after the transform: output column c shows column w-1-c.
    mirror = tf.where(flip, -ones, ones)
    flipping = matrices(ones, zeros, zeros, zeros, mirror, tf.where(flip, width - 1, zeros),
                        zeros, zeros, ones)
    m = from_centre @ rotation @ shift @ shearing @ zoom @ to_centre @ flipping

    # TensorFlow's transform takes the same map in (x=column, y=row) order, 8 numbers each.
    transforms = tf.stack([m[:, 1, 1], m[:, 1, 0], m[:, 1, 2],
                           m[:, 0, 1], m[:, 0, 0], m[:, 0, 2], zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=shape[1:3], fill_value=0.0,
        interpolation="NEAREST", fill_mode="NEAREST")


# --------------------------------------------------------------------------------------
# VGG16's preprocessing, inside the pipeline
# --------------------------------------------------------------------------------------

IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)  # the mean pixel VGG16 was trained with


def vgg16_preprocess(images):
    """What keras.applications.vgg16.preprocess_input does to RGB pixels 0-255 (channels to
    BGR order, minus ImageNet's mean pixel), in TensorFlow ops: it runs inside the tf.data
    pipeline, which is TensorFlow whatever backend Keras uses."""
    return tf.reverse(images, axis=[-1]) - tf.constant(IMAGENET_MEAN_BGR)


def default_picture(data_dir):
    """visualize's picture: the book's cat.1700.jpg from the test split, or else the first
    test picture."""
    test = find_split(data_dir) / "test"
    book_cat = test / "cats" / "cat.1700.jpg"
    return book_cat if book_cat.is_file() else sorted(test.glob("*/*.jpg"))[0]
