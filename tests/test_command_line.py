"""Unit tests of files/command_line.py: the common flags, --smoke, and `run`'s exit codes."""

import pytest

import command_line
import input_errors

# ---- The common flags ---------------------------------------------------------------------


def test_parser_defaults_and_smoke(tmp_path):
    parser = command_line.make_parser("demo", "Demo.", epochs=20, batch_size=512)
    args = command_line.parse_args(parser, [])
    assert (args.epochs, args.batch_size, args.seed, args.smoke) == (20, 512, 42, False)
    assert args.output_dir == command_line.REPO_ROOT / "runs" / "demo"
    args = command_line.parse_args(parser, ["--smoke", "--output-dir", str(tmp_path)],
                                   smoke_epochs=3)
    assert args.epochs == 3 and args.data_dir == command_line.SAMPLE_DATA_DIR
    assert args.output_dir == tmp_path


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "x"])
def test_positive_int_rejects(value):
    parser = command_line.make_parser("demo", "Demo.", epochs=20, batch_size=512)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--batch-size", value])
    assert exit_info.value.code == 2



# ---- run: the reader's mistakes are one line --------------------------------------------


def test_run_turns_data_unavailable_into_exit_2(capsys):
    def main():
        raise input_errors.DataUnavailable("mnist.npz not found")

    with pytest.raises(SystemExit) as exit_info:
        command_line.run(main)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: mnist.npz not found\n"
