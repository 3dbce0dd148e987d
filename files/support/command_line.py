"""The command line every script shares, convnet.py's stages, the output folder, and `run`.

- `make_parser` / `add_common_flags` / `parse_args`: the common flags (--epochs, --batch-size,
  --seed, --data-dir, --output-dir, --smoke, --verbose) with each script's book defaults;
  `int_in_range` and `positive_int` make an impossible value a usage error naming the range;
- `Stage`, `make_stage_parser` / `parse_stage_args`: convnet.py's subcommands, each with
  one settings record (the book's values, the smoke run's, the smallest picture);
- `start` seeds everything, checks the output folder (`prepare_output_dir`) before any
  training and takes its lock (`lock_output_dir`): one run per folder;
- `run` calls a script's `main`: a problem with the reader's input (`InputError`) or a write
  the environment made fail becomes one `error:` line and exit code 2, a stop signal one
  line and exit code 128 + its number; anything else keeps its traceback.

Not in the book scripts: the book's code runs with fixed settings in a notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import os
import sys
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
try:
    import msvcrt
except ImportError:  # everywhere but Windows
    msvcrt = None

from support import console, outputs, stop_signals
from support.errors import InputError, error_reason
from support.paths import REPO_ROOT

SAMPLE_DATA_DIR = REPO_ROOT / "data" / "sample"  # what --smoke reads


def int_in_range(low, high=None):
    """argparse type: an integer in [low, high] (high None: no upper limit), so an
    impossible value such as `--epochs 0` is a usage error that names the range."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            allowed = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {value}")
        return value

    parse.__name__ = "integer"  # what argparse calls the type in its messages
    return parse


positive_int = int_in_range(1)
positive_int.__doc__ = "argparse type: an integer >= 1 (so `--epochs 0` is a usage error)."
SEED_RANGE = (0, 2**32 - 1)  # what NumPy's seeding accepts


def add_common_flags(parser, script, epochs, batch_size):
    """Add the flags every script shares, with this script's book defaults."""
    group = parser.add_argument_group("common options")
    group.add_argument("--epochs", type=positive_int, default=epochs,
                       help="training epochs (default: %(default)s)")
    group.add_argument("--batch-size", type=positive_int, default=batch_size,
                       help="mini-batch size (default: %(default)s)")
    group.add_argument("--seed", type=int_in_range(*SEED_RANGE), default=42,
                       help="seeds Python, NumPy and the backend, 0 to 2**32-1 "
                            "(default: %(default)s)")
    group.add_argument("--data-dir", type=Path, default=_env_path("DLWP_DATA_DIR"),
                       help="read Keras's dataset files from this folder instead of downloading "
                            "them (also: env DLWP_DATA_DIR)")
    group.add_argument("--output-dir", type=Path, default=REPO_ROOT / "runs" / script,
                       help=f"where plots and metrics.json go (default: runs/{script}/)")
    group.add_argument("--smoke", action="store_true",
                       help="tiny run on the project's sample data in data/sample/: "
                            "seconds, no network")
    group.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2,
                       help="Keras fit verbosity: 0 silent, 1 progress bar, 2 one line "
                            "per epoch (default: %(default)s)")
    return parser


def make_parser(script, doc, epochs, batch_size):
    """An ArgumentParser whose description is the script's docstring, plus the common flags."""
    parser = argparse.ArgumentParser(
        prog=f"python files/{script}.py",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_common_flags(parser, script, epochs, batch_size)


def parse_args(parser, argv=None, smoke_epochs=2):
    """Parse the flags; `--smoke` switches to the sample data and caps the epochs."""
    args = parser.parse_args(argv)
    if args.smoke:
        args.data_dir = SAMPLE_DATA_DIR
        args.epochs = min(args.epochs, smoke_epochs)
    return args


def _env_path(name):
    value = os.environ.get(name)
    return Path(value) if value else None


def start(args):
    """Seed everything, check and lock the output folder, and return a start time for
    `seconds` (kept in STARTED too: a backup counts the time of a run's every part)."""
    import keras

    global STARTED
    keras.utils.set_random_seed(args.seed)  # Python, NumPy and the backend in one call
    prepare_output_dir(args.output_dir)
    STARTED = time.perf_counter()
    return STARTED


STARTED = None  # time.perf_counter() when `start` last ran


def prepare_output_dir(folder):
    """Create `folder` and make sure files can be written there, before any training: a
    mistake in --output-dir then costs seconds, not an hour of training."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        what = "is not a folder" if folder.exists() and not folder.is_dir() else \
            f"cannot be created or written ({error.strerror or error})"
        raise InputError(f"output folder {folder} {what}; pass --output-dir with a folder "
                         f"you can write to") from None
    lock_output_dir(folder)
    outputs.OUTPUT_FOLDERS.append(folder.resolve())  # for outputs.write_failure
    return folder


# One run per output folder: two commands writing the same folder at once would overwrite
# each other's backups and checkpoints. A lock on OUTPUT_DIR/.lock (flock on Linux and
# macOS, msvcrt.locking of one byte past the file's text on Windows) is released by the
# operating system when its process ends, however it ends (SIGKILL, a power cut); the file
# holds the holder's process number, emptied when the run releases it, so a number still
# there names a run that was killed. Only a lock another process holds refuses a run: a
# file system that cannot lock (NFS without its lock daemon, some network and VM shares)
# gets one `note:` line, and the run goes on without the lock.
LOCK_FILE = ".lock"
LOCK_OFFSET = 1 << 20  # where Windows' lock sits: locked bytes cannot be read there
# What a lock held by another process raises: flock's, and msvcrt.locking's on Windows.
HELD_ELSEWHERE = {errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES}
HELD_ELSEWHERE_WINDOWS = HELD_ELSEWHERE | {errno.EDEADLK}
_held_locks = {}  # folder -> its open lock file, for the runs of this process


def _lock(file):
    """Lock `file` without waiting; OSError as the operating system refused it."""
    if fcntl is not None:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    else:
        os.lseek(file.fileno(), LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)


def _unlock(file):
    if fcntl is None and msvcrt is not None:  # (flock's goes with the file's closing)
        with contextlib.suppress(OSError):
            os.lseek(file.fileno(), LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(file.fileno(), msvcrt.LK_UNLCK, 1)


def lock_output_dir(folder):
    """Take `folder`'s lock, or end in one `error:` line naming the process that holds it.
    Runs in one process one after the other (the tests) share it. Where no lock can be
    taken for another reason, one `note:` line says so and the run goes on."""
    folder = Path(folder).resolve()
    if folder in _held_locks:
        return
    if fcntl is None and msvcrt is None:
        console.say(f"note: no file locking on this system: nothing stops another run from "
                    f"writing to {folder} meanwhile")
        return
    try:
        lock = open(folder / LOCK_FILE, "a+", encoding="utf-8")  # held until released
    except OSError as error:
        _go_on_unlocked(folder, error)
        return
    try:
        _lock(lock)
    except OSError as error:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        held = HELD_ELSEWHERE if fcntl is not None else HELD_ELSEWHERE_WINDOWS
        if error.errno not in held:
            _go_on_unlocked(folder, error)
            return
        raise InputError(f"another run (process {holder}) is writing to {folder}: wait for it "
                         f"to end, or pass another --output-dir") from None
    lock.seek(0)
    earlier = lock.read().strip()
    if earlier and earlier != str(os.getpid()):
        console.say(f"note: taking over {folder}: process {earlier}, which wrote there, ended "
                    f"without releasing it")
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    _held_locks[folder] = lock


def _go_on_unlocked(folder, error):
    reason = error.strerror or error_reason(error)
    console.say(f"note: could not lock {folder} ({reason}): the run goes on, but nothing "
                f"stops another run from writing there meanwhile")


def release_output_dirs():
    """Release every output folder this process holds (the lock files stay, emptied)."""
    while _held_locks:
        _, lock = _held_locks.popitem()
        with contextlib.suppress(OSError):
            lock.seek(0)
            lock.truncate(0)
            lock.flush()
        _unlock(lock)
        lock.close()  # closing releases the flock



# --------------------------------------------------------------------------------------
# convnet.py: one subcommand per stage
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stage:
    """One stage of convnet.py (a subcommand) and its settings, in one record:

    - the book's: `epochs`, `batch_size`, `steps_per_epoch` (None: one pass over the
      training pictures), `learning_rate`;
    - the command line's: `options`, the flag groups it takes ("pictures": --image-size;
      "training": --steps-per-epoch and --mixed-precision; "weights": VGG16's --weights;
      "visualize" and "prepare": their own flags), and `min_image_size`, the smallest
      picture its network takes;
    - what --smoke runs: at most `smoke_epochs` epochs of `smoke_image_size` pictures,
      `smoke_steps` batches an epoch (None: one pass over the sample pictures).
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


IMAGE_SIZE = 150  # the book resizes every picture to 150x150
MAX_IMAGE_SIZE = 1024  # 2,000 cached pictures at 1024 px already take 6 GB of memory

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


def make_stage_parser(stages, description, script="convnet"):
    """The parser of convnet.py: `stages` is its {name: (function, Stage)} table."""
    parser = argparse.ArgumentParser(prog=f"python files/{script}.py", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for name, (_, stage) in stages.items():
        text = f"{stage.summary}.\n\nOutputs go to OUTPUT_DIR/{name}/."
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


def has_split(data_dir):
    from support import picture_pipeline  # (here: only convnet.py's stages need TensorFlow)

    return picture_pipeline.has_split(data_dir)


def parse_stage_args(stages, description, argv=None):
    """Parse convnet.py's flags; --smoke caps the epochs and switches to the sample data.
    The command line is kept in COMMAND (a stopped run's backup shows it)."""
    global COMMAND
    args = make_stage_parser(stages, description).parse_args(argv)
    COMMAND = list(sys.argv) if argv is None else ["files/convnet.py", *map(str, argv)]
    stage = stages[args.stage][1]
    args.output_dir = args.output_dir / args.stage
    if hasattr(args, "weights") and args.weights is None:
        # --smoke needs neither the network nor VGG16's 58 MB (528 MB for visualize's full
        # network): an untrained base, unless --weights names one.
        args.weights = "none" if args.smoke else "imagenet"
    if hasattr(args, "image_size") and args.image_size is None:
        args.image_size = stage.smoke_image_size if args.smoke else IMAGE_SIZE
    if args.smoke:
        args.epochs = min(args.epochs, stage.smoke_epochs)
        if args.stage == "mnist":
            args.data_dir = SAMPLE_DATA_DIR  # the project's small sample digits
        elif "pictures" in stage.options and not has_split(args.data_dir):
            # The committed sample pictures, unless --data-dir already holds a (small) split.
            args.data_dir = SAMPLE_DATA_DIR
        if getattr(args, "steps_per_epoch", None) == stage.steps_per_epoch:
            # One pass over the few smoke pictures, or a part of it through VGG16.
            args.steps_per_epoch = stage.smoke_steps
        if "visualize" in stage.options:
            args.filters = min(args.filters, 4)
            args.steps = min(args.steps, 5)
    return args


COMMAND = None  # the command line parse_stage_args last read: [script, arguments...]


def run(main):
    """Call `main()`; a problem with the reader's input (InputError) or a write the
    environment made fail (no space left, ...) becomes one line on stderr and exit code 2; a
    stop signal (Ctrl-C, SIGTERM, SIGHUP, Ctrl-Break) stops the script wherever it is
    (stop_signals.stopping_on_signals), with `interrupted` and exit code 128 + its number.
    Anything else is a bug in the code and keeps its traceback. The output folders' locks
    are released at the end, however it ends."""
    stop = None
    try:
        with console.tracking_lines():  # (errors start a line, after a progress bar too)
            try:
                with stop_signals.stopping_on_signals() as stop:
                    main()
            except InputError as error:
                console.say(f"error: {error}", file=sys.stderr)
                sys.exit(2)
            except OSError as error:  # written by Keras or matplotlib (a checkpoint, a plot)
                message = outputs.write_failure(error)
                if message is None:
                    raise
                console.say(f"error: {message}", file=sys.stderr)
                sys.exit(2)
            except KeyboardInterrupt:
                stop_signals.say_interrupted()
                sys.exit(stop_signals.exit_code(stop_signals.stop_signal(stop)))
    finally:
        release_output_dirs()
