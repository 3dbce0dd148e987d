"""Settled before Keras is imported: the Keras backend setting, checked, and the plotting backend.

Every script imports this module first (its own import block in pyproject.toml's isort
settings, "backend-check"): importing it checks the Keras backend setting (`check_backend`),
so a mistyped KERAS_BACKEND or a backend that is not installed ends in one line, not in a
traceback from inside Keras's own import. It also makes matplotlib write PNG files without a
display, before any script imports pyplot, and quietens TensorFlow's Python logger.

Not in the book scripts: the book runs on one backend, TensorFlow, set up by hand.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
from pathlib import Path

# Hide TensorFlow's warning that a tf.function was traced again: expected when a script
# builds a fresh model per fold or per experiment. (Its C++ start-up log lines can only be
# silenced from the shell: export TF_CPP_MIN_LOG_LEVEL=2.)
logging.getLogger("tensorflow").setLevel(logging.ERROR)

import matplotlib  # noqa: E402

matplotlib.use("Agg")  # write PNG files; never needs a display

from support import console  # noqa: E402
from support.errors import error_reason  # noqa: E402

BACKEND_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
BACKEND_EXTRAS = {"tensorflow": ".", "jax": ".[jax]", "torch": ".[torch]"}
# The setting in a POSIX shell (Linux, macOS) and in Windows PowerShell.
SET_JAX = "`export KERAS_BACKEND=jax` (PowerShell: `$env:KERAS_BACKEND = \"jax\"`)"


def backend_setting():
    """(backend name, where it was set), as Keras reads it: KERAS_BACKEND, else "backend"
    in keras.json (in KERAS_HOME or ~/.keras), else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "the environment variable KERAS_BACKEND"
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    config = keras_home / "keras.json"
    try:
        backend = json.loads(config.read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):  # no file, or one Keras ignores too
        backend = None
    return (backend, str(config)) if backend else ("tensorflow", "Keras's default")


def check_backend():
    """Exit with one `error:` line (code 2) when the backend setting names no backend these
    scripts run on, or one whose package is not installed."""
    backend, source = backend_setting()
    if backend not in BACKEND_PACKAGES:
        fix = (f"{SET_JAX}, or unset KERAS_BACKEND for tensorflow"
               if source.startswith("the environment") else
               f"edit \"backend\" in that file, or override it with {SET_JAX}")
        _exit_with(f"Keras backend {backend!r} (from {source}) is not one of "
                   f"{', '.join(BACKEND_PACKAGES)}; set it to one of them: {fix}.")
    if backend == "tensorflow":
        return  # installed with the project; importing it here would slow every start-up
    try:  # jax or torch: Keras imports it right after, so the import costs nothing extra
        importlib.import_module(BACKEND_PACKAGES[backend])
    except ImportError as error:
        _exit_with(f"Keras backend {backend!r} (from {source}) needs the "
                   f"{BACKEND_PACKAGES[backend]} package, which does not import here "
                   f"({error_reason(error)}); install it with "
                   f"`pip install \"{BACKEND_EXTRAS[backend]}\"` from the repository root.")


def _exit_with(message):
    console.say(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


# Importing this module checks the backend setting, before the script imports Keras.
check_backend()
