"""Writing files so that readers see the old file or the new one, never half of one.

``build`` writes generated sources with it and ``train`` its checkpoints, metrics and plots: a
temporary file beside the target, fsynced, then moved into place with ``os.replace``.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _file_mode(path: Path) -> int:
    """The permissions a plain ``open(path, "w")`` leaves: the existing file's, else 0o666 less
    the umask (``mkstemp`` alone would leave 0o600, unreadable to the user's group)."""
    try:
        st = os.stat(path, follow_symlinks=False)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except FileNotFoundError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic_with(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then move it into place;
    the file keeps the mode ``open`` would give it. On any failure ``path`` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _file_mode(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, mode)
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, line ends as given) to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    write_atomic_with(path, lambda stream: stream.write(payload))
