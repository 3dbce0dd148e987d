"""Every script also runs on Keras's JAX and PyTorch backends (KERAS_BACKEND=jax / torch).

The same smoke runs as the TensorFlow tests, as subprocesses, unchanged command lines; only
KERAS_BACKEND differs. A backend that is not installed is skipped with the reason (install
it with `pip install ".[jax]"` / `".[torch]"`; `.ci/run` does).
"""

import importlib.util

import pytest

from conftest import result_fields, run_script

BACKENDS = ("jax", "torch")

# (script, arguments): every script, every convnet.py stage that trains or draws.
SMOKE_RUNS = [
    ("mnist", []),
    ("imdb", []),
    ("reuters", []),
    ("bostonhousing", []),
    ("tensors", []),
    ("fundamentals", []),
    ("convnet", ["mnist"]),
    ("convnet", ["scratch"]),
    ("convnet", ["augment"]),
    ("convnet", ["features", "--weights", "none"]),
    ("convnet", ["features-augment", "--weights", "none"]),
    ("convnet", ["finetune"]),  # reads features-augment's model: after it, same folder
    ("convnet", ["visualize", "--weights", "none"]),  # reads scratch's model
]


def require(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"the {backend} backend is not installed here "
                    f"(pip install '.[{backend}]' to test it)")


@pytest.fixture(scope="module")
def output_dirs(tmp_path_factory):
    return {backend: tmp_path_factory.mktemp(f"runs-{backend}") for backend in BACKENDS}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("script, args", SMOKE_RUNS,
                         ids=[" ".join([script, *args[:1]]) for script, args in SMOKE_RUNS])
def test_smoke_run_on_backend(backend, script, args, output_dirs):
    require(backend)
    result = run_script(script, *args, "--smoke", "--verbose", "0",
                        "--output-dir", output_dirs[backend], env={"KERAS_BACKEND": backend})
    assert result.returncode == 0, result.stderr[-4000:]
    fields = result_fields(result.stdout)
    assert fields["backend"] == backend
    assert fields["script"] == script
