"""Chapter 5 - Deep learning for computer vision: convnets, from MNIST to dogs vs cats.

One stage per section of the book, each a subcommand:

  mnist             5.1  a small convnet on MNIST (Conv2D 32/64/64, max pooling, Dense 64/10)
  prepare           5.2  copy the book's 4,000-image "cats_and_dogs_small" subset out of
                         Kaggle's dogs-vs-cats train/ folder
  scratch           5.2  a convnet trained from scratch on 2,000 pictures
  augment           5.2  the same convnet with data augmentation and dropout
  features          5.3  VGG16 (ImageNet) features, extracted once, fed to a Dense classifier
  features-augment  5.3  the frozen VGG16 base inside the model, trained with augmentation
  finetune          5.3  the features-augment model with VGG16's block5 unfrozen
  visualize         5.4  intermediate activations, VGG16 filter patterns, Grad-CAM heatmap

Book results (1st edition): mnist 99.1% test accuracy; scratch ~72% validation accuracy;
augment ~82-84%; features ~90%; features-augment ~96%; finetune 97% (96.8% test).

What changed since the book, and why: pictures come through a tf.data pipeline (each
folder checked first, every picture decoded and resized once, then cached) instead of
ImageDataGenerator, and `fit` replaces `fit_generator`. The book's effective recipe is
kept: nearest-neighbour resizing, and its augmentation as Keras 2.0.8 computed it (one
affine transform per picture, shear in radians, independent height and width zoom; see
book_augmentation), run in the tf.data pipeline rather than as Keras's augmentation
layers, which blur and read the settings differently. An epoch of `augment` is the book's
steps_per_epoch=100 batches of 32 (3,200 pictures); the other stages' epochs are one pass
over the training pictures, as in the book (--steps-per-epoch changes it). Every training
stage keeps the checkpoint with the lowest validation loss and tests that one (it also
reports the last epoch's test accuracy). `learning_rate=` replaces `lr=`, and the 5.4
visualizations compute their gradients with tf.GradientTape instead of K.gradients /
K.function (with jax.grad or PyTorch's backward() when KERAS_BACKEND is jax or torch).
Training runs in mixed precision where that is faster at the same accuracy: float16 on
a CUDA GPU, bfloat16 on a CPU with bfloat16 units (--no-mixed-precision turns it off).
VGG16 inputs go through `vgg16.preprocess_input`, the preprocessing its ImageNet weights
were trained with (the book only rescaled them to [0, 1]).

Run it:
    python files/convnet.py mnist --data-dir ~/data      # reads ~/data/mnist.npz
    python files/convnet.py prepare --source ~/kaggle/dogs-vs-cats/train
    python files/convnet.py prepare                      # downloads it with kagglehub
    python files/convnet.py scratch                      # reads data/cats_and_dogs_small/
    python files/convnet.py augment                      # 100 epochs of 3,200 pictures
    python files/convnet.py features --weights none      # offline: an untrained VGG16 base
    python files/convnet.py finetune                     # after features-augment
    python files/convnet.py visualize --image my_cat.jpg # after scratch
    python files/convnet.py STAGE --smoke                # seconds, on synthetic images
    python files/convnet.py STAGE --help

Each stage writes its plots, model (.keras) and metrics.json to runs/convnet/STAGE/
(or OUTPUT_DIR/STAGE/ with --output-dir); finetune and visualize read the models that
features-augment and scratch left there.
"""

import argparse
import json
import math
import shutil
import sys
import time
import zipfile
from pathlib import Path

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from keras import layers, ops
from PIL import Image

import helpers

SCRIPT = "convnet"
IMAGE_SIZE = 150  # the book resizes every picture to 150x150
SMOKE_IMAGE_SIZE = 48  # about the smallest the from-scratch convnet takes (see below)
SMOKE_EPOCHS = 3
# The book's split of Kaggle's train/ folder: the file numbers of each class in each split.
SPLITS = {"train": range(0, 1000), "validation": range(1000, 1500), "test": range(1500, 2000)}
CLASS_NAMES = ("cat", "dog")  # folder order, so label 0 is "cats" and 1 is "dogs"
DEFAULT_DATA_DIR = helpers.REPO_ROOT / "data"

KAGGLE_HELP = (
    "Get Kaggle's dogs-vs-cats data (https://www.kaggle.com/c/dogs-vs-cats/data): either let "
    "`python files/convnet.py prepare` download it (pip install \".[kaggle]\" for kagglehub; "
    "Kaggle credentials in ~/.kaggle/kaggle.json or KAGGLE_USERNAME and KAGGLE_KEY; and accept "
    "the competition's rules on https://www.kaggle.com/c/dogs-vs-cats/rules first), or "
    "download it yourself, unzip train.zip and run "
    "`python files/convnet.py prepare --source PATH/TO/train`."
)
WEIGHTS_HELP = (
    "Keras downloads VGG16's ImageNet weights once from "
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/ into ~/.keras/models/. "
    "Offline, pass a local copy with --weights PATH "
    "(vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5; the Grad-CAM part of `visualize` "
    "needs the full vgg16_weights_tf_dim_ordering_tf_kernels.h5), "
    "or run with --weights none for an untrained (random) VGG16 base."
)


# --------------------------------------------------------------------------------------
# 5.1 A first convnet: MNIST
# --------------------------------------------------------------------------------------


def build_mnist_convnet():
    # Conv2D/MaxPooling2D stacks turn a 28x28 image into a 3x3x64 map of learned features;
    # Flatten + Dense then classify it, as the Dense network of chapter 2 did with pixels.
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax", dtype="float32"),
    ], name="mnist_convnet")
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def stage_mnist(args, started):
    (train_images, train_labels), (test_images, test_labels) = helpers.load_mnist(args.data_dir)
    # Convnets take images as (height, width, channels): add the single grey channel.
    train_images = train_images.reshape((-1, 28, 28, 1)).astype("float32") / 255
    test_images = test_images.reshape((-1, 28, 28, 1)).astype("float32") / 255

    model = build_mnist_convnet()
    model.summary()
    history = model.fit(train_images, train_labels, epochs=args.epochs,
                        batch_size=args.batch_size, verbose=args.verbose)
    helpers.plot_history(history, ["loss", "accuracy"], args.output_dir / "training.png",
                         title="MNIST convnet")
    helpers.save_atomically(args.output_dir / "model.keras", model.save)

    test_loss, test_accuracy = model.evaluate(test_images, test_labels, verbose=0)
    print(f"test accuracy {test_accuracy:.4f} (book: 0.991), test loss {test_loss:.4f}")
    helpers.write_results(
        args, SCRIPT,
        {"stage": args.stage, "test_accuracy": test_accuracy, "test_loss": test_loss,
         "seconds": time.perf_counter() - started},
        extra={"history": history.history},
    )


# --------------------------------------------------------------------------------------
# 5.2 Dogs vs cats: preparing the small dataset
# --------------------------------------------------------------------------------------


def image_problem(path, formats=("JPEG",)):
    """Why the picture at `path` is unusable (a short text), or None when it decodes."""
    try:
        with Image.open(path) as image:
            if image.format not in formats:
                return f"not {' or '.join(formats)} but {image.format}"
            # Decoding at a reduced scale is fast and still reads the whole file, so a
            # truncated picture fails here.
            image.draft("RGB", (IMAGE_SIZE, IMAGE_SIZE))
            image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return f"cannot decode ({error})"
    return None


def prepare_dataset(source, destination):
    """Copy the book's subset of Kaggle's train/ folder into `destination`.

    Copies only (the source is never changed), skips files that are already there, and
    skips (and reports) pictures that do not decode. Returns a dict of counts.
    """
    source = Path(source)
    if not source.is_dir():
        raise helpers.DataUnavailable(f"source folder {source} not found. {KAGGLE_HELP}")
    if not any(source.glob("cat.*.jpg")) or not any(source.glob("dog.*.jpg")):
        raise helpers.DataUnavailable(
            f"{source} holds no cat.N.jpg / dog.N.jpg pictures; is it Kaggle's dogs-vs-cats "
            f"train/ folder (test1/ has no labels)? {KAGGLE_HELP}")
    copied, already_there, missing, bad = 0, 0, [], []
    for split, numbers in SPLITS.items():
        for name in CLASS_NAMES:
            folder = Path(destination) / split / f"{name}s"
            folder.mkdir(parents=True, exist_ok=True)
            for number in numbers:
                filename = f"{name}.{number}.jpg"
                target = folder / filename
                if target.exists():
                    already_there += 1
                    continue
                if not (source / filename).is_file():
                    missing.append(filename)
                    continue
                problem = image_problem(source / filename)
                if problem:
                    bad.append(filename)
                    print(f"warning: skipped {source / filename}: {problem}", file=sys.stderr)
                    continue
                # Copy under a temporary name first, so an interrupted run never leaves
                # half a picture that the next run would take as done.
                partial = target.with_name(filename + ".partial")
                shutil.copyfile(source / filename, partial)
                partial.replace(target)
                copied += 1
    if missing:
        print(f"warning: {len(missing)} pictures not in {source} (first: {missing[0]})",
              file=sys.stderr)
    return {"copied": copied, "already_there": already_there, "missing": missing, "bad": bad}


def download_kaggle_train(folder):
    """Kaggle's dogs-vs-cats train/ folder, downloaded with kagglehub (needs credentials and
    the competition's rules accepted); train.zip is unpacked into `folder`."""
    try:
        import kagglehub
    except ImportError:
        raise helpers.DataUnavailable(
            f"prepare needs --source, or the kagglehub package to download the pictures. "
            f"{KAGGLE_HELP}") from None
    print("downloading Kaggle's dogs-vs-cats competition data with kagglehub ...")
    try:
        download = Path(kagglehub.competition_download("dogs-vs-cats"))
    except Exception as error:  # kagglehub raises many kinds: credentials, rules, network
        reason = helpers.error_reason(error)
        raise helpers.DataUnavailable(
            f"could not download dogs-vs-cats with kagglehub ({reason}). {KAGGLE_HELP}") from None
    for candidate in (download / "train", download):
        if any(candidate.glob("cat.*.jpg")):
            return candidate
    archive = download / "train.zip"
    if not archive.is_file():
        raise helpers.DataUnavailable(
            f"kagglehub's download in {download} holds neither train/ nor train.zip. "
            f"{KAGGLE_HELP}")
    unpacked = Path(folder) / "dogs-vs-cats"
    if not (unpacked / "train").is_dir():
        print(f"unpacking {archive} into {unpacked}")
        # Unpacked under a temporary name, so an interrupted run is never taken as done.
        partial = unpacked.with_name(unpacked.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(partial)
        partial.replace(unpacked)
    return unpacked / "train"


def stage_prepare(args, started):
    destination = Path(args.data_dir or DEFAULT_DATA_DIR) / "cats_and_dogs_small"
    source = args.source
    if args.smoke:
        if args.data_dir is None:
            destination = args.output_dir / "cats_and_dogs_small"
        if source is None:
            source = synthetic_images().make_kaggle_train(
                args.output_dir / "kaggle_train", range(2000), size=16)
    if source is None:
        source = download_kaggle_train(destination.parent)

    counts = prepare_dataset(source, destination)
    for split in SPLITS:
        sizes = [len(list((destination / split / f"{name}s").glob("*.jpg")))
                 for name in CLASS_NAMES]
        print(f"{destination / split}: {sizes[0]} cats, {sizes[1]} dogs")
    print(f"copied {counts['copied']}, already there {counts['already_there']}, "
          f"skipped {len(counts['bad'])} that do not decode, "
          f"{len(counts['missing'])} missing from the source")
    helpers.write_results(
        args, SCRIPT,
        {"stage": args.stage, "copied": counts["copied"],
         "already_there": counts["already_there"], "skipped": len(counts["bad"]),
         "missing": len(counts["missing"]), "seconds": time.perf_counter() - started},
        extra={"destination": str(destination), "skipped_files": counts["bad"]},
    )


# --------------------------------------------------------------------------------------
# 5.2 The input pipeline: checked picture folders + tf.data
# --------------------------------------------------------------------------------------


def find_split(args):
    """The `cats_and_dogs_small` folder: in --data-dir, --data-dir itself, or data/."""
    base = Path(args.data_dir or DEFAULT_DATA_DIR)
    for folder in (base / "cats_and_dogs_small", base):
        if all((folder / split).is_dir() for split in SPLITS):
            return folder
    raise helpers.DataUnavailable(
        f"no cats_and_dogs_small/ (with train/, validation/ and test/) in {base}. "
        f"Pass --data-dir FOLDER, or build it: {KAGGLE_HELP}")


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
            raise helpers.InputError(
                f"{class_folder} is missing: each split of cats_and_dogs_small needs a cats/ "
                f"and a dogs/ folder (`python files/convnet.py prepare` builds them).")
        candidates = sorted(path for path in class_folder.iterdir()
                            if path.suffix.lower() in PICTURE_SUFFIXES)
        usable = []
        for path in candidates:
            problem = image_problem(path, PICTURE_FORMATS)
            if problem:
                print(f"warning: skipped {path}: {problem}", file=sys.stderr)
                skipped.append(path)
            else:
                usable.append(path)
        if not usable:
            found = (f"none of its {len(candidates)} pictures decode" if candidates else
                     f"no {', '.join(PICTURE_SUFFIXES)} files in it")
            raise helpers.InputError(
                f"{class_folder} holds no usable pictures ({found}); copy the pictures "
                f"again, e.g. with `python files/convnet.py prepare`.")
        paths += [str(path) for path in usable]
        labels += [float(label)] * len(usable)
    return paths, labels, skipped


def image_dataset(paths, labels, image_size, batch_size, training=False, augment=False,
                  seed=None, preprocess=None):
    """Batches of (images, labels) from picture files, as image_dataset_from_directory
    reads them (decode, 3 channels, resize), labels 0.0 cat, 1.0 dog.

    Every picture is decoded and resized once, in the first epoch; the pixels are then kept
    in memory (as uint8, 4x smaller than float32) and only shuffled and batched each epoch.
    Resizing is nearest-neighbour, as the book's flow_from_directory did (Keras 2.0.8 called
    PIL's resize, whose default was NEAREST then). A `training` dataset is shuffled and
    repeats forever, like the book's generators: fit's `steps_per_epoch` says how many
    batches make an epoch. `augment` transforms every training batch afresh (see
    book_augmentation). `preprocess`, when given, maps the float pixels (0-255) into what a
    model expects.
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
    if augment:
        # enumerate numbers the batches, so each gets its own seed: random but repeatable,
        # and safe to run in parallel.
        dataset = dataset.enumerate().map(
            lambda step, batch: (book_augmentation(batch[0], tf.stack([tf.constant(seed, tf.int64),
                                                                      step])), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE)

    def to_float(images, labels):
        images = tf.cast(images, tf.float32)
        return (preprocess(images) if preprocess else images), labels

    # prefetch lets the next batch be prepared while the model trains on this one.
    dataset = dataset.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def cats_and_dogs(args, augment=False, preprocess=None, for_training=True):
    """The train, validation and test datasets of cats_and_dogs_small, and how many
    training batches make one epoch (--steps-per-epoch, or one pass over the pictures).
    With `for_training` False, the training pictures come once, in order, unshuffled."""
    split = find_split(args)
    print(f"reading {split}")
    pictures = {name: split_pictures(split / name) for name in SPLITS}
    for name, (paths, labels, skipped) in pictures.items():
        dogs = int(sum(labels))
        print(f"{name}: {len(paths) - dogs} cats, {dogs} dogs"
              + (f"; skipped {len(skipped)} pictures that do not decode" if skipped else ""))
    args.skipped_pictures = sum(len(skipped) for _, _, skipped in pictures.values())
    datasets = [
        image_dataset(paths, labels, args.image_size, args.batch_size,
                      training=for_training and name == "train",
                      augment=augment and name == "train", seed=args.seed,
                      preprocess=preprocess)
        for name, (paths, labels, _) in pictures.items()]
    train_count = len(pictures["train"][0])
    train_steps = (getattr(args, "steps_per_epoch", None)
                   or math.ceil(train_count / args.batch_size))
    print(f"{train_count} training pictures; an epoch is {train_steps} batches of "
          f"{args.batch_size} ({train_steps * args.batch_size} pictures"
          f"{', each randomly transformed' if augment else ''})")
    return (*datasets, train_steps)


# --------------------------------------------------------------------------------------
# 5.2 Data augmentation, as the book's ImageDataGenerator did it
# --------------------------------------------------------------------------------------

# The book's settings: ImageDataGenerator(rotation_range=40, width_shift_range=0.2,
# height_shift_range=0.2, shear_range=0.2, zoom_range=0.2, horizontal_flip=True,
# fill_mode="nearest"). What they meant in the book's Keras (2.0.8), and so here:
ROTATION_DEGREES = 40  # an angle drawn from [-40, 40] degrees
SHIFT_FRACTION = 0.2  # shifts of up to 20% of the height and (separately) the width
SHEAR_RADIANS = 0.2  # in RADIANS in Keras 2.0.x (about 11.5 degrees); later Keras: degrees
ZOOM_RANGE = (0.8, 1.2)  # height and width zoomed INDEPENDENTLY (Keras 3's RandomZoom: not)


def book_augmentation(images, seed):
    """Randomly transform a batch of pictures exactly as Keras 2.0.8's ImageDataGenerator did.

    That generator built ONE affine transform per picture (rotation, shift, shear and zoom,
    all about the picture's centre), sampled it once with nearest-neighbour interpolation,
    filled the uncovered border with the nearest edge pixels, then flipped half the pictures
    left-right. Keras 3's augmentation layers resample once per layer with bilinear
    interpolation (four blurs in a row), shear about the top-left corner and zoom both axes
    by the same factor, and they run slowly off the TensorFlow backend; so this function
    runs in the tf.data pipeline instead, on every backend. `seed` is a stateless seed pair.
    """
    shape = tf.shape(images)
    batch = shape[0]
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    draws = tf.random.stateless_uniform([batch, 7], seed=seed)  # one row per picture

    def spread(column, low, high):
        return low + draws[:, column] * (high - low)

    theta = spread(0, -ROTATION_DEGREES, ROTATION_DEGREES) * np.pi / 180
    shift_rows = spread(1, -SHIFT_FRACTION, SHIFT_FRACTION) * height
    shift_cols = spread(2, -SHIFT_FRACTION, SHIFT_FRACTION) * width
    shear = spread(3, -SHEAR_RADIANS, SHEAR_RADIANS)
    zoom_rows, zoom_cols = spread(4, *ZOOM_RANGE), spread(5, *ZOOM_RANGE)
    flip = draws[:, 6] < 0.5

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


# Where bfloat16 on a CPU measured faster than float32 for the scratch stage (same
# accuracy), so mixed precision is on by default there; see the README's backend table.
# On JAX bfloat16 measured 1.08x slower per epoch, on PyTorch 0.90x (one short run, within
# noise): both stay float32 unless --mixed-precision.
BFLOAT16_PAYS_ON_CPU = {"tensorflow": True, "jax": False, "torch": False}


def use_mixed_precision(choice):
    """Set Keras's dtype policy for --mixed-precision (True), --no-mixed-precision (False)
    or neither (None: on where it pays). Returns the policy name in use.

    Mixed precision computes in 16-bit floats and keeps the weights in float32: float16 on a
    CUDA GPU, bfloat16 on a CPU with bfloat16 units (AMX / AVX512-BF16). With TensorFlow on
    such a CPU the scratch stage ran about 2x faster per epoch and reached the same accuracy
    (72.1% vs 71.0% test), so it is on by default there; elsewhere the default is float32.
    """
    backend = keras.backend.backend()
    if choice is False:
        return "float32"
    if cuda_gpu_available():
        policy = "mixed_float16"  # tensor cores on CUDA GPUs
    elif cpu_has_bfloat16() and (choice or BFLOAT16_PAYS_ON_CPU[backend]):
        policy = "mixed_bfloat16"
    else:
        if choice:
            print("note: --mixed-precision ignored: no GPU and no bfloat16 support on this CPU")
        return "float32"
    keras.mixed_precision.set_global_policy(policy)
    print(f"mixed precision: {policy} on {backend} (--no-mixed-precision for float32)")
    return policy


def cuda_gpu_available():
    """Whether the backend Keras runs on sees a CUDA GPU (each backend has its own check)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return bool(tf.config.list_physical_devices("GPU"))


def cpu_has_bfloat16():
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: assume no
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# --------------------------------------------------------------------------------------
# 5.2 A convnet from scratch, then with augmentation and dropout
# --------------------------------------------------------------------------------------


def build_small_convnet(image_size, dropout=False, rescale=True):
    """The book's dogs-vs-cats convnet; with `dropout`, Dropout(0.5) before the classifier
    (the augment stage; its pictures are augmented in the input pipeline, not in the model)."""
    model = keras.Sequential(name="convnet_dropout" if dropout else "small_convnet")
    model.add(keras.Input(shape=(image_size, image_size, 3)))
    if rescale:
        model.add(layers.Rescaling(1 / 255))  # pixels 0-255 -> 0-1, as the book's rescale
    for filters in (32, 64, 128, 128):
        model.add(layers.Conv2D(filters, 3, activation="relu"))
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Flatten())
    if dropout:
        model.add(layers.Dropout(0.5))  # augmented pictures are still correlated: regularize
    model.add(layers.Dense(512, activation="relu"))
    # One sigmoid unit: the probability of "dog". float32 keeps it exact in mixed precision.
    model.add(layers.Dense(1, activation="sigmoid", dtype="float32"))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-4),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training and validation)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.epoch_started)


def train_and_test(args, started, model, train, validation, test, train_steps, title,
                   book, extra=None):
    """Fit, keep the best epoch's model and evaluate it on the test set.

    Returns the headline numbers and the details (histories, timings) for write_results.

    Validation accuracy swings by several points from one epoch to the next, so the number
    reported is not the last epoch's: ModelCheckpoint keeps the model of the epoch with the
    lowest validation loss (as the book's later editions do), and that model is tested
    (`test_accuracy`, `best_epoch`). The last epoch's model is tested too
    (`last_test_accuracy`), so both are in view.
    """
    model.summary()
    # Written under a temporary name: an interrupted run leaves no model.keras that looks done.
    in_progress = args.output_dir / "model.partial.keras"
    checkpoint = keras.callbacks.ModelCheckpoint(in_progress, monitor="val_loss",
                                                 save_best_only=True)
    timer = EpochTimer()
    history = model.fit(train, epochs=args.epochs, steps_per_epoch=train_steps,
                        validation_data=validation, callbacks=[checkpoint, timer],
                        verbose=args.verbose)
    helpers.plot_history(history, ["loss", "accuracy"], args.output_dir / "training.png",
                         title=title)
    last_loss, last_accuracy = model.evaluate(test, verbose=0)
    val_losses = history.history["val_loss"]
    if not in_progress.is_file():  # no finite validation loss at all: keep the last model
        model.save(in_progress)
        best_epoch = len(val_losses)
    else:
        best_epoch = int(np.nanargmin(val_losses)) + 1
        model = keras.models.load_model(in_progress)
    path = in_progress.replace(args.output_dir / "model.keras")
    test_loss, test_accuracy = model.evaluate(test, verbose=0)
    print(f"best epoch {best_epoch} of {len(val_losses)} (lowest validation loss): "
          f"test accuracy {test_accuracy:.4f} (book: {book}), test loss {test_loss:.4f}; "
          f"last epoch: test accuracy {last_accuracy:.4f}; model saved to {path}")
    results = {"stage": args.stage, "test_accuracy": test_accuracy, "test_loss": test_loss,
               "best_epoch": best_epoch,
               "val_accuracy": history.history["val_accuracy"][best_epoch - 1],
               "last_test_accuracy": last_accuracy, "last_test_loss": last_loss}
    if getattr(args, "skipped_pictures", 0):
        results["skipped_pictures"] = args.skipped_pictures
    results.update(extra or {})
    results["epoch_seconds"] = float(np.median(timer.seconds))
    results["seconds"] = time.perf_counter() - started
    details = {"history": history.history, "epoch_seconds_all": timer.seconds,
               "steps_per_epoch": train_steps,
               "pictures_per_epoch": train_steps and train_steps * args.batch_size,
               "trainable_weights": [weight.path for weight in model.trainable_weights]}
    return results, details


def stage_scratch(args, started):
    args.precision = use_mixed_precision(args.mixed_precision)
    train, validation, test, train_steps = cats_and_dogs(args)
    model = build_small_convnet(args.image_size)
    # With only 2,000 training pictures this overfits after ~5-10 epochs: watch the curves.
    results, details = train_and_test(
        args, started, model, train, validation, test, train_steps,
        "Dogs vs cats, convnet from scratch", book="~0.72 validation",
        extra={"precision": args.precision})
    helpers.write_results(args, SCRIPT, results, extra=details)


def stage_augment(args, started):
    args.precision = use_mixed_precision(args.mixed_precision)
    train, validation, test, train_steps = cats_and_dogs(args, augment=True)
    model = build_small_convnet(args.image_size, dropout=True)
    results, details = train_and_test(
        args, started, model, train, validation, test, train_steps,
        "Dogs vs cats, with augmentation and dropout", book="0.82-0.84 validation",
        extra={"precision": args.precision})
    compare_with_scratch(args, results, details)
    helpers.write_results(args, SCRIPT, results, extra=details)


def compare_with_scratch(args, results, details):
    """One figure with the validation accuracy of scratch and augment, when both ran in the
    same output folder: the lesson of 5.2 at a glance."""
    scratch_metrics = args.output_dir.parent / "scratch" / "metrics.json"
    if not scratch_metrics.is_file():
        print(f"(no {scratch_metrics}: run the scratch stage for a side-by-side figure)")
        return None
    scratch = json.loads(scratch_metrics.read_text())
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for label, run, accuracy in (("from scratch", scratch, scratch["test_accuracy"]),
                                 ("augmentation + dropout", details, results["test_accuracy"])):
        val_accuracy = run["history"]["val_accuracy"]
        # Epochs of the two stages differ in size (2,000 vs 3,200 pictures in the book):
        # compare them by how many training pictures the model had seen.
        per_epoch = run.get("pictures_per_epoch") or 2000
        seen = [(epoch + 1) * per_epoch / 1000 for epoch in range(len(val_accuracy))]
        axes.plot(seen, val_accuracy,
                  label=f"{label}: best-checkpoint test accuracy {accuracy:.1%}")
    axes.set_xlabel("training pictures seen (thousands)")
    axes.set_ylabel("validation accuracy")
    axes.set_title("Dogs vs cats: validation accuracy, scratch vs augmented")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path = args.output_dir / "compare_scratch.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"comparison: {path}")
    return path


# --------------------------------------------------------------------------------------
# 5.3 A pretrained convnet: VGG16
# --------------------------------------------------------------------------------------


def load_vgg16(weights, image_size, include_top=False):
    """VGG16 with `weights` "imagenet", "none" (random) or a local weights file.

    A local file is one of the two Keras downloads: the convolutional base only ("notop")
    or the full network with its ImageNet classifier. The full file also serves a base at
    any picture size (the convolution weights do not depend on it). A failed download or
    an unreadable or unsuitable file becomes DataUnavailable (exit code 2).
    """
    if weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise helpers.DataUnavailable(f"weights file {weights} not found. {WEIGHTS_HELP}")
    local_file_has_top = weights not in ("imagenet", "none") and weights_file_has_top(weights)
    if include_top and weights not in ("imagenet", "none") and not local_file_has_top:
        raise helpers.DataUnavailable(
            f"{weights} holds VGG16's convolutional base only; Grad-CAM needs the full "
            f"network with its classifier. {WEIGHTS_HELP}")
    # The ImageNet classifier on top (include_top) only takes 224x224 pictures.
    size = 224 if include_top and weights != "none" else image_size
    try:
        if local_file_has_top and not include_top:
            full = keras.applications.VGG16(weights=str(weights), include_top=True)
            return conv_base_of(full, size)
        return keras.applications.VGG16(
            weights=None if weights == "none" else str(weights), include_top=include_top,
            input_shape=(size, size, 3))
    except Exception as error:  # a failed download is a bare Exception in Keras
        if weights == "none":
            raise
        reason = helpers.error_reason(error)
        raise helpers.DataUnavailable(
            f"could not load VGG16 weights {weights!r} ({reason}). {WEIGHTS_HELP}") from None


def conv_base_of(full, image_size):
    """VGG16's convolutional base for image_size pictures, with the weights of a full VGG16
    (the convolution weights do not depend on the picture size)."""
    base = keras.applications.VGG16(weights=None, include_top=False,
                                    input_shape=(image_size, image_size, 3))
    for layer in base.layers:
        if layer.weights:  # the convolutions (the input and pooling layers have none)
            layer.set_weights(full.get_layer(layer.name).get_weights())
    return base


def weights_file_has_top(path):
    """Whether a Keras HDF5 weights file holds VGG16's classifier (its layer "fc1")."""
    import h5py  # Keras's own dependency for .h5 files

    try:
        with h5py.File(path, "r") as weights_file:
            names = [name.decode() if isinstance(name, bytes) else str(name)
                     for name in weights_file.attrs.get("layer_names", [])]
    except OSError as error:
        raise helpers.DataUnavailable(
            f"could not read {path} as a Keras HDF5 weights file ({error}). {WEIGHTS_HELP}"
        ) from None
    return "fc1" in names


IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)  # the mean pixel VGG16 was trained with


def vgg16_preprocess(images):
    """What keras.applications.vgg16.preprocess_input does to RGB pixels 0-255 (channels to
    BGR order, minus ImageNet's mean pixel), in TensorFlow ops: it runs inside the tf.data
    pipeline, which is TensorFlow whatever backend Keras uses."""
    return tf.reverse(images, axis=[-1]) - tf.constant(IMAGENET_MEAN_BGR)


def weights_note(weights):
    if weights == "none":
        print("note: --weights none: the VGG16 base is UNTRAINED (random weights), so the "
              "accuracy says nothing about the book's results; the run only shows the code works")


def extract_features(conv_base, dataset):
    """Run the convolutional base once over every picture, batch by batch."""
    features, labels = [], []
    for images, batch_labels in dataset:
        features.append(np.asarray(conv_base.predict_on_batch(images.numpy()), dtype="float32"))
        labels.append(batch_labels.numpy())
    return np.concatenate(features), np.concatenate(labels)


def stage_features(args, started):
    weights_note(args.weights)
    args.precision = use_mixed_precision(args.mixed_precision)
    conv_base = load_vgg16(args.weights, args.image_size)
    conv_base.summary()
    train, validation, test, _ = cats_and_dogs(args, preprocess=vgg16_preprocess,
                                               for_training=False)
    # The expensive part runs once per picture, not once per epoch: afterwards only the
    # small Dense classifier trains, on the stored (4, 4, 512) feature maps.
    extract_started = time.perf_counter()
    train_features, train_labels = extract_features(conv_base, train)
    val_features, val_labels = extract_features(conv_base, validation)
    test_features, test_labels = extract_features(conv_base, test)
    print(f"features {train_features.shape} extracted in "
          f"{time.perf_counter() - extract_started:.1f}s")

    model = keras.Sequential([
        keras.Input(shape=train_features.shape[1:]),
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid", dtype="float32"),
    ], name="vgg16_features_classifier")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=2e-5),
                  loss="binary_crossentropy", metrics=["accuracy"])

    def as_dataset(features, labels, shuffle=False):
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        if shuffle:
            dataset = dataset.shuffle(len(features), seed=args.seed)
        return dataset.batch(args.batch_size)

    results, details = train_and_test(
        args, started, model, as_dataset(train_features, train_labels, True),
        as_dataset(val_features, val_labels), as_dataset(test_features, test_labels),
        None,  # an epoch: one pass over the stored features
        f"VGG16 features (weights={args.weights}) + Dense", book="~0.90 validation",
        extra={"weights": args.weights})
    helpers.write_results(args, SCRIPT, results, extra=details)


def stage_features_augment(args, started):
    weights_note(args.weights)
    args.precision = use_mixed_precision(args.mixed_precision)
    conv_base = load_vgg16(args.weights, args.image_size)
    # Frozen: its ImageNet filters must not be wrecked by the large updates that the
    # randomly initialized Dense layers send back at the start of training.
    conv_base.trainable = False
    model = keras.Sequential([
        keras.Input(shape=(args.image_size, args.image_size, 3)),
        conv_base,  # the pictures arrive augmented from the input pipeline
        layers.Flatten(),
        layers.Dense(256, activation="relu"),
        layers.Dense(1, activation="sigmoid", dtype="float32"),
    ], name="vgg16_augmented")
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=2e-5),
                  loss="binary_crossentropy", metrics=["accuracy"])
    train, validation, test, train_steps = cats_and_dogs(args, augment=True,
                                                         preprocess=vgg16_preprocess)
    results, details = train_and_test(
        args, started, model, train, validation, test, train_steps,
        f"VGG16 frozen base + augmentation (weights={args.weights})",
        book="~0.96 validation", extra={"weights": args.weights})
    helpers.write_results(args, SCRIPT, results, extra=details)


def load_stage_model(args, stage):
    """The model an earlier stage saved next to this one's output folder."""
    path = args.output_dir.parent / stage / "model.keras"
    if not path.is_file():
        raise helpers.DataUnavailable(
            f"{path} not found: run `python files/convnet.py {stage}` first "
            f"(with the same --output-dir).")
    print(f"loading {path}")
    return keras.models.load_model(path), path


def stage_finetune(args, started):
    args.precision = use_mixed_precision(args.mixed_precision)
    model, path = load_stage_model(args, "features-augment")
    # Which VGG16 weights that model started from, so an untrained base is never hidden.
    earlier = json.loads((path.parent / "metrics.json").read_text()) \
        if (path.parent / "metrics.json").is_file() else {}
    weights = earlier.get("weights", "unknown")
    weights_note(weights)
    image_size = model.input_shape[1]
    args.image_size = image_size

    # Unfreeze the top of the base only: block5 holds the most task-specific features,
    # the lower blocks generic edges and textures that are worth keeping as they are.
    conv_base = model.get_layer("vgg16")
    conv_base.trainable = True
    unfrozen = False
    for layer in conv_base.layers:
        unfrozen = unfrozen or layer.name == "block5_conv1"
        layer.trainable = unfrozen
    # A very low learning rate: large updates would destroy the pretrained filters.
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-5),
                  loss="binary_crossentropy", metrics=["accuracy"])
    # The book fine-tunes with the same augmented pictures as features-augment.
    train, validation, test, train_steps = cats_and_dogs(args, augment=True,
                                                         preprocess=vgg16_preprocess)
    results, details = train_and_test(
        args, started, model, train, validation, test, train_steps,
        f"VGG16 fine-tuned from block5_conv1 (weights={weights})",
        book="0.97 validation, 0.968 test", extra={"weights": weights})
    helpers.write_results(args, SCRIPT, results, extra=details)


# --------------------------------------------------------------------------------------
# 5.4 Visualizing what convnets learn
# --------------------------------------------------------------------------------------


def load_picture(path, size):
    """A picture as a (size, size, 3) float32 array of pixels 0-255."""
    image = keras.utils.load_img(path, target_size=(size, size))
    return keras.utils.img_to_array(image)


def channel_grid(activation, columns=16):
    """One image of all channels of an (h, w, channels) activation, each made visible."""
    height, width, channels = activation.shape
    rows = -(-channels // columns)
    grid = np.zeros((rows * (height + 1), columns * (width + 1)))
    for channel in range(channels):
        image = activation[:, :, channel]
        # Standardize each channel for display: raw activations differ wildly in scale.
        image = (image - image.mean()) / (image.std() + 1e-5) * 64 + 128
        row, column = divmod(channel, columns)
        grid[row * (height + 1):row * (height + 1) + height,
             column * (width + 1):column * (width + 1) + width] = np.clip(image, 0, 255)
    return grid


def save_activations(model, picture, folder):
    """(a) One PNG per convolution and pooling layer: what it outputs for `picture`."""
    shown = [layer for layer in model.layers
             if isinstance(layer, (layers.Conv2D, layers.MaxPooling2D))]
    activation_model = keras.Model(model.inputs, [layer.output for layer in shown])
    activations = activation_model.predict(picture[np.newaxis], verbose=0)
    paths = []
    for layer, activation in zip(shown, activations, strict=True):
        path = folder / f"activations_{layer.name}.png"
        plt.imsave(path, channel_grid(activation[0]), cmap="viridis", vmin=0, vmax=255)
        paths.append(path)
    return paths


# Gradient ascent and Grad-CAM need the gradient of a number with respect to an INPUT (a
# picture, a feature map), not the weights: the one thing each backend computes its own
# way. Each function takes `function(x, index)` (a scalar) and returns a function
# (x, index) -> (value, gradient with respect to x).


def input_gradient_tensorflow(function):
    @tf.function  # compiled once, not traced again for every step
    def value_and_gradient(x, index):
        with tf.GradientTape() as tape:
            tape.watch(x)  # x is a plain tensor, not a variable: watch it explicitly
            value = function(x, index)
        return value, tape.gradient(value, x)

    return value_and_gradient


def input_gradient_jax(function):
    import jax

    return jax.jit(jax.value_and_grad(function))  # differentiates the first argument


def input_gradient_torch(function):
    def value_and_gradient(x, index):
        x = ops.convert_to_tensor(x).detach().requires_grad_(True)  # record operations on x
        value = function(x, index)
        value.backward()
        return value.detach(), x.grad

    return value_and_gradient


INPUT_GRADIENT = {"tensorflow": input_gradient_tensorflow, "jax": input_gradient_jax,
                  "torch": input_gradient_torch}


def filter_patterns(conv_base, layer_name, count, size, steps, seed=0):
    """(b) The input pictures that most excite the first `count` filters of a layer.

    Gradient ascent in input space: start from grey noise and repeatedly move the picture
    in the direction that increases the filter's mean activation.
    """
    extractor = keras.Model(conv_base.input, conv_base.get_layer(layer_name).output)

    def filter_activation(image, filter_index):
        return ops.mean(ops.take(extractor(image), filter_index, axis=-1))

    value_and_gradient = INPUT_GRADIENT[keras.backend.backend()](filter_activation)
    rng = np.random.default_rng(seed)
    patterns = []
    for filter_index in range(count):
        image = ops.convert_to_tensor(rng.random((1, size, size, 3)) * 20 + 128, "float32")
        index = ops.convert_to_tensor(filter_index, "int32")
        for _ in range(steps):
            _, gradient = value_and_gradient(image, index)
            # Normalize the gradient so every step has about the same size.
            gradient = gradient / (ops.sqrt(ops.mean(ops.square(gradient))) + 1e-5)
            image = image + gradient
        patterns.append(deprocess(ops.convert_to_numpy(image)[0]))
    return np.stack(patterns)


def deprocess(image):
    """A float picture of any range -> displayable uint8 (centred, std 0.1, clipped)."""
    image = (image - image.mean()) / (image.std() + 1e-5) * 0.1 + 0.5
    return (np.clip(image, 0, 1) * 255).astype("uint8")


def pattern_grid(patterns, columns=8, margin=4):
    count, size = len(patterns), patterns.shape[1]
    rows = -(-count // columns)
    columns = min(columns, count)
    grid = np.zeros((rows * (size + margin), columns * (size + margin), 3), dtype="uint8")
    for index, pattern in enumerate(patterns):
        row, column = divmod(index, columns)
        top, left = row * (size + margin), column * (size + margin)
        grid[top:top + size, left:left + size] = pattern
    return grid


def grad_cam_heatmap(model, image_batch, conv_layer_name="block5_conv3", class_index=None):
    """(c) Grad-CAM: where in the picture the evidence for a class is.

    Each channel of the last convolution layer's output is weighted by how much the class
    score changes with it (its gradient, averaged over the map); the weighted sum, with
    negative parts dropped, is scaled to [0, 1]. Returns (heatmap, class_index); the
    heatmap has the convolution output's height and width.
    """
    # Split the network at that layer: the part up to it, and the classifier after it
    # (the layers that follow it, one after the other, as in VGG16).
    conv_layer = model.get_layer(conv_layer_name)
    conv_model = keras.Model(model.inputs, conv_layer.output)
    head_input = keras.Input(conv_layer.output.shape[1:])
    x = head_input
    for layer in model.layers[model.layers.index(conv_layer) + 1:]:
        x = layer(x)
    head = keras.Model(head_input, x)

    conv_output = conv_model(ops.convert_to_tensor(image_batch))
    if class_index is None:
        class_index = int(ops.argmax(head(conv_output)[0]))

    def class_score(feature_map, index):
        return ops.sum(ops.take(head(feature_map), index, axis=-1))

    _, gradients = INPUT_GRADIENT[keras.backend.backend()](class_score)(
        conv_output, ops.convert_to_tensor(class_index, "int32"))
    channel_weights = ops.mean(gradients, axis=(0, 1, 2))
    heatmap = ops.convert_to_numpy(ops.relu(ops.sum(conv_output[0] * channel_weights, axis=-1)))
    if heatmap.max() > 0:
        heatmap /= heatmap.max()
    return heatmap, class_index


def overlay_heatmap(picture, heatmap, path, alpha=0.4):
    """Colour the heatmap with the "jet" colormap, stretch it over the picture, blend."""
    picture = np.asarray(picture, dtype="float32")
    colours = matplotlib.colormaps["jet"](heatmap)[..., :3]  # (h, w, 3) in [0, 1]
    colours = Image.fromarray(np.uint8(colours * 255)).resize(
        (picture.shape[1], picture.shape[0]), Image.Resampling.BILINEAR)
    blended = np.asarray(colours, dtype="float32") * alpha + picture * (1 - alpha)
    Image.fromarray(np.uint8(np.clip(blended, 0, 255))).save(path)
    return path


def default_picture(args):
    """The book's cat.1700.jpg from the test split, or else the first test picture."""
    test = find_split(args) / "test"
    book_cat = test / "cats" / "cat.1700.jpg"
    return book_cat if book_cat.is_file() else sorted(test.glob("*/*.jpg"))[0]


def stage_visualize(args, started):
    # The Grad-CAM network first: a weights file that cannot serve it fails before any work.
    classifier = load_vgg16(args.weights, args.image_size, include_top=True)
    picture_path = Path(args.image) if args.image else default_picture(args)
    if not picture_path.is_file():
        raise helpers.DataUnavailable(f"picture {picture_path} not found")
    print(f"picture: {picture_path}")

    # (a) Intermediate activations of the from-scratch convnet.
    model, _ = load_stage_model(args, "scratch")
    picture = load_picture(picture_path, model.input_shape[1])
    paths = save_activations(model, picture, args.output_dir)
    print(f"activations: {len(paths)} PNGs, e.g. {paths[0]}")

    # (b) Filter patterns of VGG16, from the first convolution of blocks 1 to 4.
    weights_note(args.weights)
    # The Grad-CAM network's convolutions, in a base sized for the patterns.
    conv_base = conv_base_of(classifier, args.image_size)
    for layer_name in ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1"):
        patterns = filter_patterns(conv_base, layer_name, args.filters, args.image_size,
                                   args.steps, seed=args.seed)
        path = args.output_dir / f"filters_{layer_name}.png"
        plt.imsave(path, pattern_grid(patterns))
        paths.append(path)
        print(f"filter patterns: {path}")

    # (c) Grad-CAM heatmap of VGG16 with its ImageNet classifier, over the picture.
    size = classifier.input_shape[1]
    batch = keras.applications.vgg16.preprocess_input(load_picture(picture_path, size)[None])
    heatmap, class_index = grad_cam_heatmap(classifier, batch)
    print(f"top ImageNet class index {class_index}; heatmap {heatmap.shape}")
    figure, axes = plt.subplots(figsize=(4, 4))
    axes.matshow(heatmap, cmap="jet", vmin=0, vmax=1)
    axes.set_title(f"Grad-CAM, ImageNet class {class_index}")
    paths.append(args.output_dir / "gradcam_heatmap.png")
    figure.savefig(paths[-1], dpi=100)
    plt.close(figure)
    original = keras.utils.img_to_array(keras.utils.load_img(picture_path))
    paths.append(overlay_heatmap(original, heatmap, args.output_dir / "gradcam.png"))
    print(f"Grad-CAM overlay: {paths[-1]}")

    helpers.write_results(
        args, SCRIPT,
        {"stage": args.stage, "pngs": len(paths), "class_index": class_index,
         "weights": args.weights, "seconds": time.perf_counter() - started},
        extra={"picture": str(picture_path), "files": [str(path) for path in paths]},
    )


# --------------------------------------------------------------------------------------
# Benchmark (not a book section): this input pipeline vs the book's ImageDataGenerator
# --------------------------------------------------------------------------------------


def time_epochs(args, model, train, validation, steps=None):
    timer = EpochTimer()
    model.fit(train, epochs=args.epochs, steps_per_epoch=steps, validation_data=validation,
              callbacks=[timer], verbose=args.verbose)
    return timer.seconds


def stage_benchmark(args, started):
    """Seconds per epoch (one pass over the 2,000 training pictures) of the scratch stage:
    the book's pipeline vs this script's, then this script's with augmentation and dropout
    (the augment stage's model and pipeline) at the same precision."""
    split = find_split(args)
    size = args.image_size
    # Keras 3 still ships the book's ImageDataGenerator, only no longer under a public name.
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    # The book: decode, resize and rescale every JPEG again in every epoch, batches of 20.
    generator = ImageDataGenerator(rescale=1 / 255)
    flows = [generator.flow_from_directory(split / name, target_size=(size, size),
                                           batch_size=20, class_mode="binary")
             for name in ("train", "validation")]
    timings = {"book_generator": time_epochs(
        args, build_small_convnet(size, rescale=False), *flows)}

    # This script: tf.data, decoded once and cached; the same model and batch size.
    args.batch_size = 20
    train, validation, _, steps = cats_and_dogs(args)
    timings["tf_data"] = time_epochs(args, build_small_convnet(size), train, validation, steps)
    policy = use_mixed_precision(args.mixed_precision)  # the scratch stage's default
    suffix = "" if policy == "float32" else f"_{policy}"
    if policy != "float32":
        train, validation, _, steps = cats_and_dogs(args)  # fresh datasets: the cache refills
        timings[f"tf_data{suffix}"] = time_epochs(
            args, build_small_convnet(size), train, validation, steps)
    train, validation, _, steps = cats_and_dogs(args, augment=True)
    timings[f"tf_data{suffix}_augment"] = time_epochs(
        args, build_small_convnet(size, dropout=True), train, validation, steps)

    results = {"stage": args.stage}
    book = np.mean(timings["book_generator"])
    for name, seconds in timings.items():
        print(f"{name}: seconds per epoch {', '.join(f'{s:.1f}' for s in seconds)}; "
              f"mean {np.mean(seconds):.1f}, ratio to the book's {np.mean(seconds) / book:.2f}")
        results[f"{name}_epoch_seconds"] = float(np.mean(seconds))
        if name != "book_generator":
            results[f"{name}_ratio"] = float(np.mean(seconds) / book)
    # What augmentation costs: the augmented epoch against the plain one, same precision.
    results["augment_cost"] = float(np.mean(timings[f"tf_data{suffix}_augment"])
                                    / np.mean(timings[f"tf_data{suffix}"]))
    print(f"augmented epoch / plain epoch: {results['augment_cost']:.2f}")
    results["seconds"] = time.perf_counter() - started
    helpers.write_results(args, SCRIPT, results, extra={"epoch_seconds": timings})


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

# stage: (function, book section and what it does, default epochs, default batch size)
STAGES = {
    "mnist": (stage_mnist, "5.1 a small convnet on MNIST", 5, 64),
    "prepare": (stage_prepare, "5.2 copy cats_and_dogs_small out of Kaggle's train/", 1, 1),
    "scratch": (stage_scratch, "5.2 dogs vs cats, a convnet from scratch", 30, 20),
    # The book's augment epochs were steps_per_epoch=100 batches of 32: 3,200 augmented
    # pictures, 1.6 passes over the 2,000 training pictures (~10,000 updates in 100 epochs).
    "augment": (stage_augment, "5.2 ... with data augmentation and dropout", 100, 32),
    "features": (stage_features, "5.3 VGG16 feature extraction + Dense classifier", 30, 20),
    "features-augment": (stage_features_augment,
                         "5.3 frozen VGG16 base in the model, with augmentation", 30, 20),
    "finetune": (stage_finetune, "5.3 fine-tune VGG16's block5 (after features-augment)",
                 100, 20),
    "visualize": (stage_visualize, "5.4 activations, filter patterns, Grad-CAM", 1, 1),
}
IMAGE_STAGES = set(STAGES) - {"mnist", "prepare"}
# The smallest --image-size each network takes: the from-scratch convnet's four 3x3
# convolutions and 2x2 poolings shrink 46 pixels to 1; VGG16 needs at least 32.
MIN_IMAGE_SIZE = {"scratch": 46, "augment": 46, "benchmark": 46, "features": 32,
                  "features-augment": 32, "finetune": 32, "visualize": 32}
MAX_IMAGE_SIZE = 1024  # 2,000 cached pictures at 1024 px already take 6 GB of memory
TRAINING_STAGES = IMAGE_STAGES - {"visualize"}
# Where the book's steps_per_epoch was not one pass over the training pictures.
BOOK_STEPS_PER_EPOCH = {"augment": 100}
IMAGE_DATA_NOTE = (
    "\nThe pictures: DATA_DIR/cats_and_dogs_small/ (DATA_DIR defaults to data/, where "
    "`prepare` puts them).\nWith --smoke: synthetic 48x48 pictures, unless --data-dir "
    "holds a split already."
)


def make_parser():
    parser = argparse.ArgumentParser(prog="python files/convnet.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (_, summary, epochs, batch_size) in STAGES.items():
        description = f"{summary}.\n\nOutputs go to OUTPUT_DIR/{name}/."
        if name in IMAGE_STAGES:
            description += IMAGE_DATA_NOTE
        stage = subparsers.add_parser(name, help=summary, description=description,
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        add_stage_flags(stage, name, epochs, batch_size)
    # Hidden (no help=): a measurement, not a book section.
    benchmark = subparsers.add_parser("benchmark", description=stage_benchmark.__doc__)
    add_stage_flags(benchmark, "benchmark", 3, 20)
    return parser


def add_stage_flags(parser, name, epochs, batch_size):
    helpers.add_common_flags(parser, SCRIPT, epochs, batch_size)
    group = parser.add_argument_group(f"{name} options")
    if name == "prepare":
        group.add_argument("--source", type=Path,
                           help="Kaggle's dogs-vs-cats train/ folder (cat.0.jpg ... dog.12499.jpg);"
                                " the subset goes to DATA_DIR/cats_and_dogs_small/ "
                                "(default DATA_DIR: data/). Without --source, the competition "
                                "data is downloaded with kagglehub (pip install \".[kaggle]\", "
                                "Kaggle credentials, the competition's rules accepted)")
    if name in IMAGE_STAGES | {"benchmark"}:
        smallest = MIN_IMAGE_SIZE[name]
        group.add_argument("--image-size", type=helpers.int_in_range(smallest, MAX_IMAGE_SIZE),
                           default=None,
                           help=f"pictures are resized to this square size, {smallest} to "
                                f"{MAX_IMAGE_SIZE} (the network needs at least {smallest}) "
                                f"(default: {IMAGE_SIZE}, {SMOKE_IMAGE_SIZE} with --smoke)")
    if name in TRAINING_STAGES:
        default_steps = BOOK_STEPS_PER_EPOCH.get(name)
        group.add_argument(
            "--steps-per-epoch", type=helpers.positive_int, default=default_steps,
            help="training batches per epoch; the training pictures repeat, so an epoch "
                 "can be more or less than one pass over them (default: "
                 + (f"{default_steps}, the book's: {default_steps} x {batch_size} = "
                    f"{default_steps * batch_size} augmented pictures per epoch)"
                    if default_steps else "one pass over the training pictures, as the book)"))
    if name in IMAGE_STAGES - {"visualize"} | {"benchmark"}:
        group.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                           help="compute in float16 on a CUDA GPU, bfloat16 on a CPU with "
                                "bfloat16 units (AMX/AVX512-BF16) (default: on where one of "
                                "them exists, float32 elsewhere)")
    if name in ("features", "features-augment", "visualize"):
        group.add_argument("--weights", default="imagenet",
                           help="VGG16 weights: imagenet (downloaded once by Keras), none "
                                "(untrained, random), or a local weights file "
                                "(default: %(default)s)")
    if name == "visualize":
        group.add_argument("--image", type=Path,
                           help="picture for the activations and Grad-CAM (default: "
                                "test/cats/cat.1700.jpg, as in the book)")
        group.add_argument("--filters", type=helpers.int_in_range(1, 64), default=64,
                           help="filter patterns per layer, 1 to 64 (block1_conv1 has 64 "
                                "filters) (default: %(default)s, as in the book)")
        group.add_argument("--steps", type=helpers.positive_int, default=40,
                           help="gradient ascent steps per pattern (default: %(default)s)")


def synthetic_images():
    """data/make_images.py, the synthetic picture maker that --smoke runs use."""
    sys.path.insert(0, str(helpers.REPO_ROOT / "data"))
    import make_images

    return make_images


def parse_args(argv=None):
    args = make_parser().parse_args(argv)
    args.output_dir = args.output_dir / args.stage
    if args.smoke:
        args.epochs = min(args.epochs, SMOKE_EPOCHS)
        if args.stage == "mnist":
            args.data_dir = helpers.SAMPLE_DATA_DIR  # the project's small sample digits
    if hasattr(args, "image_size") and args.image_size is None:
        args.image_size = SMOKE_IMAGE_SIZE if args.smoke else IMAGE_SIZE
    if args.smoke and getattr(args, "steps_per_epoch", None) == BOOK_STEPS_PER_EPOCH.get(
            args.stage):
        args.steps_per_epoch = None  # one pass over the few smoke pictures
    if args.smoke and args.stage == "visualize":
        args.filters = min(args.filters, 4)
        args.steps = min(args.steps, 5)
    return args


def main(argv=None):
    args = parse_args(argv)
    started = helpers.start(args)
    if args.smoke and args.stage in IMAGE_STAGES | {"benchmark"}:
        # Tiny synthetic pictures, unless --data-dir already holds a (small) split.
        has_split = args.data_dir and any(
            (Path(args.data_dir) / sub / "train").is_dir() for sub in ("cats_and_dogs_small", ""))
        if not has_split:
            args.data_dir = args.output_dir.parent / "smoke_images"
            synthetic_images().make_split_folders(args.data_dir)
    run_stage = stage_benchmark if args.stage == "benchmark" else STAGES[args.stage][0]
    run_stage(args, started)


if __name__ == "__main__":
    helpers.run(main)
