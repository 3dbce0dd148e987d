"""Every script also runs on Keras's JAX and PyTorch backends (KERAS_BACKEND=jax / torch).

The same smoke runs as the TensorFlow tests, as subprocesses, unchanged command lines; only
KERAS_BACKEND differs. A backend that is not installed is skipped with the reason (install
it with `pip install ".[jax]"` / `".[torch]"`; `.ci/run` does).
"""

import importlib.util
import math

import pytest

from conftest import read_metrics, result_fields, run_process

# (script, arguments): every script, every convnet.py stage that trains or draws, in three
# groups of about equal time, each run in order in one folder (see SmokeRunsOnOneBackend).
SCRIPT_RUNS = [
    ("mnist", []),
    ("imdb", []),
    ("reuters", []),
    ("bostonhousing", []),
    ("tensors", []),
    ("fundamentals", []),
]
CONVNET_RUNS = [
    ("convnet", ["mnist"]),
    ("convnet", ["scratch"]),
    ("convnet", ["augment"]),
    ("convnet", ["visualize", "--weights", "none"]),  # reads scratch's model: after it
]
VGG16_RUNS = [
    ("convnet", ["features", "--weights", "none"]),
    ("convnet", ["features-augment", "--weights", "none"]),
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


@pytest.fixture(scope="class")
def output_dir(request, tmp_path_factory):
    """One folder per class, shared by its runs."""
    return tmp_path_factory.mktemp(f"runs-{request.cls.__name__}")


class SmokeRunsOnOneBackend:
    """Smoke runs on one backend, in the order of `runs`, in one output folder.

    One class per backend and group of runs (below) so that pytest-xdist (`--dist
    loadscope`, see pyproject.toml) gives each class to one worker, in order: finetune and
    visualize read the models that features-augment and scratch left in that folder.
    """

    backend = None
    runs = []

    def test_smoke_run(self, script, args, output_dir):
        require(self.backend)
        result = run_process(script, *args, "--smoke", "--verbose", "0",
                            "--output-dir", output_dir, env={"KERAS_BACKEND": self.backend})
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


class TestJaxConvnet(SmokeRunsOnOneBackend):
    backend, runs = "jax", CONVNET_RUNS


class TestTorchConvnet(SmokeRunsOnOneBackend):
    backend, runs = "torch", CONVNET_RUNS


class TestJaxVGG16(SmokeRunsOnOneBackend):
    backend, runs = "jax", VGG16_RUNS


class TestTorchVGG16(SmokeRunsOnOneBackend):
    backend, runs = "torch", VGG16_RUNS


class TestJaxScripts(SmokeRunsOnOneBackend):
    backend, runs = "jax", SCRIPT_RUNS


class TestTorchScripts(SmokeRunsOnOneBackend):
    backend, runs = "torch", SCRIPT_RUNS
