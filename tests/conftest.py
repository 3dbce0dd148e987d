"""Shared test tools: run a chapter script as a real subprocess and read what it left behind."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
FILES = REPO_ROOT / "files"


def run_script(script, *args, timeout=240, env=None):
    """Run `python files/<script>.py ARGS` from the repository root, as a reader would."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
    environment.pop("DLWP_DATA_DIR", None)  # tests decide where data comes from
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(FILES / f"{script}.py"), *map(str, args)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=environment,
    )


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


@pytest.fixture
def sample_data_dir():
    return REPO_ROOT / "data" / "sample"
