"""Every system and every language (files/support/console.py, the Windows paths of
command_line.py, output_folder.py, outputs.py, stop_signals.py, run_records.py): output no
character can crash, `error:` lines that start a line of their own, the output folder's
lock where it cannot be taken, and the promises of files/README.md on a Windows-like Python.

The Windows-like runs simulate on Linux, in this process, what differs there: no fcntl, no
SIGHUP or SIGKILL, Ctrl-Break, hard links refused, a read-only fsync refused, renames refused
once; writing in a legacy code page (cp1252) into a folder named with a letter outside it.
The GitHub workflow runs the whole suite on real Windows and macOS."""

import contextlib
import errno
import http.server
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import types
from pathlib import Path

from support import command_line, console, getting_pictures, output_folder, outputs, run_records
from support.errors import InputError

import pytest

from harness import REPO_ROOT, process_environment

try:
    import fcntl
except ImportError:
    fcntl = None

NAME = "Łukasz"  # not in cp1252, the code page of a Western European Windows


# --- A Windows-like Python, a legacy code page ---------------------------------------------


def msvcrt_stand_in(counts):
    """msvcrt's locking(fd, mode, nbytes) on POSIX's byte-range locks: nbytes from the
    file's position, refused with EACCES where another process holds them (LK_NBLCK)."""
    def locking(fd, mode, nbytes):
        start = os.lseek(fd, 0, os.SEEK_CUR)
        if mode == 0:  # LK_UNLCK
            fcntl.lockf(fd, fcntl.LOCK_UN, nbytes, start, os.SEEK_SET)
            return
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, nbytes, start, os.SEEK_SET)
        except OSError:
            raise OSError(errno.EACCES, "Permission denied") from None
        counts["msvcrt_locks"] += 1

    return types.SimpleNamespace(LK_UNLCK=0, LK_LOCK=1, LK_NBLCK=2, locking=locking)


@pytest.fixture
def windows_like(monkeypatch):
    """This process as a Windows Python meets the scripts: no fcntl (the lock is msvcrt's),
    no SIGHUP or SIGKILL but SIGBREAK (played by SIGUSR1), hard links refused as on FAT and
    exFAT, fsync refused on a file opened read-only, each rename refused once (an
    antivirus reading the new file). Yields the counts of what the simulation met."""
    if fcntl is None or not hasattr(signal, "SIGUSR1"):
        pytest.skip("simulates Windows with POSIX's fcntl and SIGUSR1")
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers need the main thread")
    counts = dict.fromkeys(("msvcrt_locks", "link_refused", "fsync_refused", "fsync_done",
                            "replace_refused"), 0)
    monkeypatch.setattr(output_folder, "fcntl", None)
    monkeypatch.setattr(output_folder, "msvcrt", msvcrt_stand_in(counts))
    monkeypatch.delattr(signal, "SIGHUP")
    monkeypatch.delattr(signal, "SIGKILL")
    monkeypatch.setattr(signal, "SIGBREAK", signal.SIGUSR1, raising=False)
    real_fsync, real_replace, refused = os.fsync, os.replace, set()

    def link(source, *args, **kwargs):
        counts["link_refused"] += 1
        raise OSError(errno.EPERM, "Operation not permitted", str(source))

    def fsync(fd):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            counts["fsync_refused"] += 1
            raise OSError(errno.EBADF, "Bad file descriptor")
        counts["fsync_done"] += 1
        return real_fsync(fd)

    def replace(source, target, **kwargs):
        if str(target) not in refused:
            refused.add(str(target))
            counts["replace_refused"] += 1
            raise PermissionError(errno.EACCES, "Access is denied", str(source), None,
                                  str(target))
        return real_replace(source, target, **kwargs)

    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    # The same tries, 1 ms apart rather than the 50 ms a real antivirus gets: a stage run
    # writes a few dozen files, each refused once here.
    monkeypatch.setattr(outputs, "RENAME_WAITS", (0.001,) * len(outputs.RENAME_WAITS))
    return counts


def run_in_cp1252(main):
    """command_line.run(main) writing to streams in cp1252 that refuse what it cannot hold,
    as a process's redirected output on a Western European Windows, set up as the scripts
    set up theirs (console.setup): (exit code, stdout, stderr)."""
    import keras

    raw = io.BytesIO(), io.BytesIO()
    streams = [io.TextIOWrapper(buffer, encoding="cp1252") for buffer in raw]
    saved, code = (sys.stdout, sys.stderr), 0
    sys.stdout, sys.stderr = streams
    try:
        console.setup()
        command_line.run(main)
    except SystemExit as exit_info:
        code = exit_info.code
    finally:
        for stream in streams:
            stream.flush()
        sys.stdout, sys.stderr = saved
        keras.backend.clear_session()
    return code, *(buffer.getvalue().decode("cp1252") for buffer in raw)  # (strict)


@pytest.mark.training
def test_a_stage_stopped_by_ctrl_break_goes_on_on_a_windows_like_python_under_cp1252(
        windows_like, tmp_path, monkeypatch):
    from support import checkpoints

    import convnet

    folder = tmp_path / NAME
    argv = ["scratch", "--smoke", "--epochs", "2", "--output-dir", str(folder), "--verbose", "0"]
    write = checkpoints.TrainingRun.write_generation

    def write_then_ctrl_break(self, *args, **kwargs):  # once, after the first epoch's backup
        write(self, *args, **kwargs)
        monkeypatch.setattr(checkpoints.TrainingRun, "write_generation", write)
        os.kill(os.getpid(), signal.SIGBREAK)

    monkeypatch.setattr(checkpoints.TrainingRun, "write_generation", write_then_ctrl_break)
    code, out, err = run_in_cp1252(lambda: convnet.main(argv))
    assert (code, err.splitlines()[-1]) == (128 + signal.SIGUSR1, "interrupted"), err
    backup = folder / "scratch" / "backup"
    assert [path.name for path in backup.iterdir()] == ["epoch-0001"]

    code, out, err = run_in_cp1252(lambda: convnet.main(argv))
    assert code == 0 and "Traceback" not in out + err, err
    shown = str(folder).replace(NAME, "?ukasz")  # as cp1252 writes it
    assert f"resuming after epoch 1 of 2: the stopped run's progress is in {shown}" in out
    assert f"model saved to {shown}" in out and out.splitlines()[-1].startswith("RESULT ")
    metrics = json.loads((folder / "scratch" / "metrics.json").read_text("utf-8"))
    assert len(metrics["history"]["loss"]) == 2 and metrics["parts"] == 2
    assert not backup.exists()
    assert (folder / "scratch" / ".lock").read_text("utf-8") == ""  # released
    assert windows_like["msvcrt_locks"] == 2 and windows_like["replace_refused"] > 0
    assert windows_like["fsync_refused"] > 0 and windows_like["fsync_done"] > 0


def test_a_backend_error_naming_a_folder_outside_the_code_page_is_one_line(tmp_path):
    # A real process: its stream's encoding (PYTHONIOENCODING) is under test. The backend
    # check ends it before Keras loads, so it takes about a second.
    home = tmp_path / NAME
    home.mkdir()
    (home / "keras.json").write_text('{"backend": "theano"}', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "files" / "mnist.py"), "--smoke"], cwd=REPO_ROOT,
        capture_output=True, timeout=120, env=process_environment(
            {"PYTHONIOENCODING": "cp1252", "KERAS_HOME": str(home), "KERAS_BACKEND": ""}))
    err = done.stderr.decode("cp1252")
    assert done.returncode == 2 and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith(
        f"error: Keras backend 'theano' (from {str(home).replace(NAME, '?ukasz')}")


# --- Lines of their own -------------------------------------------------------------------


def run_into_one_stream(main):
    """command_line.run(main) with stdout and stderr in one stream, as a terminal or a log
    (`> log.txt 2>&1`) shows them: (exit code, the text)."""
    both = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(both), contextlib.redirect_stderr(both):
        try:
            command_line.run(main)
        except SystemExit as exit_info:
            code = exit_info.code
    return code, both.getvalue()


def test_an_error_after_a_progress_bar_starts_a_line_of_its_own():
    def main():
        sys.stdout.write("3/10 \u2501\u2501\u2501 0s/step")  # a bar, its line unfinished
        raise InputError("the pictures are not there")

    code, text = run_into_one_stream(main)
    assert code == 2
    assert text == "3/10 \u2501\u2501\u2501 0s/step\nerror: the pictures are not there\n"
    # A finished line gets no empty one after it; a note starts its own line too.
    code, text = run_into_one_stream(lambda: (print("done"), console.say("note: a"),
                                              sys.stdout.write("1/2 ="), console.say("note: b")))
    assert (code, text) == (0, "done\nnote: a\n1/2 =\nnote: b\n")


def test_what_the_encoding_cannot_hold_is_replaced():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="cp1252", errors=console.ERRORS)
    stream.write(f"runs/{NAME} \u2501\u2501 caf\u00e9\n")
    stream.flush()
    assert raw.getvalue().decode("cp1252") == "runs/?ukasz == caf\u00e9\n"


class HalfAZip(http.server.BaseHTTPRequestHandler):
    """Says a zip of 2,000,000 bytes comes, sends half of it and closes the connection."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2000000")
        self.end_headers()
        self.wfile.write(b"PK" + bytes(999_998))
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def loopback_allowed(monkeypatch):
    """Connections to 127.0.0.1 only, past conftest's network block (the real calls)."""
    import _socket

    def create_connection(address, timeout=None, *args, **kwargs):
        assert address[0] == "127.0.0.1", address
        connection = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if timeout is not None and timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:
            connection.settimeout(timeout)
        _socket.socket.connect(connection, address)
        return connection

    monkeypatch.setattr(socket, "create_connection", create_connection)
    server = http.server.HTTPServer(("127.0.0.1", 0), HalfAZip)
    # shutdown() waits for the server's next poll: every 0.05 s, not the default 0.5 s.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/kagglecatsanddogs_5340.zip"
    finally:
        server.shutdown()
        server.server_close()


def test_a_download_cut_halfway_ends_in_an_error_line_of_its_own(tmp_path, monkeypatch):
    import convnet

    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with loopback_allowed(monkeypatch) as url:
        monkeypatch.setattr(getting_pictures, "MICROSOFT_URL", url)
        code, text = run_into_one_stream(lambda: convnet.main([
            "prepare", "--download", "microsoft", "--data-dir", str(tmp_path / "data"),
            "--output-dir", str(tmp_path / "runs"), "--verbose", "1"]))
    assert code == 2, text
    assert "/step\nerror: could not download" in text  # the bar's line ended, then the error
    errors = [line for line in text.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(
        "error: could not download Microsoft's copy of the pictures"), text
    assert "Traceback" not in text
    assert not (tmp_path / "data").exists()
    assert list((home / "datasets").iterdir()) == []  # nothing half downloaded left


# --- The output folder's lock -------------------------------------------------------------


def test_a_lock_the_file_system_cannot_take_is_a_note_and_the_run_goes_on(
        tmp_path, monkeypatch, capsys):
    def no_locks(file):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))  # NFS without its lock daemon

    monkeypatch.setattr(output_folder, "_lock", no_locks)
    command_line.run(lambda: output_folder.prepare_output_dir(tmp_path / "runs"))
    out = capsys.readouterr().out
    assert out == (f"note: could not lock {tmp_path / 'runs'} ({os.strerror(errno.ENOLCK)}): "
                   f"the run goes on, but nothing stops another run from writing there "
                   f"meanwhile\n")


@pytest.mark.parametrize("windows", [False, True])
def test_only_a_lock_another_process_holds_refuses_a_run(tmp_path, monkeypatch, capsys,
                                                         windows):
    held = errno.EDEADLK if windows else errno.EWOULDBLOCK  # msvcrt.locking's, flock's

    def held_elsewhere(file):
        raise OSError(held, os.strerror(held))

    if windows:
        monkeypatch.setattr(output_folder, "fcntl", None)
        monkeypatch.setattr(output_folder, "msvcrt", object())
    monkeypatch.setattr(output_folder, "_lock", held_elsewhere)
    (tmp_path / ".lock").write_text("4242", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        command_line.run(lambda: output_folder.prepare_output_dir(tmp_path))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: another run (process 4242) is writing")


def test_where_no_lock_exists_a_note_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(output_folder, "fcntl", None)
    monkeypatch.setattr(output_folder, "msvcrt", None)
    command_line.run(lambda: output_folder.prepare_output_dir(tmp_path))
    assert capsys.readouterr().out.startswith("note: no file locking on this system")


# --- Flushes and renames as Windows does them ---------------------------------------------


@pytest.mark.skipif(fcntl is None, reason="tells a read-only descriptor by fcntl")
def test_a_flush_refused_read_only_syncs_the_file_opened_for_writing(tmp_path, monkeypatch):
    synced, real_fsync = [], os.fsync

    def fsync(fd):  # as Windows: only a file opened for writing
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, "Bad file descriptor")
        synced.append(fd)
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "model.keras"
    path.write_bytes(b"weights")
    outputs.flush_to_disk(path)
    outputs.flush_to_disk(tmp_path)  # a folder: nothing to open for writing, no error
    assert len(synced) == 1 and path.read_bytes() == b"weights"


def test_a_rename_refused_is_tried_again_then_reported_as_what_it_is(tmp_path, monkeypatch):
    tries, real_replace = [], os.replace

    def replace(source, target, refusals):
        tries.append(target)
        if len(tries) <= refusals:  # an antivirus reading the new file meanwhile
            raise PermissionError(errno.EACCES, "Access is denied", str(source), None,
                                  str(target))
        return real_replace(source, target)

    monkeypatch.setattr(outputs, "RENAME_WAITS", (0.0,) * 4)
    monkeypatch.setattr(os, "replace", lambda source, target: replace(source, target, 1))
    path = tmp_path / "metrics.json"
    outputs.save_atomically(path, lambda partial: partial.write_text("{}", encoding="utf-8"))
    assert path.read_text(encoding="utf-8") == "{}" and len(tries) == 2

    tries.clear()
    monkeypatch.setattr(os, "replace", lambda source, target: replace(source, target, 99))
    with pytest.raises(outputs.WriteFailed) as failed:
        outputs.save_atomically(path, lambda partial: partial.write_text("[]", "utf-8"))
    assert len(tries) == 5
    assert str(failed.value).startswith(
        f"could not rename {tmp_path / 'metrics.partial.json'} to {path} (Access is denied), "
        f"tried for a second: another program holds one of them open")
    assert path.read_text(encoding="utf-8") == "{}"  # the earlier file, kept
    assert not (tmp_path / "metrics.partial.json").exists()


def test_a_refused_download_is_looked_for_in_the_system_s_temporary_folder(
        tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "not_writable"))
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "TEMP"))
    refused = tmp_path / "TEMP" / ".keras" / "datasets" / getting_pictures.MICROSOFT_ZIP
    refused.parent.mkdir(parents=True)
    refused.write_bytes(b"PK half")
    message = getting_pictures.not_the_expected_zip()
    assert "(7 bytes); the file was removed" in message and not refused.exists()


# --- Records the same on every system -----------------------------------------------------


def test_unknown_cpu_flags_are_said_as_unknown(monkeypatch):
    real_read_text = Path.read_text

    def read_text(path, *args, **kwargs):
        if str(path) == "/proc/cpuinfo":  # macOS and Windows have none
            raise FileNotFoundError(path)
        return real_read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    machine = run_records.describe_machine()
    assert machine["cpu_flags"] is None
    record = {"machine": machine}
    line = run_records.describe_machines([{"machine": machine["name"]}], [record])
    assert "(CPU flags unknown)" in line and "AVX2" not in line
    assert run_records.machine_key(machine)[-1] is None


def test_data_identities_and_commands_use_forward_slashes(tmp_path):
    import hashlib

    from support import example_runs

    folder = tmp_path / "cats_and_dogs_small"
    (folder / "train" / "cats").mkdir(parents=True)
    (folder / "train" / "cats" / "cat.0.jpg").write_bytes(b"cat")
    digest = hashlib.sha256(b"train/cats/cat.0.jpg\0cat").hexdigest()[:16]
    assert run_records.file_hash([folder / "train" / "cats" / "cat.0.jpg"], folder) == digest
    command = [sys.executable, str(REPO_ROOT / "files" / "convnet.py"), "scratch",
               "--output-dir", str(REPO_ROOT / "runs" / "reproduce" / "examples")]
    assert example_runs.shown_command(command) == (
        "python files/convnet.py scratch --output-dir runs/reproduce/examples")
