"""The run harness of the tests: run a chapter script (in this process, or as a real
subprocess where the process itself is under test), read what it left behind, and the
assertions and stand-ins several test modules share. Test modules import it by name
(`from harness import run_script, ...`); conftest.py holds the fixtures and hooks."""

import contextlib
import gc
import importlib
import io
import json
import math
import os
import re
import select
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
FILES = REPO_ROOT / "files"


def share_the_cores(workers):
    """Each of pytest-xdist's `workers` (and the processes it starts: other backends, real
    script runs) computes on its share of the cores. Left alone, TensorFlow, XLA and PyTorch
    each start a thread per core in every worker, and on 2 cores the threads of two workers
    take turns: the suite ran 8% longer (238 s against 220 s, measured)."""
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", threads)
    os.environ.setdefault("OMP_NUM_THREADS", threads)  # PyTorch's and NumPy's BLAS
    if threads == "1":  # XLA (JAX) has no thread count to set, but one switch for one thread
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()



def run_script(script, *args, env=None):
    """Run files/<script>.py's `main(ARGS)` in this process, as `python files/<script>.py
    ARGS` runs it (through command_line.run: exit codes, the one-line errors), and return what a
    subprocess would: returncode, stdout, stderr. TensorFlow and Keras are imported once
    per test worker instead of once per run. `env` sets environment variables meanwhile.

    The result's `figures` lists what the run drew, one dict per figure as it was closed
    (see `drawn`): its title, its curves by panel and label, and its caption; `warnings`,
    the Python warnings a reader's run would have shown."""
    from support import command_line

    module = importlib.import_module(script)
    saved = dict(os.environ)
    os.environ.pop("DLWP_DATA_DIR", None)  # tests decide where data comes from
    os.environ.update(env or {})
    stdout, stderr = io.StringIO(), io.StringIO()
    returncode = 0
    try:
        with (contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr),
              figures_kept() as figures, warnings.catch_warnings(record=True) as caught):
            # As Python shows them to a script: DeprecationWarnings only from __main__.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
            command_line.run(lambda: module.main([str(arg) for arg in args]))
    except SystemExit as exit_info:
        code = exit_info.code
        returncode = code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        keras = sys.modules.get("keras")
        if keras is not None:  # as a fresh process would start: no models, float32
            keras.backend.clear_session()
            keras.mixed_precision.set_global_policy("float32")
        # What survives now (TensorFlow's and Keras's hundreds of thousands of objects,
        # imported once) is set aside from Python's garbage collector: each clear_session
        # (a full collection) then takes microseconds, not the 0.16 s of walking them all.
        gc.freeze()
    done = subprocess.CompletedProcess([script, *map(str, args)], returncode,
                                       stdout.getvalue(), stderr.getvalue())
    done.figures = figures
    done.warnings = [f"{caught.category.__name__}: {caught.message} ({caught.filename}:"
                     f"{caught.lineno})" for caught in caught]
    return done


@contextlib.contextmanager
def figures_kept():
    """Meanwhile, each figure closed with plt.close(figure) is also kept, as `drawn` reads
    it, in the list this yields."""
    import matplotlib.pyplot as plt

    kept, close = [], plt.close

    def close_and_keep(figure=None):
        if figure is not None and not isinstance(figure, str):
            kept.append(drawn(figure))
        close(figure)

    plt.close = close_and_keep
    try:
        yield kept
    finally:
        plt.close = close


def drawn(figure):
    """What a matplotlib figure shows: {"title", "curves": {(panel title, label): (x, y)},
    "caption"} (its texts outside the panels, lines joined)."""
    curves = {(axes.get_title(), line.get_label()): (list(line.get_xdata()),
                                                     list(line.get_ydata()))
              for axes in figure.axes for line in axes.get_lines()}
    return {"title": figure.get_suptitle(), "curves": curves,
            "caption": " ".join(" ".join(text.get_text().split()) for text in figure.texts)}


def book_curves_drawn(figure):
    """The curves of a drawn figure that are the book's (labelled "book, 1st ed.")."""
    return {key: values for key, values in figure["curves"].items()
            if "book, 1st ed." in key[1]}


def process_environment(env=None):
    """The environment of a script process the tests start: this one's, with TensorFlow's
    start-up lines and plot windows off, no DLWP_DATA_DIR (tests decide where data comes
    from), and `env` on top."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    environment.pop("DLWP_DATA_DIR", None)
    environment.update(env or {})
    return environment


def assert_no_python_warnings(result):
    """A normal run shows the reader no Python warning: none recorded by run_script, none
    printed by a process ("...: UserWarning: ..."; TensorFlow's C++ log lines are not
    Python warnings)."""
    assert getattr(result, "warnings", []) == []
    printed = re.findall(r"^.*\w*Warning: .*$", result.stderr, re.MULTILINE)
    assert printed == []


def run_process(script, *args, timeout=240, env=None):
    """Run `python files/<script>.py ARGS` as a real subprocess from the repository root, as
    a reader would: for the tests where the process itself is under test (the command line
    end to end, Ctrl-C, errors while Keras is imported, other backends)."""
    environment = process_environment(env)
    return subprocess.run(
        [sys.executable, str(FILES / f"{script}.py"), *map(str, args)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=environment,
    )


class BackendProcess:
    """A Python process on another Keras backend (KERAS_BACKEND=jax or torch) that runs
    scripts' main(argv) on request (tests/backend_runner.py): Keras chooses its backend once
    per process, and this pays that process's start and imports once, not once per run."""

    def __init__(self, backend, log_path):
        self.log = open(log_path, "w+", encoding="utf-8")  # noqa: SIM115 (closed in close)
        environment = process_environment({"KERAS_BACKEND": backend})
        # JAX compiles its random number generator anew for every weight shape that Keras
        # initializes; its older, non-partitionable scheme draws other numbers from the same
        # seed but compiles in half the time (the JAX pass: 90 s instead of 100, measured).
        environment.setdefault("JAX_THREEFRY_PARTITIONABLE", "0")
        self.process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "tests" / "backend_runner.py")], cwd=REPO_ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env=environment)

    def run(self, script, *args, timeout=240):
        """Run `python files/<script>.py ARGS` there; returns returncode, stdout, stderr."""
        request = {"script": script, "args": [str(arg) for arg in args]}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.log.seek(0)
            raise RuntimeError(f"the {script} run got no answer within {timeout} s; the "
                               f"process's log ends: {self.log.read()[-3000:]}")
        answer = json.loads(line)
        return subprocess.CompletedProcess([script, *request["args"]], answer["returncode"],
                                           answer["stdout"], answer["stderr"])

    def close(self):
        self.process.kill()  # it holds nothing to save; its shutdown takes seconds
        self.process.wait()
        self.log.close()


def result_fields(stdout):
    """The `key=value` pairs of the RESULT line, which must be the last line on stdout."""
    last_line = stdout.strip().splitlines()[-1]
    assert last_line.startswith("RESULT script="), f"last stdout line is {last_line!r}"
    return dict(field.split("=", 1) for field in last_line.split()[1:])


def read_metrics(output_dir):
    metrics = json.loads((Path(output_dir) / "metrics.json").read_text())
    return metrics


def finite_numbers(value):
    """Every number in a JSON-like structure (settings and text are skipped)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from finite_numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from finite_numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def assert_finite_numbers(record, keys):
    for key in keys:
        assert isinstance(record[key], (int, float)), f"{key} is {record[key]!r}"
        assert math.isfinite(record[key]), f"{key} is {record[key]}"


def assert_png(path, min_side=16):
    """A real PNG picture that decodes, not a stub: at least min_side pixels each way."""
    path = Path(path)
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    with Image.open(path) as image:
        image.load()  # decodes the whole file: a truncated PNG fails here
        assert min(image.size) >= min_side, f"{path} is only {image.size} pixels"


# VGG16 weight files in the layout of Keras's downloads (legacy HDF5, Keras 2 names), with
# random values: what a reader offline passes as --weights PATH.
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def write_vgg16_weights(path, seed=0):
    """Write a VGG16 weights file like vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 (the
    convolutional base only; test_vgg16_weights.py tells a full file by its layer names).

    Returns {layer name: [kernel, bias]} of the convolution layers.
    """
    import h5py

    rng = np.random.default_rng(seed)
    conv, names = {}, ["input_1"]
    channels = 3
    for block, widths in enumerate(VGG16_BLOCKS, start=1):
        for index, width in enumerate(widths, start=1):
            kernel = rng.normal(0, np.sqrt(2 / (9 * channels)), (3, 3, channels, width))
            conv[f"block{block}_conv{index}"] = [kernel.astype("float32"),
                                                 np.zeros(width, "float32")]
            names.append(f"block{block}_conv{index}")
            channels = width
        names.append(f"block{block}_pool")
    with h5py.File(path, "w") as weights_file:
        weights_file.attrs["layer_names"] = [name.encode() for name in names]
        weights_file.attrs["backend"] = b"tensorflow"
        weights_file.attrs["keras_version"] = b"2.0.8"
        for name in names:
            group = weights_file.create_group(name)
            weight_names = [f"{name}_W_1:0", f"{name}_b_1:0"] if name in conv else []
            for weight_name, value in zip(weight_names, conv.get(name, []), strict=True):
                group.create_dataset(weight_name, data=value)
            group.attrs["weight_names"] = [weight_name.encode() for weight_name in weight_names]
    return conv


def assert_input_error(result, *needles):
    """Exit 2, the last stderr line is `error: ...` naming every needle, no traceback."""
    assert result.returncode == 2, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    message = result.stderr.strip().splitlines()[-1]  # after TensorFlow's start-up lines
    assert message.startswith("error:"), result.stderr[-3000:]
    for needle in needles:
        assert str(needle) in message, (needle, message)
    assert "Epoch 1/" not in output  # refused before any training
    return message


def run_convnet(*args):
    return run_script("convnet", *args, "--verbose", "0")


def assert_ok(result, stage):
    assert result.returncode == 0, result.stderr[-4000:]
    assert_no_python_warnings(result)
    fields = result_fields(result.stdout)  # the RESULT line is the last line of stdout
    assert fields["script"] == "convnet" and fields["stage"] == stage, fields
    return fields


def check_training(runs, stage, loss_must_fall=True):
    folder = runs / stage
    assert (folder / "model.keras").is_file()
    assert not (folder / "model.partial.keras").exists()  # renamed when training ended
    assert_png(folder / "training.png")
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "seconds"):
        assert math.isfinite(metrics[key]), key
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    if stage != "mnist":  # the image stages test their best checkpoint and the last epoch
        val_losses = metrics["history"]["val_loss"]
        assert metrics["best_epoch"] == int(np.argmin(val_losses)) + 1
        assert 0.0 <= metrics["last_test_accuracy"] <= 1.0
        assert metrics["val_accuracy"] == pytest.approx(
            metrics["history"]["val_accuracy"][metrics["best_epoch"] - 1], abs=1e-6)
    losses = metrics["history"]["loss"]
    assert all(math.isfinite(loss) for loss in losses)
    if loss_must_fall:
        assert losses[-1] < losses[0], losses
    # The book's run of the stage, as data/book_curves.json holds it, beside this one's.
    from support import book_curves

    book = metrics["book_history"]["history"]
    assert book["history"] == book_curves.book_history("convnet", stage)["history"]
    assert book["this_run_examples_per_epoch"] == metrics["pictures_per_epoch"]
    return metrics


def no_example_starts(monkeypatch):
    """Make starting an example (a Python subprocess) fail the test; nvidia-smi may run."""
    import subprocess
    import sys

    real_run = subprocess.run

    def run(command, *args, **kwargs):
        assert command[0] != sys.executable, f"an example was started: {command}"
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)


def fake_kagglehub(monkeypatch, competition_download):
    """A kagglehub module whose competition_download is the function given."""
    import sys
    import types

    module = types.ModuleType("kagglehub")
    module.competition_download = competition_download
    monkeypatch.setitem(sys.modules, "kagglehub", module)
