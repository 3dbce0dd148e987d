r"""Reproduce the book: run every example at the book's settings and compare with the book.

Not a book section: this script runs the others, one after another, exactly as a reader
would (`python files/<script>.py ...` as a subprocess), collects each one's RESULT line and
metrics.json, and writes a table of the book's numbers next to this run's:

  runs/reproduce/results.md    a Markdown table: example, metric, book, measured (median
                               and range over --seeds), wall time, command, verdict
  runs/reproduce/results.json  the same, for programs
  runs/reproduce/results.png   book vs measured, one row per example
  runs/reproduce/book_curves.png  every image stage's validation accuracy beside the book's
                               own run of it (results.json: each example's per-epoch
                               distance from the book's curves, "book_distance")

The verdict is "within" (inside the book's noise band, or better), "below", or "not run"
with the reason (data or weights not available, an earlier stage missing). An example that
crashes is "crashed"; the run then goes on with the others and exits with code 1.

The book's reference numbers live in one place, support/book_numbers.py, which BOOK below
and each example's printed comparison read; each example's header says the same numbers
for readers of that script (tests/test_book_numbers.py).

A shortened run (--epochs NAME=N) says so in its row. --reuse trains nothing: it takes each
example's finished run with the same settings (seed, data, weights, epochs) from the output
folder, or another one (--reuse FOLDER), and marks the rest "not run". --record copies the
finished runs into data/records/ (run_records.py: numbers, settings, curves, machine);
--update-readme writes the README's table from those records alone, so any machine, a fresh
clone included, writes the same table.

Run it:
    python files/reproduce.py --data-dir ~/data                # everything (hours on a CPU)
    python files/reproduce.py --only mnist,reuters --seeds 3   # median of 3 seeds
    python files/reproduce.py --smoke                          # minutes: every example's --smoke
    python files/reproduce.py --data-dir ~/data --weights vgg16_notop.h5 \
        --epochs convnet-finetune=20 --only convnet-features-augment,convnet-finetune
    python files/reproduce.py --data-dir ~/data --weights vgg16_notop.h5 \
        --epochs convnet-finetune=20 --only convnet-features-augment,convnet-finetune \
        --reuse --record --update-readme    # keep those runs, rewrite the README's table
    python files/reproduce.py --reuse --update-readme     # the table from data/records/
    python files/reproduce.py --describe-setup            # this machine, for a bug report
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

# First: importing support checks the Keras backend setting before Keras loads.
from support import (
    command_line,
    console,
    example_runs,
    output_folder,
    reproduce_table,
    run_records,
    setup_report,
)
from support.book_numbers import BOOK as NUMBERS
from support.errors import InputError
from support.paths import REPO_ROOT

SCRIPT = "reproduce"
README = REPO_ROOT / "README.md"

# --------------------------------------------------------------------------------------
# The book's numbers: one entry per example, in the order they run
# --------------------------------------------------------------------------------------
# name: what --only / --skip take. command: the script and its arguments (the book's
# settings are each script's defaults). metric: the RESULT key compared with `book`.
# split: what the book measured its number on. band: how far below the book a result may
# land and still count as reproduced (seed-to-seed noise); above is always fine (for MAE,
# lower is better). minutes: a first guess of the time on a 2-core CPU, replaced by this
# machine's own timings once it has run an example. needs: an earlier stage whose model
# this one reads; needs_epochs: the book's epochs of that stage (a run from a shorter one
# says so). epochs: the book's (what --epochs NAME=N shortens). quick: --seeds repeats it
# (the others run once). weights: a VGG16 stage, which gets --weights.

BOOK = [
    {"name": "mnist", "command": ["mnist.py"], "metric": "test_accuracy",
     "book": NUMBERS["mnist"], "source": "1st ed. 2.1", "split": "test", "band": 0.005,
     "minutes": 1, "epochs": 5, "quick": True},
    {"name": "tensors", "command": ["tensors.py"], "metric": "test_accuracy", "book": None,
     "source": "2nd ed. 2.5 (no number given)", "split": "test", "band": None, "minutes": 1,
     "epochs": 5, "quick": True},
    {"name": "imdb", "command": ["imdb.py"], "metric": "test_accuracy",
     "book": NUMBERS["imdb"], "source": "1st ed. 3.4", "split": "test", "band": 0.01,
     "minutes": 1, "epochs": 20, "quick": True},
    {"name": "reuters", "command": ["reuters.py"], "metric": "test_accuracy",
     "book": NUMBERS["reuters"], "source": "1st ed. 3.5", "split": "test", "band": 0.015,
     "minutes": 2, "epochs": 20, "quick": True},
    {"name": "bostonhousing", "command": ["bostonhousing.py"], "metric": "kfold_mae",
     "book": NUMBERS["bostonhousing"], "source": "1st ed. 3.6 (K-fold)", "split": "validation",
     "band": 0.3, "lower_is_better": True, "minutes": 21, "epochs": 80,
     "extra_metrics": {"test_mae": (NUMBERS["bostonhousing:test_mae"],
                                    "1st ed. 3.6 (final model)", "test")}},
    {"name": "fundamentals", "command": ["fundamentals.py"], "metric": "seconds",
     "book": None, "source": "1st ed. 4.4 (curves, no number)", "split": "-", "band": None,
     "minutes": 3, "epochs": 20},
    {"name": "convnet-mnist", "command": ["convnet.py", "mnist"], "metric": "test_accuracy",
     "book": NUMBERS["convnet-mnist"], "source": "1st ed. 5.1", "split": "test", "band": 0.003,
     "minutes": 2, "epochs": 5},
    {"name": "convnet-scratch", "command": ["convnet.py", "scratch"],
     "metric": "test_accuracy", "book": NUMBERS["convnet-scratch"],
     "source": "1st ed. 5.2 (~72%)", "split": "validation", "band": 0.03, "minutes": 20,
     "epochs": 30},
    {"name": "convnet-augment", "command": ["convnet.py", "augment"],
     "metric": "test_accuracy", "book": NUMBERS["convnet-augment"],
     "source": "1st ed. 5.2 (~82%; 84.4% last epoch)", "split": "validation", "band": 0.03,
     "minutes": 70, "epochs": 100},
    {"name": "convnet-features", "command": ["convnet.py", "features"], "weights": True,
     "metric": "test_accuracy", "book": NUMBERS["convnet-features"],
     "source": "1st ed. 5.3 (~90%)", "split": "validation", "band": 0.02, "minutes": 10,
     "epochs": 30},
    {"name": "convnet-features-augment", "command": ["convnet.py", "features-augment"],
     "weights": True, "metric": "test_accuracy", "book": NUMBERS["convnet-features-augment"],
     "source": "1st ed. 5.3 (~96%)", "split": "validation", "band": 0.02, "minutes": 120,
     "epochs": 30},
    {"name": "convnet-finetune", "command": ["convnet.py", "finetune"],
     "metric": "test_accuracy", "book": NUMBERS["convnet-finetune"], "source": "1st ed. 5.3",
     "split": "test", "band": 0.015, "minutes": 300, "needs": "convnet-features-augment",
     "needs_epochs": 30, "epochs": 100},
    {"name": "convnet-visualize", "command": ["convnet.py", "visualize"], "weights": True,
     "metric": "pngs",
     "book": None, "source": "1st ed. 5.4 (figures)", "split": "-", "band": None,
     "minutes": 10, "needs": "convnet-scratch"},
]
NAMES = [entry["name"] for entry in BOOK]


# --------------------------------------------------------------------------------------
# Main: pick the examples, run them in order with progress, write the results
# --------------------------------------------------------------------------------------


def names_list(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown example {', '.join(unknown)}; "
                                         f"choose from {', '.join(NAMES)}")
    return names


def epochs_list(text):
    epochs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, number = item.partition("=")
        entry = next((entry for entry in BOOK if entry["name"] == name.strip()), None)
        if entry is None or not entry.get("epochs"):
            raise argparse.ArgumentTypeError(
                f"unknown example {name!r}; choose from " + ", ".join(
                    entry["name"] for entry in BOOK if entry.get("epochs")))
        try:
            epochs[entry["name"]] = command_line.positive_int(number)
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"{name}: {error}") from None
    return epochs


def example_args(text):
    name, _, flags = text.partition("=")
    if name.strip() not in NAMES:
        raise argparse.ArgumentTypeError(f"unknown example {name!r}; choose from "
                                         f"{', '.join(NAMES)}")
    flags = flags.split()
    if not flags or len(flags) % 2 or not all(flag.startswith("--") for flag in flags[::2]):
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=\"--flag value ...\"")
    return name.strip(), flags


def make_parser():
    parser = argparse.ArgumentParser(prog="python files/reproduce.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", type=names_list, help="comma-separated examples to run "
                        f"(default: all): {', '.join(NAMES)}")
    parser.add_argument("--skip", type=names_list, default=[],
                        help="comma-separated examples to leave out")
    parser.add_argument("--seeds", type=command_line.int_in_range(1, 20), default=1,
                        help="runs of each quick example (" + ", ".join(
                            entry["name"] for entry in BOOK if entry.get("quick"))
                        + "), seeds 42, 1, 2, ...: the table gives the median and range; "
                          "the others run once (1 to 20; default: %(default)s)")
    parser.add_argument("--weights", type=Path,
                        help="VGG16 weights file for the VGG16 stages (default: Keras's "
                             "ImageNet download; with --smoke, an untrained base)")
    parser.add_argument("--epochs", type=epochs_list, default={}, metavar="NAME=N[,NAME=N]",
                        help="shorten these examples to N epochs (the table says so), e.g. "
                             "convnet-finetune=20")
    parser.add_argument("--args", type=example_args, action="append", default=[],
                        metavar='NAME="--FLAG VALUE ..."',
                        help="more flags for one example, e.g. convnet-visualize=\"--filters "
                             "16\" (the table says its settings are not the book's); repeatable")
    parser.add_argument("--reuse", nargs="?", const=True, type=Path, metavar="FOLDER",
                        help="train nothing: take each example's finished run in the output "
                             "folder (or FOLDER, another reproduce.py output folder): its "
                             "metrics.json, same seed, data, weights and epochs; an example "
                             "without one is 'not run'")
    parser.add_argument("--record", action="store_true",
                        help="copy the finished runs' records (numbers, settings, curves, "
                             "machine) into data/records/, which the README's table is "
                             "written from; not with --smoke")
    parser.add_argument("--records-dir", type=Path, help=argparse.SUPPRESS)  # tests' folder
    parser.add_argument("--data-dir", type=Path, default=os.environ.get("DLWP_DATA_DIR"),
                        help="passed to every example: the folder with Keras's dataset files "
                             "and cats_and_dogs_small/ (also: env DLWP_DATA_DIR)")
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "runs" / SCRIPT,
                        help="where the results and every example's outputs go "
                             "(default: runs/reproduce/)")
    parser.add_argument("--smoke", action="store_true",
                        help="every example's --smoke run instead: minutes, no real data")
    parser.add_argument("--update-readme", nargs="?", const=README, type=Path,
                        metavar="README",
                        help="write the table of the committed records (data/records/, "
                             "after --record) into README.md (or the file given) between "
                             f"{reproduce_table.README_START} and {reproduce_table.README_END}")
    parser.add_argument("--describe-setup", action="store_true",
                        help="print this machine's setup for a bug report (OS, Python, "
                             "TensorFlow / Keras / JAX / PyTorch versions, backend, GPUs, "
                             "bfloat16, the image stages' precision, where data is looked "
                             "for) and run nothing")
    return parser


def estimated_minutes(entry, history):
    """This machine's last time for the example, or the first guess in BOOK."""
    seconds = history.get(entry["name"])
    return seconds / 60 if seconds else entry["minutes"]


def main(argv=None):
    args = make_parser().parse_args(argv)
    if args.describe_setup:
        print(setup_report.report(args.data_dir))
        return
    if args.record and args.smoke:
        raise InputError("--record keeps runs on the real data; a --smoke run is never "
                         "recorded (leave out --record)")
    args.reuse = args.output_dir if args.reuse is True else args.reuse
    started = time.perf_counter()
    output_folder.prepare_output_dir(args.output_dir)
    chosen = [entry for entry in BOOK if (args.only is None or entry["name"] in args.only)
              and entry["name"] not in args.skip]
    seeds = [example_runs.DEFAULT_SEED, *range(1, args.seeds)]
    history = earlier_timings(args)
    rows, image_curves = [], []
    for number, entry in enumerate(chosen, start=1):
        left = sum(estimated_minutes(e, history) * (len(seeds) if e.get("quick") else 1)
                   for e in chosen[number - 1:])
        guess = "" if args.smoke or args.reuse else f", about {left:.0f} min left"
        print(f"[{number}/{len(chosen)}] {entry['name']}: started{guess}", flush=True)
        row, extra_rows, curves = run_or_reuse(entry, args, seeds, rows)
        rows += [row, *extra_rows]
        image_curves += curves
        print_row(f"[{number}/{len(chosen)}] {entry['name']}", row)
    total = time.perf_counter() - started
    table = reproduce_table.write_outputs(args.output_dir, rows, image_curves, total,
                                          run_records.describe_machine())
    print(table)
    if args.update_readme:  # from the records alone, whatever this run did
        reproduce_table.update_readme(args.update_readme, run_records.readme_block(
            BOOK, args.records_dir))
        print(f"updated {args.update_readme} from {args.records_dir or run_records.RECORDS_DIR}")
    print_result(rows, total)


def earlier_timings(args):
    """Each example's seconds in this machine's last full-settings run (results.json), for
    the remaining-time estimate; a damaged or unreadable file only loses the estimate (the
    run rewrites it)."""
    previous = args.output_dir / "results.json"
    if not previous.is_file() or args.smoke:
        return {}
    try:
        return {row["name"]: float(row["seconds"]) for row in
                json.loads(previous.read_text(encoding="utf-8"))["rows"]
                if not row.get("smoke")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        console.say(f"note: {previous} could not be read; estimating times from the book's")
        return {}


def run_or_reuse(entry, args, seeds, rows):
    """Run one example (or take its recorded run, --reuse) once per seed it gets: its row,
    the rows of the book's other numbers it reports, and its curves beside the book's."""
    needed = entry.get("needs")
    if needed and any(row["name"] == needed and row["verdict"] in ("crashed", "not run")
                      for row in rows):
        records = [{"command": " ".join(["python", "files/" + entry["command"][0],
                                         *entry["command"][1:]]),
                    "seconds": 0.0, "seed": seeds[0], "status": "not run",
                    "reason": f"needs {needed}, which did not run"}]
    else:
        records = [example_runs.run_example(entry, args, seed)
                   for seed in (seeds if entry.get("quick") else seeds[:1])]
        if args.reuse and not args.smoke and not any(run["status"] == "ok" for run in records):
            records = run_records.committed_runs(entry, args.records_dir) or records
    epochs, changed = args.epochs.get(entry["name"]), example_runs.extra_flags(args, entry)
    row = reproduce_table.summarize(entry, records, args.smoke, epochs, changed)
    # More numbers of the book from the same runs (bostonhousing's test MAE).
    extra_rows = [reproduce_table.summarize({**entry, "metric": metric, "book": book,
                                             "source": source, "split": split},
                                            records, args.smoke, epochs, changed)
                  for metric, (book, source, split) in entry.get("extra_metrics", {}).items()]
    if args.record:
        record_runs(entry, args, records)
    curves = []
    if records[0]["status"] == "ok" and "metrics_file" not in records[0]:  # committed_runs
        if records[0]["book_distance"]:
            row["book_distance"] = records[0]["book_distance"]
    elif records[0]["status"] == "ok":  # the book's curves beside this run's (seed 42)
        metrics = example_runs.read_metrics_file(Path(records[0]["metrics_file"]))
        distances = run_records.book_distances(metrics)
        if distances:
            row["book_distance"] = distances
        if entry["name"] in reproduce_table.IMAGE_STAGES and metrics.get("book_history"):
            curves.append((entry["name"], metrics))
    return row, extra_rows, curves


def record_runs(entry, args, runs):
    """Copy the finished runs' records into the committed records folder (--record): the
    run's numbers, settings (data and weights by name and content), curves and machine."""
    for run in runs:
        if run["status"] != "ok" or "metrics_file" not in run:  # (committed already)
            continue
        path = Path(run["metrics_file"])
        settings = {"seed": run["seed"], "epochs": args.epochs.get(entry["name"],
                                                                   entry.get("epochs")),
                    "flags": example_runs.extra_flags(args, entry),
                    "data": run_records.data_identity(
                        Path(entry["command"][0]).stem, example_runs.stage_of(entry),
                        args.data_dir and REPO_ROOT / args.data_dir)}
        if entry.get("weights"):
            settings["weights"] = run_records.weights_identity(
                args.weights and REPO_ROOT / args.weights)
        metrics = example_runs.read_metrics_file(path)
        # The script's own time (without starting Python and TensorFlow), the same whether
        # reproduce.py ran it now or --reuse takes it from an earlier run.
        seconds = float(metrics.get("seconds", run["seconds"]))
        record = run_records.make_record(entry, metrics, seconds,
                                         record_command(entry, args, run["seed"]), settings)
        written = run_records.write_record(record, path.stat().st_mtime, args.records_dir)
        print(f"recorded {written.name}", flush=True)


def record_command(entry, args, seed):
    """The command as the README shows it: the default output folder, and the data and
    weights as given when relative (../shared/datasets), else DATA_DIR and WEIGHTS."""
    def generic(path, placeholder):
        if path is None or not Path(path).is_absolute():
            return path
        inside = Path(path).resolve().is_relative_to(REPO_ROOT)
        return Path(path).resolve().relative_to(REPO_ROOT) if inside else placeholder

    shown = argparse.Namespace(**{**vars(args), "data_dir": generic(args.data_dir, "DATA_DIR"),
                                  "weights": generic(args.weights, "WEIGHTS.h5")})
    output_dir = example_runs.example_output_dir(entry, shown, seed, REPO_ROOT / "runs" / SCRIPT)
    return example_runs.shown_command(example_runs.example_command(entry, shown, seed,
                                                                   output_dir))


def print_row(prefix, row):
    shown = reproduce_table.format_value(row["metric"], row.get("measured"))
    book = reproduce_table.format_value(row["metric"], row["book"])
    print(f"{prefix}: {row['verdict']}, {row['metric']} {shown} (book {book}) in "
          f"{row['seconds']:.0f} s" + (f" - {row['reason']}" if row.get("reason") else ""),
          flush=True)


def print_result(rows, total):
    """The RESULT line: how many rows got each verdict; exit code 1 when one crashed."""
    crashed = [row["name"] for row in rows if row["verdict"] == "crashed"]
    counts = {verdict: sum(row["verdict"].startswith(verdict) for row in rows)
              for verdict in ("within", "below", "ran", "not run", "crashed")}
    print(f"RESULT script={SCRIPT} examples={len(rows)} "
          + " ".join(f"{key.replace(' ', '_')}={value}" for key, value in counts.items())
          + f" seconds={total:.1f}", flush=True)
    if crashed:
        console.say(f"error: crashed: {', '.join(crashed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    command_line.run(main)
