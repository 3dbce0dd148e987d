"""The tests' fixtures and hooks: each worker's share of the cores, the network blocked,
what each test leaves reset, the slowest modules first. The run harness (run_script,
run_process, the shared assertions) is tests/harness.py."""

import errno
import gc
import os
import socket
import sys

import pytest

from harness import REPO_ROOT, figures_kept, share_the_cores

# Before anything imports TensorFlow: it reads these once, when it starts.
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    share_the_cores(int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))


@pytest.fixture
def figures():
    """The figures a test's code draws (see `figures_kept`)."""
    with figures_kept() as kept:
        yield kept


@pytest.fixture
def sample_data_dir():
    return REPO_ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A split folder of a few dozen 48x48 "cats" and "dogs" (one per test module)."""
    import make_images

    root = tmp_path_factory.mktemp("images")
    make_images.make_split_folders(root)
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An output folder shared by one test module's convnet.py stages, run in order."""
    return tmp_path_factory.mktemp("runs")


NETWORK_ATTEMPTS = []  # what tried to reach the network during the current test


@pytest.fixture(scope="session", autouse=True)
def no_network():
    """No test reaches the network (CI may have none): in this process, resolving a name or
    connecting is refused, as offline, and recorded."""
    def refuse(*args, **kwargs):
        NETWORK_ATTEMPTS.append(args[:2])
        raise OSError(errno.ENETUNREACH, "Network is unreachable (the tests block it)")

    with pytest.MonkeyPatch.context() as patch:
        for owner, name in ((socket, "getaddrinfo"), (socket, "create_connection"),
                            (socket.socket, "connect"), (socket.socket, "connect_ex")):
            patch.setattr(owner, name, refuse)
        yield


@pytest.fixture(autouse=True)
def nothing_tried_the_network():
    """A test whose code tried the network fails, even if that code took the refusal well."""
    NETWORK_ATTEMPTS.clear()
    yield
    assert NETWORK_ATTEMPTS == [], f"tried the network: {NETWORK_ATTEMPTS}"


@pytest.fixture(autouse=True)
def output_folders_released_after_each_test():
    """A script's main(argv) called directly (not through command_line.run) keeps its output
    folder's lock: release it, so a later process may write there."""
    yield
    output_folder = sys.modules.get("support.output_folder")
    if output_folder is not None:
        output_folder.release_output_dirs()


@pytest.fixture(autouse=True)
def float32_after_each_test():
    """A stage run in this process may set Keras's global mixed-precision policy (on a CPU
    with bfloat16 units, or a GPU): reset it, so later tests start as a fresh script would."""
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.mixed_precision.set_global_policy("float32")


# The modules that take longest, longest first: pytest-xdist hands out whole modules in the
# order collected (--no-loadscope-reorder), so the long ones start at once and the short
# ones fill the gaps at the end, instead of one worker finishing a long module alone. (A
# worker takes its next module once 2 or fewer of its tests are left: a long module of few
# tests, like test_pipeline_benchmark.py, goes before the short ones, not among them.)
SLOWEST_FIRST = ("test_stop_signals.py", "test_float16.py", "test_convnet.py", "test_scripts.py",
                 "test_fundamentals.py", "test_checkpoints.py", "test_pipeline_benchmark.py",
                 "test_reproduce.py", "test_errors.py", "test_windows_and_languages.py",
                 "test_getting_pictures.py", "test_vgg16_weights.py")


def pytest_collection_modifyitems(items):
    rank = {name: place for place, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # (stable: in order)


def pytest_collection_finish(session):
    """The test modules have imported TensorFlow and Keras: set their objects aside from the
    garbage collector (see run_script) before the first run, too."""
    gc.freeze()


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "training: the test trains a model (fit, a training loop, or a script run "
                   "that trains); `python -m pytest -m \"not training\"` is the quick loop "
                   "(tests/README.md)")


@pytest.fixture(autouse=True)
def fit_only_if_marked_training(request, monkeypatch):
    """A test not marked `training` that calls Keras's `fit` fails, saying so: the quick loop
    (-m "not training") then holds no training run, and no training test is left out of
    the mark. (A module-scoped fixture, or a script in a subprocess, is outside this check.)"""
    if request.node.get_closest_marker("training") is None:
        keras = sys.modules.get("keras")
        if keras is not None:
            def refuse(*args, **kwargs):
                raise AssertionError("this test trains (Keras fit): mark it "
                                     "@pytest.mark.training")

            monkeypatch.setattr(keras.Model, "fit", refuse)
    yield
