"""The bad-input corpus of Stampli export files (``tests/corpus/stampli``): each file is read by
``parse_export`` with the template of its sidecar, and the file is refused, or each invoice posted
or dead-lettered, exactly as its sidecar says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_connector_provider.integrations.stampli_fusion.csv_export import FileRejected, Problem, parse_export
from ml_connector_provider.integrations.stampli_fusion.settings import FileTemplate

CORPUS = Path(__file__).resolve().parents[4] / "tests" / "corpus" / "stampli"
CASES = sorted(path.name.removesuffix(".csv") for path in CORPUS.glob("*.csv"))


def _matches(problem: Problem, expected: dict[str, Any], file_name: str) -> bool:
    return (
        problem.file == file_name
        and problem.row == expected["row"]
        and problem.column == expected["column"]
        and expected["message"] in problem.message
    )


def test_every_file_of_the_corpus_has_its_expectation() -> None:
    sidecars = sorted(path.name.removesuffix(".expect.json") for path in CORPUS.glob("*.expect.json"))
    assert sidecars == CASES
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES)
def test_corpus_file(case: str) -> None:
    expected = json.loads((CORPUS / f"{case}.expect.json").read_text(encoding="utf-8"))
    template = FileTemplate.model_validate(expected.get("template", {}))
    file_name = f"{case}.csv"
    content = (CORPUS / file_name).read_bytes()

    if "rejected" in expected:
        with pytest.raises(FileRejected) as rejected:
            list(parse_export(content, file_name=file_name, template=template))
        assert _matches(rejected.value.problem, expected["rejected"], file_name), rejected.value.problem
        return

    groups = list(parse_export(content, file_name=file_name, template=template))
    assert [g.source_id for g in groups] == [g["source_id"] for g in expected["groups"]]
    for group, wanted in zip(groups, expected["groups"], strict=True):
        if wanted.get("posted"):
            assert group.problems == (), group.problems
            assert group.invoice is not None
        else:
            assert group.invoice is None
            assert len(group.problems) == len(wanted["problems"]), group.problems
            for problem, described in zip(group.problems, wanted["problems"], strict=True):
                assert _matches(problem, described, file_name), problem
        warnings = wanted.get("warnings", [])
        assert len(group.warnings) == len(warnings), group.warnings
        for warning, described in zip(group.warnings, warnings, strict=True):
            assert _matches(warning, described, file_name), warning
