"""``benchharness report`` on the corrupt run directories in ``tests/corrupt_runs/`` (see its
README): each ends in exit 2 with its one line per problem (file, line, field), or in a report that
marks the damage; never a traceback. In-process, through ``benchharness.cli.main``."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from benchharness.cli import main

CORPUS = Path(__file__).parent / "corrupt_runs"
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "expect").is_file())


def expectation(case: Path) -> tuple[int, list[str]]:
    first, *lines = (case / "expect").read_text().splitlines()
    return int(first.split()[1]), [line.replace("{run}", str(case)) for line in lines]


def test_the_corpus_holds_every_fault_class():
    assert len(CASES) >= 25
    assert (CORPUS / "README.md").read_text().count("\n| `") == len(CASES)  # a README line per case


@pytest.mark.parametrize("name", CASES)
def test_report_on_a_corrupt_run_directory(name, tmp_path, capsys):
    case = CORPUS / name
    code, expected = expectation(case)
    out = tmp_path / "report.html"
    assert main(["report", str(case), "-o", str(out)]) == code
    stdout, stderr = capsys.readouterr()
    assert "Traceback" not in stderr and "internal error" not in stderr
    if code == 2:
        lines = stderr.splitlines()
        assert stdout == "" and not out.exists()
        if name == "run_json_peak_is_a_list":  # the line of "peak" depends on the layout: file and field
            assert len(lines) == 1 and lines[0].startswith(expected[0]) and expected[1] in lines[0]
            return
        assert len(lines) == len(expected), stderr
        for line, start in zip(lines, expected):
            assert line.startswith(start), (line, start)
    else:
        text = html.unescape(out.read_text())
        assert stderr.startswith("rendering the html report of ") and stderr.count("\n") == 1
        assert stdout.strip() == f"report: {out}"
        for shown in expected:
            assert shown in text, shown
