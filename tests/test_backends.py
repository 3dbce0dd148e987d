"""Every script also runs on Keras's JAX and PyTorch backends (KERAS_BACKEND=jax / torch).

The TensorFlow tests' smoke runs, with KERAS_BACKEND set: every script, and each convnet.py
stage with code of its own per backend or a model of its own (visualize's gradients, the
VGG16 preprocessing in tf.data, fine-tuning). A few runs are cut where the backends add
nothing but time (JAX compiles every model; PyTorch trains Boston's batches one call each):
fundamentals runs its dropout comparison (the original model and the one with Dropout; the
other models and the protocols differ only in sizes and the L2 penalty, which Keras adds to
the loss the same way on every backend), Boston 2 of its curve and final epochs, and
convnet.py's mnist, augment and features stages are left to TensorFlow (scratch trains the
same layers as mnist and augment, whose Dropout fundamentals trains and whose augmentation
is tf.data's on every backend; features-augment runs the same VGG16 base as features).

Keras chooses its backend once per process, so each backend gets a Python process of its
own, started once (harness.BackendProcess), which runs the scripts' main(argv) one after
the other as the TensorFlow tests do in theirs. A backend that is not installed is skipped
with the reason (install it with `pip install ".[jax]"` / `".[torch]"`; `.ci/run` does).
"""

import importlib.util
import math

import pytest

from harness import BackendProcess, read_metrics, result_fields

pytestmark = pytest.mark.training  # trains models: left out of the quick loop (tests/README.md)

# (script, arguments): every script and the convnet.py stages named above, run in order in
# one folder (see SmokeRunsOnOneBackend).
SCRIPT_RUNS = [
    ("mnist", []),
    ("imdb", []),
    ("reuters", []),
    ("bostonhousing", ["--curve-epochs", "2", "--epochs", "2"]),
    ("tensors", []),
    ("fundamentals", ["--experiment", "dropout"]),
]
CONVNET_RUNS = [
    ("convnet", ["scratch"]),
    ("convnet", ["visualize"]),  # reads scratch's model: after it
]
VGG16_RUNS = [
    ("convnet", ["features-augment"]),
    ("convnet", ["finetune"]),  # reads features-augment's model: after it
]


def require(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"the {backend} backend is not installed here "
                    f"(pip install '.[{backend}]' to test it)")


def pytest_generate_tests(metafunc):
    """Each class below runs its own list of smoke runs (its `runs`)."""
    if "script" in metafunc.fixturenames:
        runs = metafunc.cls.runs
        metafunc.parametrize("script, args", runs,
                             ids=[" ".join([script, *args[:1]]) for script, args in runs])


@pytest.fixture(scope="session")
def backend_process(tmp_path_factory):
    """The process of each backend in this test worker, started when first needed."""
    processes = {}

    def get(backend):
        if backend not in processes:
            log = tmp_path_factory.mktemp("logs") / f"{backend}.log"
            processes[backend] = BackendProcess(backend, log)
        return processes[backend]

    yield get
    for process in processes.values():
        process.close()


@pytest.fixture(scope="class")
def output_dir(request, tmp_path_factory):
    """One folder per class, shared by its runs."""
    return tmp_path_factory.mktemp(f"runs-{request.cls.__name__}")


class SmokeRunsOnOneBackend:
    """Smoke runs on one backend, in the order of `runs`, in one output folder.

    One class per backend (below) so that pytest-xdist (`--dist loadscope`, see
    pyproject.toml) gives each class to one worker, in order, where one process of that
    backend runs them all: finetune and visualize read the models that features-augment and
    scratch left in that folder.
    """

    backend = None
    runs = []

    def test_smoke_run(self, script, args, output_dir, backend_process):
        require(self.backend)
        result = backend_process(self.backend).run(script, *args, "--smoke", "--verbose", "0",
                                                   "--output-dir", output_dir)
        assert result.returncode == 0, result.stderr[-4000:]
        fields = result_fields(result.stdout)
        assert fields["backend"] == self.backend
        assert fields["script"] == script
        # convnet.py writes into a folder per stage; the other scripts into the folder given.
        folder = output_dir / args[0] if script == "convnet" else output_dir
        metrics = read_metrics(folder)
        assert metrics["backend"] == self.backend
        losses = [value for name, values in metrics.get("history", {}).items()
                  if "loss" in name for value in values]
        assert all(math.isfinite(value) for value in losses), metrics["history"]


class TestJax(SmokeRunsOnOneBackend):
    backend, runs = "jax", SCRIPT_RUNS + CONVNET_RUNS + VGG16_RUNS


class TestTorch(SmokeRunsOnOneBackend):
    backend, runs = "torch", SCRIPT_RUNS + CONVNET_RUNS + VGG16_RUNS
