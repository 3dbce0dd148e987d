"""Tests of files/support/backend_check.py: the Keras backend setting, read as Keras reads it and
checked while a script starts, before Keras loads (in a real process: the check runs on import)."""

import json

from support import backend_check

import pytest

from harness import assert_input_error, run_process


def test_the_setting_is_read_as_keras_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backend_check.backend_setting() == ("tensorflow", "Keras's default")
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert backend_check.backend_setting() == ("jax", str(tmp_path / "keras.json"))
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert backend_check.backend_setting() == ("torch", "the environment variable KERAS_BACKEND")


@pytest.mark.parametrize("backend", ["pytorch", "tf"])
def test_an_unknown_backend_name_is_one_line(backend, tmp_path):
    result = run_process("mnist", "--smoke", "--output-dir", tmp_path,
                         env={"KERAS_BACKEND": backend})
    message = assert_input_error(result, repr(backend), "tensorflow, jax, torch",
                                 "the environment variable KERAS_BACKEND")
    assert "unset KERAS_BACKEND" in message
    assert '`export KERAS_BACKEND=jax` (PowerShell: `$env:KERAS_BACKEND = "jax"`)' in message


def test_an_unknown_backend_in_keras_json_names_the_file(tmp_path):
    (tmp_path / "keras.json").write_text('{"backend": "theano", "floatx": "float32"}')
    environment = {"KERAS_HOME": str(tmp_path), "KERAS_BACKEND": ""}
    result = run_process("imdb", "--smoke", "--output-dir", tmp_path / "runs", env=environment)
    assert_input_error(result, "'theano'", str(tmp_path / "keras.json"), 'edit "backend"')


def test_a_backend_whose_package_is_missing_says_what_to_install(tmp_path):
    # A jax that fails to import as an absent one does, ahead of the real one on the path.
    (tmp_path / "jax").mkdir()
    (tmp_path / "jax" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'jax'\")\n")
    result = run_process("convnet", "scratch", "--smoke", "--output-dir", tmp_path / "runs",
                         env={"KERAS_BACKEND": "jax", "PYTHONPATH": str(tmp_path)})
    assert_input_error(result, "'jax'", "needs the jax package", 'pip install ".[jax]"')
