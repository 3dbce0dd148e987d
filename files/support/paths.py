"""Where the repository is, for every module that needs a folder of it: the one REPO_ROOT
(the scripts run from a checkout; nothing is installed into site-packages)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]  # files/support/ -> the repository
