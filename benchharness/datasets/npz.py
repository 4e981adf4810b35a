"""``npz:PATH`` datasets: a NumPy archive holding ``x_train, y_train, x_test, y_test``.

A truncated or corrupt archive (not a zip, a member whose .npy header or size is wrong, a failed CRC,
pickled objects) is an ``NpzError``: one line naming the file. ``array_shapes``, which validation
calls, reads every member once, so a damaged archive is refused before a run starts.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from benchharness.errors import UserError

KEYS = ("x_train", "y_train", "x_test", "y_test")


class NpzError(UserError, ValueError):
    """A missing or malformed .npz dataset; the message (one line) names the file."""


@contextmanager
def _reading(path: Path, member: str | None = None):
    """Turn what reading a damaged archive raises (zipfile, zlib, NumPy's header parser, the OS) into
    one NpzError line."""
    where = f"{path} ({member})" if member else str(path)
    try:
        yield
    except NpzError:
        raise
    except zipfile.BadZipFile as exc:  # not a zip at all (a truncated one has lost its directory), or a bad CRC
        text = " ".join(str(exc).split())
        raise NpzError(f"{where} is corrupt: {text}" if member else f"{where} is not an .npz archive ({text})") from None
    except EOFError:
        raise NpzError(f"{where} is truncated") from None
    except zlib.error as exc:
        raise NpzError(f"{where} is corrupt: {' '.join(str(exc).split())}") from None
    except ValueError as exc:  # NumPy's .npy header parser, or np.load on what is not an archive
        raise NpzError(f"{where} cannot be read as NumPy data: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise NpzError(f"{where}: cannot read ({exc.strerror or exc})") from None


def array_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Each array's shape, from archives whose members are whole: each .npy header is read, its
    size checked against the member's, and every member read once for its CRC (in chunks, not kept).
    Raises NpzError. Cached while the file's size and time stay the same: validation asks once per trial."""
    if not path.is_file():
        raise NpzError(f"{path} does not exist")
    try:
        st = path.stat()
    except OSError as exc:
        raise NpzError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return dict(_array_shapes(str(path), st.st_size, st.st_mtime_ns))


@lru_cache(maxsize=16)
def _array_shapes(name: str, size: int, mtime_ns: int) -> tuple:
    path = Path(name)
    shapes = {}
    with _reading(path), zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for key in KEYS:
            if f"{key}.npy" not in names:
                raise NpzError(f"{path} has no array {key!r} (needs {', '.join(KEYS)})")
            shapes[key] = _check_member(path, archive, key)
    return tuple(shapes.items())


def _check_member(path: Path, archive: zipfile.ZipFile, key: str) -> tuple[int, ...]:
    info = archive.getinfo(f"{key}.npy")
    with _reading(path, f"{key}.npy"), archive.open(info) as member:
        major, _ = npy_format.read_magic(member)
        read = npy_format.read_array_header_1_0 if major == 1 else npy_format.read_array_header_2_0
        shape, _, dtype = read(member)
        if dtype.hasobject:
            raise NpzError(f"{path} ({key}.npy) holds Python objects, which are not loaded (pickle)")
        expected = member.tell() + math.prod(shape) * dtype.itemsize
        if info.file_size != expected:
            what = "is truncated" if info.file_size < expected else "is longer than its header says"
            raise NpzError(f"{path} ({key}.npy) {what}: {info.file_size:,} bytes, its header "
                           f"({'x'.join(map(str, shape)) or 'a scalar'} of {dtype.name}) needs {expected:,}")
        while member.read(1 << 20):  # zipfile checks the CRC at the end of the member
            pass
    return tuple(shape)


def load(path: Path) -> dict[str, np.ndarray]:
    arrays = {}
    with _reading(path), np.load(path, allow_pickle=False) as archive:
        for key in KEYS:
            with _reading(path, f"{key}.npy"):
                arrays[key] = archive[key]
    return arrays
