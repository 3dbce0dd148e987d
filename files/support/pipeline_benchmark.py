"""Benchmark (not a book section): convnet.py's input pipeline vs the book's ImageDataGenerator.

Seconds per epoch (one pass over the 2,000 training pictures) of the `scratch` stage of
Chapter 5: the book's pipeline (ImageDataGenerator.flow_from_directory, which decodes,
resizes and rescales every JPEG again in every epoch) against convnet.py's tf.data pipeline
(picture_pipeline.py: decoded once, cached), then the tf.data pipeline in mixed precision where
the CPU or GPU has it, then with the book's augmentation and dropout (the augment stage's
model and pipeline) at the same precision.

It imports Keras's legacy ImageDataGenerator from `keras.src`, which Keras 3 still ships
but no longer under a public name: this is why it is not part of convnet.py.

Run it (by itself, from the repository root):
    python files/support/pipeline_benchmark.py --data-dir ~/data --epochs 3
    python files/support/pipeline_benchmark.py --smoke
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

if __name__ == "__main__":  # run by itself: the scripts' folder, files/, goes on the path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from support import command_line, outputs, picture_pipeline, precision, smoke, stages  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402

import convnet  # noqa: E402

SCRIPT = "pipeline_benchmark"


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


def benchmark(args):
    split = picture_pipeline.find_split(args.data_dir)
    size = args.image_size
    rate, augment_rate = convnet.SCRATCH.learning_rate, convnet.AUGMENT.learning_rate
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
        args, convnet.build_small_convnet(size, rate, rescale=False), *flows)}

    # convnet.py: tf.data, decoded once and cached; the same model and batch size.
    def pictures(augmentation=None):
        return picture_pipeline.load_pictures(args.data_dir, size, 20, args.seed,
                                          augmentation=augmentation)

    plain = pictures()
    timings["tf_data"] = time_epochs(args, convnet.build_small_convnet(size, rate),
                                     plain.train, plain.validation, plain.train_steps)
    policy = precision.use_mixed_precision(args.mixed_precision)  # scratch's default
    suffix = "" if policy == "float32" else f"_{policy}"
    if policy != "float32":
        plain = pictures()  # fresh datasets: the cache refills
        timings[f"tf_data{suffix}"] = time_epochs(
            args, convnet.build_small_convnet(size, rate), plain.train, plain.validation,
            plain.train_steps)
    augmented = pictures(convnet.BOOK_AUGMENTATION)
    timings[f"tf_data{suffix}_augment"] = time_epochs(
        args, convnet.build_small_convnet(size, augment_rate, dropout=True), augmented.train,
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


def main(argv=None):
    parser = command_line.make_parser(SCRIPT, __doc__, 3, 20)
    parser.prog = "python files/support/pipeline_benchmark.py"  # (not a script in files/)
    scratch = convnet.SCRATCH  # the network and the smoke run it times
    parser.add_argument("--image-size", type=command_line.int_in_range(
        scratch.min_image_size, stages.MAX_IMAGE_SIZE), default=None,
        help=f"pictures are resized to this square size (default: {stages.IMAGE_SIZE}, "
             f"{scratch.smoke_image_size} with --smoke)")
    parser.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                        help="also time mixed precision (default: where it pays, as in "
                             "convnet.py; --no-mixed-precision: float32 only)")
    args = parser.parse_args(argv)
    if args.smoke:
        smoke.apply_to_stage(args, scratch)  # scratch's smoke run: its epochs and pictures
    if args.image_size is None:
        args.image_size = stages.IMAGE_SIZE
    command_line.start(args)
    results, details = benchmark(args)
    outputs.finish(args, SCRIPT, results, details=details)


if __name__ == "__main__":
    command_line.run(main)
