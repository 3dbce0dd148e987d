"""convnet.py's stages: one settings record each (`Stage`), and the subcommands they make.

- `Stage`: a stage's book settings, the flags it takes, the smallest picture its network
  takes and what --smoke runs;
- `make_stage_parser` / `parse_stage_args`: one subcommand per stage, each with the common
  flags (command_line.add_common_flags) and its own; the command line read is kept in
  COMMAND (a stopped run's backup shows it).

Not in the book scripts: the book runs each section in a notebook, with fixed settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from support import smoke
from support.command_line import add_common_flags, int_in_range, positive_int


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage of convnet.py (a subcommand) and its settings, in one record:

    - the book's: `epochs`, `batch_size`, `steps_per_epoch` (None: one pass over the
      training pictures), `learning_rate`;
    - the command line's: `options`, the flag groups it takes ("pictures": --image-size;
      "training": --steps-per-epoch and --mixed-precision; "weights": VGG16's --weights;
      "visualize", "prepare" and "benchmark": their own flags), and `min_image_size`, the
      smallest picture its network takes;
    - what --smoke runs (smoke.apply_to_stage): at most `smoke_epochs` epochs of
      `smoke_image_size` pictures, `smoke_steps` batches an epoch (None: one pass over the
      sample pictures), on the project's sample data in data/sample/: always with
      `smoke_sample_data`, and for the stages that read pictures unless --data-dir holds a
      split already.
    """

    summary: str
    epochs: int = 1
    batch_size: int = 1
    steps_per_epoch: int | None = None
    learning_rate: float | None = None
    options: frozenset = frozenset()
    min_image_size: int | None = None
    smoke_epochs: int = 3
    smoke_image_size: int | None = None
    smoke_steps: int | None = None
    smoke_sample_data: bool = False


IMAGE_SIZE = 150  # the book resizes every picture to 150x150
MAX_IMAGE_SIZE = 1024  # 2,000 cached pictures at 1024 px already take 6 GB of memory

IMAGE_DATA_NOTE = (
    "\nThe pictures: DATA_DIR/cats_and_dogs_small/ (DATA_DIR defaults to data/, where "
    "`prepare` puts them).\nWith --smoke: the small sample pictures in "
    "data/sample/cats_and_dogs_small/,\nunless --data-dir holds a split already."
)
BENCHMARK_NOTE = (
    "\nIt times the scratch stage's network, in batches of 20, fed by the book's pipeline\n"
    "(Keras's legacy ImageDataGenerator, which decodes every JPEG again in every epoch), then\n"
    "by this script's tf.data pipeline (decoded once, cached), also in mixed precision where\n"
    "it pays, then with the augment stage's augmentation and dropout."
)
PREPARE_NOTE = (
    "\nThe subset goes to DATA_DIR/cats_and_dogs_small/ (DATA_DIR defaults to data/); "
    "pictures\nalready there are kept, so a second run copies nothing. Empty pictures and "
    "pictures\nthat do not decode are skipped and counted. --verbose 0 hides the progress "
    "bar.\nWith --smoke: copies of the sample pictures (no network), into\n"
    "OUTPUT_DIR/prepare/cats_and_dogs_small/ unless --data-dir is given."
)


def make_stage_parser(stages, description, script="convnet"):
    """The parser of convnet.py: `stages` is its {name: (function, Stage)} table."""
    parser = argparse.ArgumentParser(prog=f"python files/{script}.py", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (_, stage) in stages.items():
        text = f"{stage.summary}.\n\nOutputs go to OUTPUT_DIR/{name}/."
        if "benchmark" in stage.options:
            text += BENCHMARK_NOTE
        if "pictures" in stage.options:
            text += IMAGE_DATA_NOTE
        elif "prepare" in stage.options:
            text += PREPARE_NOTE
        subparser = subparsers.add_parser(name, help=stage.summary, description=text,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
        add_stage_flags(subparser, name, stage, script)
    return parser


def add_stage_flags(parser, name, stage, script="convnet"):
    add_common_flags(parser, script, stage.epochs, stage.batch_size)
    group = parser.add_argument_group(f"{name} options")
    if "prepare" in stage.options:
        add_prepare_flags(group)
    if "pictures" in stage.options:
        add_image_size_flag(group, stage)
    if "training" in stage.options:
        steps = stage.steps_per_epoch
        group.add_argument(
            "--steps-per-epoch", type=positive_int, default=steps,
            help="training batches per epoch; the training pictures repeat, so an epoch "
                 "can be more or less than one pass over them (default: "
                 + (f"{steps}, the book's: {steps} x {stage.batch_size} = "
                    f"{steps * stage.batch_size} augmented pictures per epoch)"
                    if steps else "one pass over the training pictures, as the book)"))
        group.add_argument("--restart", action="store_true",
                           help=f"throw away the backup a stopped run left in OUTPUT_DIR/"
                                f"{name}/backup/ and start from epoch 1 (without it, a stopped "
                                f"run goes on after its last finished epoch, or says why not)")
        group.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                           help="compute in float16 on a CUDA GPU, bfloat16 on a CPU with "
                                "bfloat16 units (AMX/AVX512-BF16) (default: on where one of "
                                "them exists, float32 elsewhere)")
    if "weights" in stage.options:
        group.add_argument("--weights", default=None,
                           help="VGG16 weights: imagenet (downloaded once by Keras), none "
                                "(untrained, random), or a local weights file (default: "
                                "imagenet; none with --smoke, which never uses the network)")
    if "visualize" in stage.options:
        add_visualize_flags(group)
    if "benchmark" in stage.options:
        group.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                           help="also time mixed precision (default: where it pays, as in "
                                "the training stages; --no-mixed-precision: float32 only)")


def add_image_size_flag(group, stage):
    """--image-size, from the smallest size a stage's network takes to MAX_IMAGE_SIZE."""
    smallest = stage.min_image_size
    group.add_argument("--image-size", type=int_in_range(smallest, MAX_IMAGE_SIZE),
                       default=None,
                       help=f"pictures are resized to this square size, {smallest} to "
                            f"{MAX_IMAGE_SIZE} (the network needs at least {smallest}) "
                            f"(default: {IMAGE_SIZE}, {stage.smoke_image_size} with --smoke)")


def add_visualize_flags(group):
    group.add_argument("--image", type=Path,
                       help="picture for the activations and Grad-CAM (default: "
                            "test/cats/cat.1700.jpg, as in the book)")
    group.add_argument("--filters", type=int_in_range(1, 64), default=64,
                       help="filter patterns per layer, 1 to 64 (block1_conv1 has 64 "
                            "filters) (default: %(default)s, as in the book)")
    group.add_argument("--steps", type=positive_int, default=40,
                       help="gradient ascent steps per pattern (default: %(default)s)")


def add_prepare_flags(group):
    """--source or --download: where prepare takes the pictures from (one or the other)."""
    where = group.add_mutually_exclusive_group()
    where.add_argument("--source", type=Path, metavar="PATH",
                       help="pictures already on this machine, in Kaggle's layout (its "
                            "train/ folder: cat.N.jpg, dog.N.jpg) or Microsoft's (its PetImages/ "
                            "folder: Cat/N.jpg, Dog/N.jpg; or a folder holding PetImages/), or "
                            "a zip of either (kagglecatsanddogs_5340.zip, train.zip), read "
                            "without unpacking it")
    where.add_argument("--download", choices=("kaggle", "microsoft"),
                       help="download Kaggle's copy with kagglehub (pip install "
                            "\".[kaggle]\", Kaggle credentials, the competition's rules "
                            "accepted) or Microsoft's public copy (about 790 MB, no account; "
                            "kept in ~/.keras/datasets/) (default: kaggle where kagglehub and "
                            "Kaggle credentials are set up, else microsoft)")


def parse_stage_args(stages, description, argv=None):
    """Parse convnet.py's flags (--smoke: smoke.apply_to_stage, with the stage's record).
    The command line is kept in COMMAND (a stopped run's backup shows it)."""
    global COMMAND
    args = make_stage_parser(stages, description).parse_args(argv)
    COMMAND = list(sys.argv) if argv is None else ["files/convnet.py", *map(str, argv)]
    stage = stages[args.stage][1]
    args.output_dir = args.output_dir / args.stage
    if args.smoke:
        smoke.apply_to_stage(args, stage)
    if hasattr(args, "weights") and args.weights is None:
        args.weights = "imagenet"
    if hasattr(args, "image_size") and args.image_size is None:
        args.image_size = IMAGE_SIZE
    return args


COMMAND = None  # the command line parse_stage_args last read: [script, arguments...]
