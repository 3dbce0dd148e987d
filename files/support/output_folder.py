"""The output folder of a run: checked before any training, and locked, one run per folder.

- `prepare_output_dir` creates --output-dir and makes sure files can be written there before
  any training (a mistake costs seconds, not an hour), then takes its lock;
- `lock_output_dir` / `release_output_dirs`: OUTPUT_DIR/.lock, so that two commands never
  write the same folder at once (`command_line.run` releases every lock at the end).

Not in the book scripts: the book's notebook writes no files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
try:
    import msvcrt
except ImportError:  # everywhere but Windows
    msvcrt = None

from support import console, outputs
from support.errors import InputError, error_reason


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

