"""Dataset registry. Importing it never imports TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    works_offline: bool


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "synthetic",
            "random inputs shaped like the model's input, random labels; measures speed, not accuracy",
            works_offline=True,
        ),
    )
}


def check_dataset_name(name: str) -> str | None:
    """Return None if ``name`` is a known dataset, else a message listing the known ones."""
    if name in DATASETS:
        return None
    return f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}"
