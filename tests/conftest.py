from __future__ import annotations

from pathlib import Path

import pytest

from benchharness.scenario import load_scenario

REPO = Path(__file__).parent.parent


@pytest.fixture
def scenario_file(tmp_path):
    """Write a scenario's YAML text to a file and return its loaded form."""

    def make(text: str, name: str = "s.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return load_scenario(path)

    return make
