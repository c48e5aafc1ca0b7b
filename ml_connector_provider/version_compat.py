"""Airflow version gates for code that depends on a feature of a newer Airflow.

This module follows the pattern of the official providers: each provider keeps its own copy so
that version checks never depend on another provider or on test code. Import the constants from
here rather than comparing versions inline.
"""

from __future__ import annotations


def get_base_airflow_version_tuple() -> tuple[int, int, int]:
    """Return the installed Airflow version as ``(major, minor, micro)``, ignoring pre-release tags.

    :return: the base version of the installed ``apache-airflow``.
    """
    from airflow import __version__
    from packaging.version import Version

    airflow_version = Version(__version__)
    return airflow_version.major, airflow_version.minor, airflow_version.micro


AIRFLOW_V_3_1_PLUS: bool = get_base_airflow_version_tuple() >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS: bool = get_base_airflow_version_tuple() >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS: bool = get_base_airflow_version_tuple() >= (3, 3, 0)


def retry_exponential_backoff_arg(multiplier: float) -> float | bool:
    """The operator's ``retry_exponential_backoff`` argument for the installed Airflow.

    Airflow 3.2 takes the multiplier applied to the delay at each retry (``0`` keeps it constant);
    Airflow 3.1 takes a boolean and then doubles the delay. On 3.1 any positive multiplier turns
    the backoff on.

    :param multiplier: the tenant's ``retry_exponential_backoff``.
    :return: the multiplier on Airflow 3.2+, whether it is positive on Airflow 3.1.
    """
    return multiplier if AIRFLOW_V_3_2_PLUS else multiplier > 0


__all__ = [
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "get_base_airflow_version_tuple",
    "retry_exponential_backoff_arg",
]
