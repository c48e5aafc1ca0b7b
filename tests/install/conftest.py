"""Helpers of the install tests: run Python or Airflow's CLI with some libraries made absent."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# A sitecustomize that makes the named top-level modules absent the way an uninstalled
# distribution is: `import stripe` raises ModuleNotFoundError naming the module.
_BLOCKER = """\
import importlib.abc
import os
import sys

_ABSENT = set(filter(None, os.environ.get("MLC_TEST_ABSENT_MODULES", "").split(",")))


class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in _ABSENT or any(fullname.startswith(name + ".") for name in _ABSENT):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


sys.meta_path.insert(0, _Absent())
"""


def run_without(
    absent: Sequence[str], args: Sequence[str], home: Path, *, airflow: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` (or ``airflow ARGS``) as if the distributions of ``absent`` were not installed.

    :param absent: top-level module names to make absent (``stripe``, ``airflow.providers.sftp``).
    :param home: an empty directory for AIRFLOW_HOME and the sitecustomize.
    """
    site = home / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_BLOCKER)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "MLC_TEST_ABSENT_MODULES": ",".join(absent),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(site), str(REPO_ROOT), os.environ.get("PYTHONPATH")])
        ),
    }
    argv = [sys.executable, "-m", "airflow", *args] if airflow else [sys.executable, *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=180, check=False)
