"""The command line of `convnet.py`: one subcommand per stage, with its flags and ranges.

Kept out of the chapter script because it is argparse, not the book: `convnet.py` lists
its stages (function, summary, the book's epochs, batch size and steps per epoch) in one
table, STAGES; STAGE_FACTS here holds what the command line knows of each (its option
groups, the smallest picture its network takes, what --smoke runs), which
pipeline_benchmark.py reads too. `make_parser` / `parse_args` turn the two into
subcommands with the common flags of every script (command_line.add_common_flags) plus
each stage's own. A new stage: its function and Stage in convnet.py, its Facts here.
"""

import argparse
from collections import namedtuple
from pathlib import Path

import command_line
import dogs_vs_cats
import pet_pictures

Stage = namedtuple("Stage", "run summary epochs batch_size steps_per_epoch", defaults=(None,))
Stage.__doc__ = """One subcommand of convnet.py: the function that runs it (it takes the parsed
flags and returns (results, details)), a one-line summary, and the book's epochs, batch size
and steps per epoch (None: one pass over the training pictures)."""

IMAGE_SIZE = 150  # the book resizes every picture to 150x150
MAX_IMAGE_SIZE = 1024  # 2,000 cached pictures at 1024 px already take 6 GB of memory

Facts = namedtuple("Facts", "options min_image_size smoke_epochs smoke_image_size smoke_steps")
Facts.__doc__ = """What the command line knows of a stage, beside its book settings (Stage):
the option groups it takes ("pictures": --image-size; "training": --steps-per-epoch and
--mixed-precision; "weights": VGG16's --weights; "visualize" and "prepare": their own
flags), the smallest --image-size its network takes, and what --smoke runs: at most
`smoke_epochs` epochs of `smoke_image_size` pictures, `smoke_steps` batches an epoch (None:
one pass over the sample pictures)."""

# The from-scratch convnet's four 3x3 convolutions and 2x2 poolings shrink 46 pixels to 1;
# VGG16 needs at least 32. --smoke: 3 epochs of 48-pixel pictures, about the smallest the
# from-scratch convnet takes; the stages that train through VGG16 take its smallest, 32
# pixels (0.44x the work of 48), and those with VGG16 inside the model 1 epoch of 2 batches
# (40 of the 80 smoke pictures: a batch of 20 through VGG16 takes over a second on a CPU
# core with JAX).
STAGE_FACTS = {
    "mnist": Facts(set(), None, 3, None, None),
    "prepare": Facts({"prepare"}, None, 3, None, None),
    "scratch": Facts({"pictures", "training"}, 46, 3, 48, None),
    "augment": Facts({"pictures", "training"}, 46, 3, 48, None),
    "features": Facts({"pictures", "training", "weights"}, 32, 3, 32, None),
    "features-augment": Facts({"pictures", "training", "weights"}, 32, 1, 32, 2),
    "finetune": Facts({"pictures", "training"}, 32, 1, 32, 2),
    "visualize": Facts({"pictures", "weights", "visualize"}, 32, 3, 48, None),
}
IMAGE_DATA_NOTE = (
    "\nThe pictures: DATA_DIR/cats_and_dogs_small/ (DATA_DIR defaults to data/, where "
    "`prepare` puts them).\nWith --smoke: the small sample pictures in "
    "data/sample/cats_and_dogs_small/,\nunless --data-dir holds a split already."
)
PREPARE_NOTE = (
    "\nThe subset goes to DATA_DIR/cats_and_dogs_small/ (DATA_DIR defaults to data/); "
    "pictures\nalready there are kept, so a second run copies nothing. Empty pictures and "
    "pictures\nthat do not decode are skipped and counted. --verbose 0 hides the progress "
    "bar.\nWith --smoke: copies of the sample pictures (no network), into\n"
    "OUTPUT_DIR/prepare/cats_and_dogs_small/ unless --data-dir is given."
)


def make_parser(stages, description, script="convnet"):
    """The parser of convnet.py: `stages` is its {name: Stage} table."""
    parser = argparse.ArgumentParser(prog=f"python files/{script}.py", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, stage in stages.items():
        text = f"{stage.summary}.\n\nOutputs go to OUTPUT_DIR/{name}/."
        facts = STAGE_FACTS[name]
        if "pictures" in facts.options:
            text += IMAGE_DATA_NOTE
        elif "prepare" in facts.options:
            text += PREPARE_NOTE
        subparser = subparsers.add_parser(name, help=stage.summary, description=text,
                                          formatter_class=argparse.RawDescriptionHelpFormatter)
        add_stage_flags(subparser, name, stage, script)
    return parser


def add_stage_flags(parser, name, stage, script="convnet"):
    command_line.add_common_flags(parser, script, stage.epochs, stage.batch_size)
    group = parser.add_argument_group(f"{name} options")
    facts = STAGE_FACTS[name]
    if "prepare" in facts.options:
        add_prepare_flags(group)
    if "pictures" in facts.options:
        add_image_size_flag(group, facts)
    if "training" in facts.options:
        steps = stage.steps_per_epoch
        group.add_argument(
            "--steps-per-epoch", type=command_line.positive_int, default=steps,
            help="training batches per epoch; the training pictures repeat, so an epoch "
                 "can be more or less than one pass over them (default: "
                 + (f"{steps}, the book's: {steps} x {stage.batch_size} = "
                    f"{steps * stage.batch_size} augmented pictures per epoch)"
                    if steps else "one pass over the training pictures, as the book)"))
        group.add_argument("--mixed-precision", action=argparse.BooleanOptionalAction,
                           help="compute in float16 on a CUDA GPU, bfloat16 on a CPU with "
                                "bfloat16 units (AMX/AVX512-BF16) (default: on where one of "
                                "them exists, float32 elsewhere)")
    if "weights" in facts.options:
        group.add_argument("--weights", default=None,
                           help="VGG16 weights: imagenet (downloaded once by Keras), none "
                                "(untrained, random), or a local weights file (default: "
                                "imagenet; none with --smoke, which never uses the network)")
    if "visualize" in facts.options:
        add_visualize_flags(group)


def add_image_size_flag(group, facts):
    """--image-size, from the smallest size a stage's network takes to MAX_IMAGE_SIZE."""
    smallest = facts.min_image_size
    group.add_argument("--image-size", type=command_line.int_in_range(smallest, MAX_IMAGE_SIZE),
                       default=None,
                       help=f"pictures are resized to this square size, {smallest} to "
                            f"{MAX_IMAGE_SIZE} (the network needs at least {smallest}) "
                            f"(default: {IMAGE_SIZE}, {facts.smoke_image_size} with --smoke)")


def add_visualize_flags(group):
    group.add_argument("--image", type=Path,
                       help="picture for the activations and Grad-CAM (default: "
                            "test/cats/cat.1700.jpg, as in the book)")
    group.add_argument("--filters", type=command_line.int_in_range(1, 64), default=64,
                       help="filter patterns per layer, 1 to 64 (block1_conv1 has 64 "
                            "filters) (default: %(default)s, as in the book)")
    group.add_argument("--steps", type=command_line.positive_int, default=40,
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
    where.add_argument("--download", choices=pet_pictures.DOWNLOADS,
                       help="download Kaggle's copy with kagglehub (pip install "
                            "\".[kaggle]\", Kaggle credentials, the competition's rules "
                            "accepted) or Microsoft's public copy (about 790 MB, no account; "
                            "kept in ~/.keras/datasets/) (default: kaggle where kagglehub and "
                            "Kaggle credentials are set up, else microsoft)")


def parse_args(stages, description, argv=None):
    """Parse convnet.py's flags; --smoke caps the epochs and switches to the sample data."""
    args = make_parser(stages, description).parse_args(argv)
    facts = STAGE_FACTS[args.stage]
    args.output_dir = args.output_dir / args.stage
    if hasattr(args, "weights") and args.weights is None:
        # --smoke needs neither the network nor VGG16's 58 MB (528 MB for visualize's full
        # network): an untrained base, unless --weights names one.
        args.weights = "none" if args.smoke else "imagenet"
    if hasattr(args, "image_size") and args.image_size is None:
        args.image_size = facts.smoke_image_size if args.smoke else IMAGE_SIZE
    if args.smoke:
        args.epochs = min(args.epochs, facts.smoke_epochs)
        if args.stage == "mnist":
            args.data_dir = command_line.SAMPLE_DATA_DIR  # the project's small sample digits
        elif "pictures" in facts.options and not dogs_vs_cats.has_split(args.data_dir):
            # The committed sample pictures, unless --data-dir already holds a (small) split.
            args.data_dir = command_line.SAMPLE_DATA_DIR
        if getattr(args, "steps_per_epoch", None) == stages[args.stage].steps_per_epoch:
            # One pass over the few smoke pictures, or a part of it through VGG16.
            args.steps_per_epoch = facts.smoke_steps
        if "visualize" in facts.options:
            args.filters = min(args.filters, 4)
            args.steps = min(args.steps, 5)
    return args
