"""``python -m tests.soak``: randomised kill, race and fault trials per integration.

Prints a table per integration × kind (trials, passed, duplicates, missing, amount mismatches,
dead letters without a reason, writes under a lost lease, the longest blocked time, re-runs) and,
with ``--json PATH``, writes every figure and every failed trial there. Each failure is printed
with its seed and the command replaying exactly that trial. Exits 1 on any invariant violation.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

if "airflow" not in sys.modules:  # as in the test suite: never touch ~/airflow
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="mlc-soak-airflow-"))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.pop("ML_CONNECTOR_CONFIG", None)
# This source tree (and its sandbox distribution) first, whatever the virtualenv has installed.
_ROOT = Path(__file__).resolve().parents[2]
for _path in (str(_ROOT / "sandbox"), str(_ROOT)):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(_ROOT), str(_ROOT / "sandbox"), os.environ.get("PYTHONPATH", "")) if p
)

from tests.soak.cli import main  # noqa: E402

sys.exit(main())
