"""The provider and the sandbox are two distributions that never import each other.

A stand-in that shared the provider's code would confirm the provider's bugs, and a provider that
imported the sandbox would need it installed in every Airflow image. The provider reaches the
sandbox only as ``python -m ml_connector_sandbox`` in a child process; the sandbox's demo reaches
the provider only through the ``airflow`` and ``ml-connector`` commands.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

from setuptools import find_packages

REPO = Path(__file__).resolve().parents[2]
PROVIDER = REPO / "ml_connector_provider"
SANDBOX = REPO / "sandbox" / "ml_connector_sandbox"


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module a source file imports, statically or through ``importlib``/``__import__``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in {"importlib.import_module", "import_module", "__import__"} and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    yield node.lineno, first.value


def imports_of(package: Path, forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted(package.rglob("*.py"))
        for line, module in imported_modules(path)
        if module == forbidden or module.startswith(forbidden + ".")
    ]


def test_the_scan_finds_imports() -> None:
    """The scanner sees plain, ``from``, function-level and dynamic imports."""
    assert imports_of(SANDBOX, "ml_connector_sandbox")  # the sandbox imports itself, of course
    source = Path(__file__)
    found = {module for _, module in imported_modules(source)}
    assert {"ast", "tomllib", "setuptools", "pathlib"} <= found


def test_the_provider_never_imports_the_sandbox() -> None:
    assert imports_of(PROVIDER, "ml_connector_sandbox") == []


def test_the_sandbox_never_imports_the_provider() -> None:
    assert imports_of(SANDBOX, "ml_connector_provider") == []


def test_the_provider_distribution_packages_no_sandbox_file() -> None:
    """What setuptools would put in the provider's wheel, from the root ``pyproject.toml``."""
    setuptools_config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = find_packages(where=str(REPO), **setuptools_config["packages"]["find"])
    assert "ml_connector_provider" in packages
    assert [p for p in packages if not p.startswith("ml_connector_provider")] == []
    assert [p for p in packages if "sandbox" in p] == []
    data = setuptools_config["package-data"]
    assert list(data) == ["ml_connector_provider"]
    assert [pattern for pattern in data["ml_connector_provider"] if "sandbox" in pattern] == []
    assert [path for path in PROVIDER.rglob("*") if "sandbox" in path.name or path.name == "demo.py"] == []
