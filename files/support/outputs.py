"""What a run writes: files written atomically, the results file and the RESULT line.

- `save_atomically` writes under a temporary name, then renames: a run that is interrupted or
  fails while writing never leaves a half-written file under the final name; a write the
  environment made fail (no space left, a folder gone) becomes `WriteFailed`, one `error:`
  line (`write_failure`) instead of a traceback; `flush_to_disk`, `replace` (a rename
  tried again while another program's handle refuses it, as on Windows) and `file_sha256`
  serve the backups of checkpoints.py too; `save_figure` writes a matplotlib figure (a PNG)
  that way;
- `start_clock` notes when the run started; `finish`, a script's last call, writes
  `metrics.json` (with the book's run beside this one's, and the seconds since the start)
  and prints the closing `RESULT script=... key=value` line (`write_results`), the same
  keys in every script;
- `progress_bar`: Keras's progress bar for long loops that are not `fit`.

Not in the book scripts: the book shows its numbers in a notebook and writes no files.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path

from support.errors import InputError

import numpy as np

OUTPUT_FOLDERS = []  # the folders this run writes into (added by output_folder.prepare_output_dir)


class WriteFailed(InputError):
    """An output file could not be written: no space left, permissions changed, the folder
    gone. Not a bug in the code: `run` prints it as one `error:` line, exit code 2."""


def save_atomically(path, save):
    """Call `save(partial_path)`, then rename the file to `path`: a run that is interrupted
    or fails while writing never leaves a half-written file under the final name, and an
    earlier run's file of that name stays as it was until the new one is complete."""
    path = Path(path)
    partial = path.with_name(f"{path.stem}.partial{path.suffix}")  # keeps .keras, .png
    try:
        save(partial)
        flush_to_disk(partial)  # the bytes reach the disk before the name does
        replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        message = write_failure(error, path)
        if message is None:
            raise
        raise WriteFailed(message) from None
    return path


def save_figure(figure, path):
    """Write a matplotlib figure to `path` as a PNG at 100 dpi (save_atomically), then close
    it (pyplot keeps every open figure in memory). Returns the path."""
    import matplotlib.pyplot as plt

    try:
        return save_atomically(path, lambda partial: figure.savefig(partial, dpi=100,
                                                                    format="png"))
    finally:
        plt.close(figure)


def flush_to_disk(path):
    """Make a file's or a folder's content reach the disk before the next step: after a
    power cut, a rename that reached the disk before the data it names leaves an empty file.
    Windows syncs only a file opened for writing (it refuses the read-only one that Linux and
    macOS sync), and opens no folder: there the folder's own entry is left to the system."""
    for flags in (os.O_RDONLY, os.O_RDWR):  # (opening for writing changes nothing in it)
        try:
            descriptor = os.open(path, flags | getattr(os, "O_BINARY", 0))
        except OSError:  # a folder on Windows, or (for writing) on every system
            return
        try:
            os.fsync(descriptor)
            return
        except OSError:  # a folder some file systems cannot sync; read-only on Windows
            pass
        finally:
            os.close(descriptor)


# A rename that another program's open handle refuses (Windows: an antivirus or a search
# indexer reading the new file, a sync tool, an Explorer preview): tried again meanwhile.
RENAME_WAITS = (0.05, 0.1, 0.2, 0.4)  # seconds between the tries


def replace(source, target):
    """os.replace, tried again for about a second while the system refuses it with a
    PermissionError (Windows refuses to rename a file another program holds open); the last
    refusal is raised, and write_failure names it as a refused rename."""
    for wait in RENAME_WAITS:
        try:
            return os.replace(source, target)
        except PermissionError:
            time.sleep(wait)
    return os.replace(source, target)


def file_sha256(path):
    """A file's SHA-256, as hex digits (read a megabyte at a time)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# What the environment, not the code, does to a write: always (a full disk, a quota, a
# read-only file system), or in an output folder (permissions changed, the folder removed
# while the run went on). The same errors elsewhere may be bugs and keep their traceback.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}
OUTPUT_FOLDER_ERRNOS = {errno.EACCES, errno.EPERM, errno.ENOENT}


def write_failure(error, path=None):
    """One line for an OSError that the environment caused while writing an output, or
    None when it may be a bug."""
    if isinstance(error, PermissionError) and error.filename2 is not None:  # a rename
        return (f"could not rename {error.filename} to {error.filename2} ({error.strerror}), "
                f"tried for a second: another program holds one of them open (on Windows: "
                f"an antivirus, a backup or sync tool, a file browser's preview), or the "
                f"folder's permissions changed; files of earlier runs are kept as they were. "
                f"Close that program or wait for it, and run again.")
    path = path or error.filename
    in_output = path is not None and any(
        Path(path).resolve().is_relative_to(folder) for folder in OUTPUT_FOLDERS)
    if error.errno in ENVIRONMENT_ERRNOS or (error.errno in OUTPUT_FOLDER_ERRNOS and in_output):
        reason = os.strerror(error.errno)
        return (f"could not write {path or 'an output file'} ({reason}); files of earlier "
                f"runs are kept as they were. Make room or fix the folder (or pass "
                f"--output-dir elsewhere) and run again.")
    return None


def _clean(value):
    """JSON-friendly numbers: NumPy scalars to Python, floats rounded for reading."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isfinite(value):
        return round(value, 6)
    return value


def start_clock():
    """Note when the run started (command_line.start calls it): the `seconds` of `finish`,
    and of a stopped stage's backup (checkpoints.py), count from there."""
    global STARTED
    STARTED = time.perf_counter()


STARTED = None  # time.perf_counter() when start_clock last ran


def finish(args, script, results, details=None, book=None):
    """The end of every script: `metrics.json` and the closing RESULT line (write_results),
    with `seconds` since the run started (`start_clock`; plus `details["seconds_before"]`:
    the earlier parts of a stage resumed after a stop) and, beside each history of `details`
    named in `book` ({key: (the book's run of it, support.book_curves.of; training examples
    one of this run's epochs covered)}), the book's run and the distance of this run's
    curves from it."""
    details = dict(details or {})
    seconds = details.pop("seconds_before", 0.0) + time.perf_counter() - STARTED
    beside = {key: run and run.beside(details[key], examples_per_epoch)
              for key, (run, examples_per_epoch) in (book or {}).items()}
    if any(value is not None for value in beside.values()):
        details["book_history"] = beside
    return write_results(args, script, {**results, "seconds": seconds}, extra=details)


def write_results(args, script, results, extra=None):
    """Write `metrics.json` and print the closing line `RESULT script=<name> key=value ...`,
    which ends with the Keras backend that ran (`backend=tensorflow`).

    `results` holds the headline numbers (they go on the RESULT line and into the JSON);
    `extra` holds anything else worth keeping (histories, per-fold scores, settings).
    """
    import keras

    results = {**results, "backend": keras.backend.backend()}  # tensorflow, jax or torch
    record = {"script": script, **_clean(results)}
    extra = dict(extra or {})
    book = extra.pop("book_history", None)  # the book's numbers stay exactly as printed
    record.update(_clean(extra))
    if book is not None:
        record["book_history"] = book
    record["settings"] = {key: str(value) if isinstance(value, Path) else value
                          for key, value in sorted(vars(args).items())}
    path = save_atomically(
        Path(args.output_dir) / "metrics.json",
        lambda partial: partial.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8",
                                           newline="\n"))
    fields = " ".join(f"{key}={_format(key, value)}" for key, value in results.items())
    print(f"RESULT script={script} {fields}", flush=True)
    return path


def _format(key, value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.1f}" if key.endswith("seconds") else f"{value:.4f}"
    return str(value)


def progress_bar(steps, verbose, unit_name="step"):
    """Keras's progress bar for a long loop (nothing with --verbose 0). Redrawn in place on
    a terminal; in a log file, a new line each minute at most."""
    import keras

    interactive = sys.stdout.isatty()
    return keras.utils.Progbar(steps if steps >= 0 else None, verbose=1 if verbose else 0,
                               interval=0.5 if interactive else 60, unit_name=unit_name)
