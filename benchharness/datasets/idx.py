"""MNIST-format IDX files (gzipped or not), read with NumPy: ``train-*`` and ``t10k-*`` in one directory."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

# The IDX type byte -> NumPy dtype (big-endian for multi-byte types).
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
PARTS = {"x_train": ("train", "images"), "y_train": ("train", "labels"),
         "x_test": ("t10k", "images"), "y_test": ("t10k", "labels")}


class IdxError(ValueError):
    """A missing or malformed IDX file; the message names the file."""


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def find_files(directory: Path) -> dict[str, Path]:
    """The four files of an IDX directory: ``train-images*``, ``train-labels*``, ``t10k-images*``,
    ``t10k-labels*``. Raises IdxError naming what is missing."""
    if not directory.is_dir():
        raise IdxError(f"{directory} is not a directory")
    found, missing = {}, []
    for key, (split, kind) in PARTS.items():
        matches = sorted(directory.glob(f"{split}-{kind}*"))
        if matches:
            found[key] = matches[0]
        else:
            missing.append(f"{split}-{kind}-idx*-ubyte[.gz]")
    if missing:
        raise IdxError(f"{directory} lacks {', '.join(missing)}")
    return found


def read_header(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, shape) from an IDX file's header, without reading the data."""
    with _open(path) as f:
        magic = f.read(4)
        if len(magic) != 4 or magic[:2] != b"\x00\x00" or magic[2] not in IDX_DTYPES:
            raise IdxError(f"{path} is not an IDX file (magic {magic.hex()})")
        dims = struct.unpack(f">{magic[3]}I", f.read(4 * magic[3]))
    return np.dtype(IDX_DTYPES[magic[2]]), tuple(dims)


def read_array(path: Path) -> np.ndarray:
    dtype, shape = read_header(path)
    with _open(path) as f:
        f.seek(4 + 4 * len(shape))
        data = np.frombuffer(f.read(), dtype=dtype)
    if data.size != int(np.prod(shape)):
        raise IdxError(f"{path} holds {data.size} values, its header says {shape}")
    return data.reshape(shape)


def describe(directory: Path) -> tuple[tuple[int, ...], int, int]:
    """(sample shape, number of classes, training samples): shape and count from the images' header,
    the classes from the training labels (small: one byte per sample)."""
    files = find_files(directory)
    _, image_shape = read_header(files["x_train"])
    return image_shape[1:], int(read_array(files["y_train"]).max()) + 1, image_shape[0]


def load(directory: Path) -> dict[str, np.ndarray]:
    """All four arrays of an IDX directory."""
    return {key: read_array(path) for key, path in find_files(directory).items()}
