"""Run scripts as a Windows Python would meet them, on Linux: tests/test_windows_and_languages.py
starts it (under PYTHONIOENCODING=cp1252, an output folder named with a letter outside it).

    python -X warn_default_encoding tests/windows_like.py WORK_FOLDER

What differs, simulated before the project's code is imported:
- no `fcntl` module: the output folder's lock is msvcrt.locking's (a stand-in here, given
  to command_line: byte-range locks on the real fcntl, refused as Windows does: EACCES);
- no SIGHUP and no SIGKILL; SIGBREAK (Ctrl-Break, a closed console window) exists, played
  by SIGUSR1;
- os.link refused (EPERM), as on a FAT or exFAT drive: the best epoch's model is copied;
- os.fsync refused on a file opened read-only (EBADF), as Windows refuses it;
- every os.replace refused once with a PermissionError, as while an antivirus reads a new
  file, then allowed.

Then, in this one process (TensorFlow is imported once), through command_line.run as
`python files/<script>.py` runs them, writing to this process's own stdout and stderr: a
scratch stage stopped by Ctrl-Break after its first epoch, the same command again (it goes on
from the backup), and `tensors.py --smoke`. After each run one line on stdout:
`=== <name> exit <code>`; last, `=== simulated <JSON counts>`.
"""

import errno
import fcntl as real_fcntl
import json
import os
import signal
import sys
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT / "files"), str(REPO_ROOT / "data")]
COUNTS = {"link_refused": 0, "fsync_refused": 0, "fsync_done": 0, "replace_refused": 0,
          "msvcrt_locks": 0}


def msvcrt_stand_in():
    """msvcrt's locking(fd, mode, nbytes): nbytes from the file's position, refused with
    EACCES when another process holds them (LK_NBLCK)."""
    module = types.ModuleType("msvcrt")
    module.LK_UNLCK, module.LK_LOCK, module.LK_NBLCK = 0, 1, 2

    def locking(fd, mode, nbytes):
        start = os.lseek(fd, 0, os.SEEK_CUR)
        if mode == module.LK_UNLCK:
            real_fcntl.lockf(fd, real_fcntl.LOCK_UN, nbytes, start, os.SEEK_SET)
            return
        try:
            real_fcntl.lockf(fd, real_fcntl.LOCK_EX | real_fcntl.LOCK_NB, nbytes, start,
                             os.SEEK_SET)
        except OSError:
            raise OSError(errno.EACCES, "Permission denied") from None
        COUNTS["msvcrt_locks"] += 1

    module.locking = locking
    return module


def simulate_windows():
    sys.modules["fcntl"] = None  # `import fcntl` fails, as on Windows
    signal.SIGBREAK = signal.SIGUSR1
    del signal.SIGHUP, signal.SIGKILL
    real_fsync, real_replace = os.fsync, os.replace

    def link(*args, **kwargs):
        COUNTS["link_refused"] += 1
        raise OSError(errno.EPERM, "Operation not permitted", args[0])

    def fsync(fd):
        if real_fcntl.fcntl(fd, real_fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            COUNTS["fsync_refused"] += 1
            raise OSError(errno.EBADF, "Bad file descriptor")
        COUNTS["fsync_done"] += 1
        return real_fsync(fd)

    refused = set()

    def replace(source, target, **kwargs):
        if str(target) not in refused:
            refused.add(str(target))
            COUNTS["replace_refused"] += 1
            raise PermissionError(errno.EACCES, "Access is denied", str(source), None,
                                  str(target))
        return real_replace(source, target, **kwargs)

    os.link, os.fsync, os.replace = link, fsync, replace


simulate_windows()

from support import checkpoints, command_line  # noqa: E402  (after the simulation)

# (As `import msvcrt` gives it on Windows: not in sys.modules here, where the standard
# library would take its presence for Windows.)
command_line.msvcrt = msvcrt_stand_in()
assert command_line.fcntl is None

import keras  # noqa: E402


def run(name, script, *args):
    import importlib

    module = importlib.import_module(script)
    code = 0
    try:
        command_line.run(lambda: module.main([str(arg) for arg in args]))
    except SystemExit as exit_info:
        code = exit_info.code if isinstance(exit_info.code, int) else 1
    finally:
        keras.backend.clear_session()
        keras.mixed_precision.set_global_policy("float32")
    sys.stderr.flush()
    print(f"=== {name} exit {code}", flush=True)


def ctrl_break_after_the_first_backup():
    """Ctrl-Break once, as soon as the first epoch's backup is written."""
    write = checkpoints.TrainingRun.write_generation

    def write_then_break(self, *args, **kwargs):
        write(self, *args, **kwargs)
        checkpoints.TrainingRun.write_generation = write
        os.kill(os.getpid(), signal.SIGBREAK)

    checkpoints.TrainingRun.write_generation = write_then_break


def main():
    work = Path(sys.argv[1])
    scratch = ["scratch", "--smoke", "--epochs", "2", "--output-dir", work / "Łukasz"]
    ctrl_break_after_the_first_backup()
    run("scratch stopped", "convnet", *scratch)
    run("scratch resumed", "convnet", *scratch)
    run("tensors", "tensors", "--smoke", "--output-dir", work / "Łukasz" / "tensors")
    print(f"=== simulated {json.dumps(COUNTS)}", flush=True)


if __name__ == "__main__":
    main()
