"""The command line every script shares, and `run`.

- `make_parser` / `add_common_flags` / `parse_args`: the common flags (--epochs, --batch-size,
  --seed, --data-dir, --output-dir, --smoke, --verbose) with each script's book defaults;
  `int_in_range` and `positive_int` make an impossible value a usage error naming the range
  (convnet.py's subcommands and their flags: stages.py);
- `start` seeds everything, checks the output folder and takes its lock
  (output_folder.prepare_output_dir) before any training: one run per folder;
- `run` calls a script's `main`: a problem with the reader's input (`InputError`) or a write
  the environment made fail becomes one `error:` line and exit code 2, a stop signal one
  line and exit code 128 + its number; anything else keeps its traceback. The output
  folders' locks are released at the end.

Not in the book scripts: the book's code runs with fixed settings in a notebook.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from support import console, output_folder, outputs, smoke, stop_signals
from support.errors import InputError
from support.paths import REPO_ROOT


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


def parse_args(parser, argv=None, smoke_limits=None):
    """Parse the flags; `--smoke` switches to the sample data and holds each flag named in
    `smoke_limits` to its smoke value (smoke.apply; default: at most 2 epochs)."""
    args = parser.parse_args(argv)
    if args.smoke:
        smoke.apply(args, smoke_limits or {"epochs": 2})
    return args


def _env_path(name):
    value = os.environ.get(name)
    return Path(value) if value else None


def start(args):
    """Seed everything, check and lock the output folder, and start the run's clock
    (outputs.start_clock: the `seconds` of metrics.json and of a stopped stage's backup)."""
    import keras

    keras.utils.set_random_seed(args.seed)  # Python, NumPy and the backend in one call
    output_folder.prepare_output_dir(args.output_dir)
    outputs.start_clock()


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
        output_folder.release_output_dirs()
