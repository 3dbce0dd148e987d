"""Declared versions are tested versions: pyproject.toml's lower bounds of TensorFlow and
Keras are what CI's `oldest` job installs (on the oldest Python requires-python allows),
and tests/constraints.txt (the exact versions the scripts were last tested with) stays
inside pyproject.toml's ranges."""

import re

from packaging.requirements import Requirement

from harness import REPO_ROOT

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
    assert f'python-version: "{python_range()[0]}"' in job


def python_range():
    """The oldest and the newest Python minor version requires-python allows, as "3.N"."""
    from packaging.specifiers import SpecifierSet

    line = re.search(r'^requires-python = "([^"]+)"$', PYPROJECT.read_text(), re.MULTILINE)
    allowed = [f"3.{minor}" for minor in range(6, 30)
               if SpecifierSet(line.group(1)).contains(f"3.{minor}.0")]
    assert allowed == [f"3.{minor}" for minor in range(int(allowed[0][2:]),
                                                      int(allowed[-1][2:]) + 1)]
    return allowed[0], allowed[-1]


def test_requires_python_is_the_range_tensorflow_has_wheels_for():
    # TensorFlow 2.21 has wheels for Python 3.10 to 3.13 and none for 3.14: pip on 3.14
    # then says the project needs another Python, not that no TensorFlow matches.
    assert python_range() == ("3.10", "3.13")


def test_keras_releases_with_advisories_on_the_scripts_paths_are_excluded():
    # pyproject.toml's comment says which advisory or fix each one lacks.
    (keras,) = [requirement for requirement in declared_requirements()
                if requirement.name == "keras"]
    for version in ("3.11.3", "3.12.0", "3.12.1", "3.12.2", "3.12.3", "3.13.0", "3.13.1",
                    "3.13.2", "3.14.0", "3.14.1", "3.15.0"):
        assert not keras.specifier.contains(version), version
    for version in ("3.12.4", "3.15.1", "3.16.0"):
        assert keras.specifier.contains(version), version
