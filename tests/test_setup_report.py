"""`python files/reproduce.py --describe-setup` (files/support/setup_report.py): the setup a bug
report asks for, from the machine description the run records use."""

import platform
from importlib import metadata

from support import precision, run_records, setup_report

from harness import REPO_ROOT, assert_no_python_warnings, no_example_starts, run_script
from test_precision import gpus


def reported(stdout):
    """{label: text} of the report's lines."""
    lines = stdout.strip().splitlines()
    assert lines[0] == "dlwp-examples setup (paste all of it into the bug report):"
    return {label.strip(): text.strip()
            for label, text in (line.split(":", 1) for line in lines[1:])}


def test_describe_setup_prints_the_setup_and_runs_nothing(tmp_path, monkeypatch):
    no_example_starts(monkeypatch)
    output_dir = tmp_path / "runs"
    result = run_script("reproduce", "--describe-setup", "--data-dir", tmp_path / "data",
                        "--output-dir", output_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_no_python_warnings(result)
    assert not output_dir.exists()  # nothing run, nothing written
    setup = reported(result.stdout)
    assert list(setup) == ["os", "python", "packages", "keras backend", "cpu",
                           "bfloat16 on the CPU", "gpus (nvidia-smi)", "gpus (tensorflow)",
                           "image stages' precision", "keras datasets",
                           "pictures (convnet.py)", "vgg16 weights", "sample data (--smoke)",
                           "machine name in records"]
    machine = run_records.describe_machine()  # what a record of a run here would say
    assert setup["python"].startswith(platform.python_version() + " (")
    assert setup["os"].startswith(machine["os"])
    assert setup["cpu"].startswith(f"{machine['cpu']}, {machine['cores']} cores")
    assert setup["machine name in records"] == machine["name"]
    for package in ("tensorflow", "keras", "numpy"):
        assert f"{package} {metadata.version(package)}" in setup["packages"]
    assert setup["keras backend"].startswith("tensorflow (from ")
    policy, _ = precision.choose_policy(None)
    assert setup["image stages' precision"].startswith(policy + " (")
    assert setup["bfloat16 on the CPU"].startswith("yes" if precision.cpu_has_bfloat16()
                                                   else "no")
    assert setup["keras datasets"] == (f"{tmp_path / 'data'} (--data-dir or DLWP_DATA_DIR; "
                                       f"not there)")
    assert setup["pictures (convnet.py)"] == (f"{tmp_path / 'data' / 'cats_and_dogs_small'} "
                                              f"(not there)")
    assert setup["sample data (--smoke)"].endswith("sample (there)")


def test_the_gpus_a_backend_sees_are_named(monkeypatch):
    gpus(monkeypatch, {"compute_capability": (12, 0), "device_name": "NVIDIA GeForce RTX 5090"},
         {"device_name": "METAL"})
    assert setup_report.backend_gpus("tensorflow") == (
        "NVIDIA GeForce RTX 5090 (CUDA compute capability 12.0); METAL (not CUDA) "
        "(TensorFlow: a CUDA build)")
    assert "mixed_float16 (a CUDA GPU;" in setup_report.image_precision()


def test_a_broken_gpu_setup_is_reported_not_raised(monkeypatch):
    import tensorflow as tf

    def broken(kind=None):
        raise RuntimeError("CUDA driver version is insufficient")

    monkeypatch.setattr(tf.config, "list_physical_devices", broken)
    assert setup_report.backend_gpus("tensorflow") == (
        "could not ask tensorflow: RuntimeError: CUDA driver version is insufficient")


def test_the_bug_report_form_asks_for_the_setup():
    form = (REPO_ROOT / ".github" / "ISSUE_TEMPLATE" / "bug_report.md").read_text()
    assert form.startswith("---\nname: Bug report\n")
    assert "python files/reproduce.py --describe-setup" in form
    readme = (REPO_ROOT / "files" / "README.md").read_text()
    wrong = readme[readme.index("## When something is wrong"):]
    assert "python files/reproduce.py --describe-setup" in wrong[:wrong.index("\n## ", 5)]


def test_a_system_that_does_not_say_its_cpu_flags_reports_them_as_unknown(monkeypatch):
    # Windows and macOS: run_records cannot read the CPU's flags and says None.
    machine = run_records.describe_machine()
    monkeypatch.setattr(run_records, "describe_machine",
                        lambda: {**machine, "cpu_flags": None})
    setup = setup_report.describe_setup()
    assert setup["cpu"].endswith("; features: unknown")
    assert setup["bfloat16 on the CPU"] == "unknown"
