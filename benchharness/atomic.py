"""Files that survive a crash: replaced whole or not at all, and on disk before we say they are.
No dependencies beyond the standard library, so a worker can import it cheaply.

A rename is atomic but not durable until the directory holding it is fsynced too; the temporary
file gets a unique name, so two writers (or a writer and a leftover from a killed one) never write
into the same temporary file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def fsync_directory(path: Path) -> None:
    """Make the entries of ``path`` (a new file, a rename) durable. A no-op where directories cannot
    be opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory: nothing more can be done
    finally:
        os.close(fd)


def _chmod_as_created(fd: int) -> None:
    """mkstemp makes the file 0600; a file written in place would get 0666 less the umask, and
    others (a shared results folder, a CI artifact server) must read it the same."""
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


def write_text_atomically(path: Path, text: str) -> None:
    """Replace ``path`` whole or not at all: a unique temporary file beside it, written, fsynced,
    renamed over it, and the directory fsynced. A process killed mid-write leaves the old file (or
    none), never half a document; on an error (a full disk) the temporary file is removed and the
    error raised."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        _chmod_as_created(fd)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_json_atomically(path: Path, data) -> None:
    """``data`` as indented JSON, with :func:`write_text_atomically`'s guarantees."""
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")
