"""MNIST-format IDX files (gzipped or not), read with NumPy: ``train-*`` and ``t10k-*`` in one directory.

A truncated or corrupt file (short header, gzip stream that ends early or fails its CRC, data shorter
or longer than the header says) is an ``IdxError``: one line naming the file. ``describe``, which
validation calls, checks all four files in full, so a damaged dataset is refused before a run starts.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from benchharness.errors import UserError

# The IDX type byte -> NumPy dtype (big-endian for multi-byte types).
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
PARTS = {"x_train": ("train", "images"), "y_train": ("train", "labels"),
         "x_test": ("t10k", "images"), "y_test": ("t10k", "labels")}
_CHUNK = 1 << 20


class IdxError(UserError, ValueError):
    """A missing or malformed IDX file; the message (one line) names the file."""


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


@contextmanager
def _reading(path: Path):
    """Turn what reading a damaged file raises (zlib, gzip, struct, the OS) into one IdxError line."""
    try:
        yield
    except IdxError:
        raise
    except EOFError:
        raise IdxError(f"{path} is truncated: its gzip stream ends early") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise IdxError(f"{path} is corrupt: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise IdxError(f"{path}: cannot read ({exc.strerror or exc})") from None


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


def _header(f, path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    magic = f.read(4)
    if len(magic) < 4:
        raise IdxError(f"{path} is truncated: {len(magic)} bytes, shorter than an IDX header")
    if magic[:2] != b"\x00\x00" or magic[2] not in IDX_DTYPES:
        raise IdxError(f"{path} is not an IDX file (magic {magic.hex()})")
    dims = f.read(4 * magic[3])
    if len(dims) != 4 * magic[3]:
        raise IdxError(f"{path} is truncated: its header needs {4 + 4 * magic[3]} bytes, the file has {4 + len(dims)}")
    return np.dtype(IDX_DTYPES[magic[2]]), struct.unpack(f">{magic[3]}I", dims)


def read_header(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, shape) from an IDX file's header, without reading the data."""
    with _reading(path), _open(path) as f:
        return _header(f, path)


def _size_problem(path: Path, shape: tuple[int, ...], dtype: np.dtype, data_bytes: int) -> str | None:
    expected = math.prod(shape) * dtype.itemsize
    header = f"its header ({'x'.join(map(str, shape)) or 'a scalar'} of {dtype.name})"
    if data_bytes < expected:
        return f"{path} is truncated: {data_bytes:,} bytes of data, {header} needs {expected:,}"
    if data_bytes > expected:
        return f"{path} has {data_bytes - expected:,} bytes more than {header} describes"
    return None


def check_file(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """(dtype, shape) of an IDX file whose data is all there: its size for a plain file, the whole
    stream (length and CRC) for a gzipped one, read in chunks and not kept. Raises IdxError."""
    with _reading(path), _open(path) as f:
        dtype, shape = _header(f, path)
        if path.suffix == ".gz":
            data_bytes = 0
            while chunk := f.read(_CHUNK):
                data_bytes += len(chunk)
        else:
            data_bytes = path.stat().st_size - 4 - 4 * len(shape)
    problem = _size_problem(path, shape, dtype, data_bytes)
    if problem:
        raise IdxError(problem)
    return dtype, shape


def read_array(path: Path) -> np.ndarray:
    with _reading(path), _open(path) as f:
        dtype, shape = _header(f, path)
        data = f.read()
    problem = _size_problem(path, shape, dtype, len(data))
    if problem:
        raise IdxError(problem)
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def describe(directory: Path) -> tuple[tuple[int, ...], int, int]:
    """(sample shape, number of classes, training samples) of a directory whose four files are whole
    and agree (images with a sample dimension, one label per image). Raises IdxError. Cached while the
    files' sizes and times stay the same: validation asks once per trial."""
    files = find_files(directory)
    try:
        stamp = tuple((str(files[key]), *_stat(files[key])) for key in PARTS)
    except OSError as exc:
        raise IdxError(f"{directory}: cannot read ({exc.strerror or exc})") from None
    return _describe(stamp)


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@lru_cache(maxsize=16)
def _describe(stamp: tuple) -> tuple[tuple[int, ...], int, int]:
    files = {key: Path(entry[0]) for key, entry in zip(PARTS, stamp)}
    shapes = {key: check_file(path)[1] for key, path in files.items()}
    for split in ("train", "test"):
        images, labels = files[f"x_{split}"], files[f"y_{split}"]
        if len(shapes[f"x_{split}"]) < 2:
            raise IdxError(f"{images} has {len(shapes[f'x_{split}'])} dimension(s); images need a sample dimension and more")
        if len(shapes[f"y_{split}"]) != 1 or shapes[f"y_{split}"][0] != shapes[f"x_{split}"][0]:
            raise IdxError(f"{labels} holds {'x'.join(map(str, shapes[f'y_{split}']))} labels for the "
                           f"{shapes[f'x_{split}'][0]} images of {images.name}")
    labels = read_array(files["y_train"])
    return shapes["x_train"][1:], int(labels.max(initial=0)) + 1, shapes["x_train"][0]


def load(directory: Path) -> dict[str, np.ndarray]:
    """All four arrays of an IDX directory."""
    return {key: read_array(path) for key, path in find_files(directory).items()}
