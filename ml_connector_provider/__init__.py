"""ml-connector: an Apache Airflow provider that keeps finance systems in sync."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"

MIN_AIRFLOW_VERSION = "3.1.0"


def _check_airflow_version() -> None:
    # Imported lazily so that the pure parts of the package (mappings, EDI writer, config schema)
    # can be imported by tools that do not have Airflow installed.
    try:
        from airflow import __version__ as airflow_version
    except ImportError:  # pragma: no cover - Airflow is a hard dependency of the distribution
        return
    import packaging.version

    base = packaging.version.parse(packaging.version.parse(airflow_version).base_version)
    if base < packaging.version.parse(MIN_AIRFLOW_VERSION):
        raise RuntimeError(
            f"The package `ml-connector-provider:{__version__}` needs Apache Airflow {MIN_AIRFLOW_VERSION}+"
        )


_check_airflow_version()
