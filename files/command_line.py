"""The command line every script shares, its output folder, and `run`.

- `make_parser` / `add_common_flags` / `parse_args`: the common flags (--epochs, --batch-size,
  --seed, --data-dir, --output-dir, --smoke, --verbose) with each script's book defaults;
  `int_in_range` and `positive_int` make an impossible value a usage error naming the range;
- `start` seeds everything and checks the output folder (`prepare_output_dir`) before any
  training;
- `start` also takes the output folder's lock (`lock_output_dir`): one run per folder;
- `run` calls a script's `main`: a problem with the reader's input (`InputError`) or a write
  the environment made fail becomes one `error:` line and exit code 2, a stop signal one
  line and exit code 128 + its number; anything else keeps its traceback.

Not in the book scripts: the book's code runs with fixed settings in a notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import interruption
import outputs
from input_errors import InputError

REPO_ROOT = Path(__file__).resolve().parent.parent
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
# each other's backups and checkpoints. An flock on OUTPUT_DIR/.lock is released by the
# kernel when its process ends, however it ends (SIGKILL, a power cut); the file holds the
# holder's process number, emptied when the run releases it, so a number still there names
# a run that was killed.
LOCK_FILE = ".lock"
_held_locks = {}  # folder -> its open lock file, for the runs of this process


def lock_output_dir(folder):
    """Take `folder`'s lock, or end in one `error:` line naming the process that holds it.
    Runs in one process one after the other (the tests) share it."""
    folder = Path(folder).resolve()
    if fcntl is None or folder in _held_locks:  # no flock on Windows
        return
    lock = open(folder / LOCK_FILE, "a+", encoding="utf-8")  # held until released
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "?"
        lock.close()
        raise InputError(f"another run (process {holder}) is writing to {folder}: wait for it "
                         f"to end, or pass another --output-dir") from None
    lock.seek(0)
    earlier = lock.read().strip()
    if earlier and earlier != str(os.getpid()):
        print(f"note: taking over {folder}: process {earlier}, which wrote there, ended "
              f"without releasing it")
    lock.seek(0)
    lock.truncate()
    lock.write(str(os.getpid()))
    lock.flush()
    _held_locks[folder] = lock


def release_output_dirs():
    """Release every output folder this process holds (the lock files stay, emptied)."""
    while _held_locks:
        _, lock = _held_locks.popitem()
        with contextlib.suppress(OSError):
            lock.truncate(0)
            lock.flush()
        lock.close()  # closing releases the flock



def run(main):
    """Call `main()`; a problem with the reader's input (InputError) or a write the
    environment made fail (no space left, ...) becomes one line on stderr and exit code 2; a
    stop signal (Ctrl-C, SIGTERM, SIGHUP) stops the script wherever it is
    (interruption.stopping_on_signals), with `interrupted` and exit code 128 + its number.
    Anything else is a bug in the code and keeps its traceback. The output folders' locks
    are released at the end, however it ends."""
    stop = None
    try:
        with interruption.stopping_on_signals() as stop:
            main()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:  # written by Keras or matplotlib (a checkpoint, a plot)
        message = outputs.write_failure(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        interruption.say_interrupted()
        sys.exit(interruption.exit_code(interruption.stop_signal(stop)))
    finally:
        release_output_dirs()
