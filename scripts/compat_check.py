"""Checks of `make compat` that need Python: run inside the Airflow environment under test.

Standard library and the installed Airflow and provider only; ``scripts/compat.sh`` calls it.

``freeze-diff BEFORE AFTER``
    compares two ``pip freeze`` outputs: prints every package whose version the provider's install
    changed and exits 1 when any package present before was changed or removed.
``dagbag DAGS_DIR``
    loads ``DAGS_DIR`` with Airflow's DagBag, as the DAG processor would: exits 1 on any import
    error or when the DAG ids differ from what the tenant file next to the DAG files describes.
``quiet-imports``
    imports every module the provider lists to Airflow (hooks, operators, sensors, triggers) and
    the DAG factory, as a task or the triggerer would: exits 1 if any of them emits a warning.
``missing-extra EXTRA MODULE``
    imports ``MODULE`` and exits 0 only if it fails with Airflow's optional-feature error naming
    ``pip install 'ml-connector-provider[EXTRA]'``.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def _freeze(path: str) -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        match = _LINE.match(line.strip())
        if match:
            versions[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return versions


def freeze_diff(before_path: str, after_path: str) -> int:
    """Print what the provider's install changed; 1 when it moved or removed a package."""
    before, after = _freeze(before_path), _freeze(after_path)
    if not before:
        print(f"freeze-diff: {before_path} lists no package", file=sys.stderr)
        return 1
    changed = sorted(name for name in before if after.get(name) != before[name])
    added = sorted(set(after) - set(before))
    for name in changed:
        print(f"  CHANGED {name}: {before[name]} -> {after.get(name, '(removed)')}")
    print(f"  {len(before)} packages from Airflow kept their version" if not changed else "")
    print(f"  added by the provider: {', '.join(f'{n}=={after[n]}' for n in added) or 'nothing'}")
    return 1 if changed else 0


def dagbag(dags_dir: str) -> int:
    """Load ``dags_dir`` as Airflow does; 1 on an import error or unexpected DAG ids."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef,attr-defined]

    from ml_connector_provider.config import effective_tenant_integrations, load_config

    config_path = Path(dags_dir) / "tenants.yaml"
    expected = {item.dag_id for item in effective_tenant_integrations(load_config(config_path))}
    bag = DagBag(dag_folder=dags_dir)  # examples are off: AIRFLOW__CORE__LOAD_EXAMPLES=False
    status = 0
    for path, error in sorted(bag.import_errors.items()):
        print(f"  IMPORT ERROR {path}: {error}", file=sys.stderr)
        status = 1
    loaded = set(bag.dag_ids)
    if loaded != expected or not expected:
        print(
            f"  DAG ids differ: missing {sorted(expected - loaded)}, unexpected {sorted(loaded - expected)}",
            file=sys.stderr,
        )
        status = 1
    print(f"  {len(loaded)} DAG(s): {', '.join(sorted(loaded))}")
    paused = sorted(
        dag_id for dag_id in loaded if getattr(bag.dags[dag_id], "is_paused_upon_creation", None) is False
    )
    if paused:
        print(f"  not paused on creation: {', '.join(paused)}")
    return status


def missing_extra(extra: str, module: str) -> int:
    """0 if importing ``module`` fails with the optional-feature error that names ``extra``."""
    from airflow.exceptions import AirflowOptionalProviderFeatureException

    hint = f"pip install 'ml-connector-provider[{extra}]'"
    try:
        importlib.import_module(module)
    except AirflowOptionalProviderFeatureException as err:
        print(f"  {module}: {err}")
        if hint in str(err):
            return 0
        print(f"  the message does not say {hint!r}", file=sys.stderr)
        return 1
    except Exception as err:  # noqa: BLE001 - any other failure is the finding to report
        print(f"  {module}: {type(err).__name__}: {err} (not the optional-feature error)", file=sys.stderr)
        return 1
    print(f"  {module} imported although extra [{extra}] is not installed", file=sys.stderr)
    return 1


def quiet_imports() -> int:
    """1 if importing the provider's modules emits any warning (printed)."""
    import warnings

    import airflow  # Airflow's own start-up is not under test

    from ml_connector_provider.get_provider_info import get_provider_info

    del airflow
    info = get_provider_info()
    modules = [
        module
        for kind in ("hooks", "operators", "sensors", "triggers")
        for entry in info.get(kind, [])
        for module in entry["python-modules"]
    ] + ["ml_connector_provider.dag_factory"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for module in modules:
            importlib.import_module(module)
    for warning in caught:
        print(
            f"  {warning.filename}:{warning.lineno}: {warning.category.__name__}: {warning.message}",
            file=sys.stderr,
        )
    print(f"  {len(modules)} modules imported, {len(caught)} warning(s)")
    return 1 if caught else 0


def main(argv: list[str]) -> int:
    """Dispatch one check; see the module docstring."""
    commands = {
        "freeze-diff": (freeze_diff, 2),
        "dagbag": (dagbag, 1),
        "missing-extra": (missing_extra, 2),
        "quiet-imports": (quiet_imports, 0),
    }
    if not argv or argv[0] not in commands or len(argv) - 1 != commands[argv[0]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    func, _ = commands[argv[0]]
    return int(func(*argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
