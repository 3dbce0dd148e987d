"""Unit tests of files/support/outputs.py: metrics.json and the RESULT line (atomic writes and write
failures are tested with the other error paths, in test_errors.py)."""

import json

from support import command_line, outputs

import numpy as np
import pytest


def test_write_results_json_and_result_line(tmp_path, capsys):
    parser = command_line.make_parser("demo", "Demo.", epochs=5, batch_size=128)
    args = command_line.parse_args(parser, ["--output-dir", str(tmp_path)])
    outputs.write_results(args, "demo",
                          {"test_accuracy": np.float32(0.98123), "seconds": 11.234, "count": 3},
                          extra={"history": {"loss": [np.float64(0.5), 0.25]}})
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == ("RESULT script=demo test_accuracy=0.9812 seconds=11.2 count=3 "
                    "backend=tensorflow")
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["test_accuracy"] == pytest.approx(0.98123, abs=1e-6)
    assert record["history"]["loss"] == [0.5, 0.25]
    assert record["settings"]["epochs"] == 5
    assert record["backend"] == "tensorflow"


def test_the_progress_bar_counts_to_its_end_and_is_quiet_with_verbose_0(capsys):
    for verbose in (0, 2):
        bar = outputs.progress_bar(4, verbose)
        for _ in range(4):
            bar.add(1)
    out = capsys.readouterr().out
    assert out.count("4/4") == 1  # the verbose bar only, at its end
