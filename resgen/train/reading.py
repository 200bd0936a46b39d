"""Opening the files a run reads (data batches, images, checkpoints, its own metrics) safely.

Every such file must be a regular file (a link to one is fine) no larger than a stated bound;
a FIFO, a device such as ``/dev/zero``, a folder or a socket is refused with a located line
instead of blocking or reading without end. The file is opened with ``O_NONBLOCK`` and checked
with ``fstat`` on the open descriptor, so neither a FIFO nor a swap between check and read can
make it block.

This is the training package's stand-in for the bounded regular-file reader that
``resgen.files`` is getting; the contract is the same, so the call sites can switch to it.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from resgen.errors import Problem, ResgenError

KIB, MIB, GIB = 2**10, 2**20, 2**30


class NotARegularFile(ResgenError):
    """A path that is not a readable regular file within its size bound."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(Problem.at_file(path, reason))
        self.path, self.reason = os.fspath(path), reason

    def describe(self) -> str:
        """``path: reason``, for a message that has its own prefix."""
        return f"{self.problems[0].file}: {self.problems[0].message}"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _size(size: int) -> str:
    for unit, name in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
        if size >= unit:
            return f"{size / unit:.4g} {name}"
    return f"{size} bytes"


def open_regular(path: str | os.PathLike[str], limit: int) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file of at most ``limit`` bytes.

    Raises :class:`NotARegularFile` (a located line naming ``path``) otherwise, and for a
    missing or unreadable file.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise NotARegularFile(path, exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(path, f"{_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise NotARegularFile(
                path, f"{_size(info.st_size)}, more than the {_size(limit)} allowed here"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular`); a
    file that grows past the bound while it is read is refused too."""
    with open_regular(path, limit) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise NotARegularFile(path, f"grew past the {_size(limit)} allowed here while read")
    return data
