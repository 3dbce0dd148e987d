"""The timing behind `convnet.py benchmark` (not a book section): the input pipeline of
convnet.py's picture stages vs the book's ImageDataGenerator.

Seconds per epoch (one pass over the 2,000 training pictures) of the `scratch` stage of
Chapter 5: the book's pipeline (ImageDataGenerator.flow_from_directory, which decodes,
resizes and rescales every JPEG again in every epoch) against convnet.py's tf.data pipeline
(picture_pipeline.py: decoded once, cached), then the tf.data pipeline in mixed precision where
the CPU or GPU has it, then with the book's augmentation and dropout (the augment stage's
model and pipeline) at the same precision.

`run` takes the network and settings from convnet.py (it imports no book script). It imports
Keras's legacy ImageDataGenerator from `keras.src`, which Keras 3 still ships but no longer
under a public name: only inside `run`, so convnet.py's other stages never ask for it.

Run it:
    python files/convnet.py benchmark --data-dir ~/data --epochs 3
    python files/convnet.py benchmark --smoke
"""

import time
import warnings

from support import picture_pipeline, precision

import keras
import numpy as np


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch (training and validation)."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.epoch_started)


def time_epochs(args, model, train, validation, steps=None):
    timer = EpochTimer()
    model.fit(train, epochs=args.epochs, steps_per_epoch=steps, validation_data=validation,
              callbacks=[timer], verbose=args.verbose)
    return timer.seconds


def run(args, build_small_convnet, scratch, augment, augmentation):
    """Time each pipeline for `args.epochs` epochs: `build_small_convnet(image_size,
    learning_rate, dropout=False, rescale=True)` makes the network, at `scratch`'s learning
    rate (`augment`'s with dropout and `augmentation`, the book's ImageDataGenerator
    arguments). Returns (results: mean seconds per epoch and ratios to the book's pipeline,
    details: every epoch's seconds)."""
    split = picture_pipeline.find_split(args.data_dir)
    size = args.image_size
    rate, augment_rate = scratch.learning_rate, augment.learning_rate
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    # Keras before 3.15 warns that its own legacy iterator does not call PyDataset's
    # __init__: about Keras's code, not this script's.
    warnings.filterwarnings("ignore", message="Your `PyDataset` class should call")
    # The book: decode, resize and rescale every JPEG again in every epoch, batches of 20.
    generator = ImageDataGenerator(rescale=1 / 255)
    flows = [generator.flow_from_directory(split / name, target_size=(size, size),
                                           batch_size=20, class_mode="binary")
             for name in ("train", "validation")]
    timings = {"book_generator": time_epochs(
        args, build_small_convnet(size, rate, rescale=False), *flows)}

    # convnet.py: tf.data, decoded once and cached; the same model and batch size.
    def pictures(augmentation=None):
        return picture_pipeline.load_pictures(args.data_dir, size, 20, args.seed,
                                              augmentation=augmentation)

    plain = pictures()
    timings["tf_data"] = time_epochs(args, build_small_convnet(size, rate),
                                     plain.train, plain.validation, plain.train_steps)
    policy = precision.use_mixed_precision(args.mixed_precision)  # scratch's default
    suffix = "" if policy == "float32" else f"_{policy}"
    if policy != "float32":
        plain = pictures()  # fresh datasets: the cache refills
        timings[f"tf_data{suffix}"] = time_epochs(
            args, build_small_convnet(size, rate), plain.train, plain.validation,
            plain.train_steps)
    augmented = pictures(augmentation)
    timings[f"tf_data{suffix}_augment"] = time_epochs(
        args, build_small_convnet(size, augment_rate, dropout=True), augmented.train,
        augmented.validation, augmented.train_steps)

    results = {}
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
    return results, {"epoch_seconds": timings}
