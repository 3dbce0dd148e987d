"""Declared versions are tested versions: pyproject.toml's lower bounds of TensorFlow and
Keras are what CI's `oldest` job installs, and tests/constraints.txt (the exact versions
the scripts were last tested with) stays inside pyproject.toml's ranges."""

import re

from packaging.requirements import Requirement

from conftest import REPO_ROOT

PYPROJECT = REPO_ROOT / "pyproject.toml"
CONSTRAINTS = REPO_ROOT / "tests" / "constraints.txt"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"


def declared_requirements():
    """Every requirement in pyproject.toml's [project] dependencies and extras (a few
    lines of TOML read without a TOML parser, which Python 3.10 lacks)."""
    text = PYPROJECT.read_text()
    project = text[text.index("[project]"):text.index("[tool.setuptools]")]
    lists = re.findall(r"^[\w-]+ = \[(.*?)\]$", project, re.MULTILINE | re.DOTALL)
    return [Requirement(item) for items in lists for item in re.findall(r'"([^"]+)"', items)
            if not item.startswith("setuptools")]


def pinned():
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_the_constraints_pin_the_project_s_dependencies_inside_their_ranges():
    pins = pinned()
    requirements = declared_requirements()
    assert {"tensorflow", "keras", "numpy", "matplotlib", "pillow", "pytest", "jax"} <= set(pins)
    assert "torch" not in pins and "dlwp-examples" not in pins
    checked = 0
    for requirement in requirements:
        name = requirement.name.lower()
        if name in pins:
            assert requirement.specifier.contains(pins[name], prereleases=True), (
                f"{name}=={pins[name]} in {CONSTRAINTS.name} is outside {requirement}")
            checked += 1
    assert checked >= 8


def test_ci_s_oldest_job_installs_the_lower_bounds():
    workflow = WORKFLOW.read_text()
    job = workflow[workflow.index("\n  oldest:"):]
    for name in ("tensorflow", "keras"):  # (tensorflow also in the gpu extra)
        lower = {spec.version for requirement in declared_requirements()
                 if requirement.name == name
                 for spec in requirement.specifier if spec.operator == ">="}
        assert len(lower) == 1 and f'"{name}=={lower.pop()}"' in job
    assert 'python-version: "3.10"' in job and 'requires-python = ">=3.10"' in (
        PYPROJECT.read_text())
