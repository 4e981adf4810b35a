"""``npz:PATH`` datasets: a NumPy archive holding ``x_train, y_train, x_test, y_test``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

KEYS = ("x_train", "y_train", "x_test", "y_test")


class NpzError(ValueError):
    pass


def array_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Each array's shape from the archive's .npy headers, without loading the data."""
    if not path.is_file():
        raise NpzError(f"{path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            shapes = {}
            for key in KEYS:
                try:
                    with archive.open(f"{key}.npy") as member:
                        major, _ = npy_format.read_magic(member)
                        read = npy_format.read_array_header_1_0 if major == 1 else npy_format.read_array_header_2_0
                        shape, _, _ = read(member)
                        shapes[key] = shape
                except KeyError:
                    raise NpzError(f"{path} has no array {key!r} (needs {', '.join(KEYS)})") from None
    except zipfile.BadZipFile:
        raise NpzError(f"{path} is not an .npz archive") from None
    return shapes


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in KEYS}
