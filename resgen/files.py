"""Reading and writing files safely: every write atomic, every read bounded.

Writing: readers see the old file or the new one, never half of one. ``build`` writes generated
sources with :func:`write_atomic` and ``train`` its checkpoints, metrics and plots with
:func:`write_atomic_with`: a temporary file beside the target, fsynced, then moved into place
with ``os.replace``. A write that fails (a full disk, a file-size limit, a folder without
write permission) raises :class:`WriteFailed` naming the file asked for, and leaves no temporary
file; a writer killed outright (SIGKILL) leaves ``.<name>.resgen-<pid>-<random>.tmp``, which the
next write of the same file removes once that process is gone.

Reading: every file resgen reads (specs, bases, build targets, training data, checkpoints) goes
through :func:`read_regular` (or :func:`require_regular` when another library opens the path):
regular files only, never a blocking open, never more than a stated number of bytes; anything
else is a located :class:`~resgen.errors.ResgenError`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

from resgen.errors import Problem, ResgenError


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


class WriteFailed(OSError):
    """Writing a file failed; ``filename`` is the file asked for (never a temporary one), which
    was left as it was."""


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}.resgen-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process; an absurd pid is no process
    return True


def sweep_temporaries(path: Path) -> None:
    """Remove the temporary files of ``path`` that a killed writer left behind (their names
    carry the writer's process id; a live writer's are kept)."""
    prefix = _temporary_prefix(path)
    with contextlib.suppress(OSError), os.scandir(path.parent) as entries:
        for entry in entries:
            if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
                continue
            pid = entry.name[len(prefix) :].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def _file_size_signal_ignored() -> Iterator[None]:
    """Past a file-size limit (``ulimit -f``) a write fails with EFBIG instead of the process
    being killed by SIGXFSZ (Python ignores it at start-up; a library may have restored it)."""
    sig = getattr(signal, "SIGXFSZ", None)
    if sig is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(sig, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(sig, previous)


def write_atomic_with(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then move it into place;
    the file keeps the mode ``open`` would give it. On any failure ``path`` is untouched and
    the temporary file removed; an :class:`OSError` becomes :class:`WriteFailed` naming
    ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(path)
        mode = _file_mode(path)
        prefix = f"{_temporary_prefix(path)}{os.getpid()}-"
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    except OSError as exc:
        raise WriteFailed(exc.errno, exc.strerror or str(exc), os.fspath(path)) from None
    try:
        with _file_size_signal_ignored():
            with os.fdopen(handle, "wb") as stream:
                os.chmod(temporary, mode)
                write(stream)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
    except BaseException as exc:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, WriteFailed):
            raise WriteFailed(exc.errno, exc.strerror or str(exc), os.fspath(path)) from None
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, line ends as given) to ``path`` atomically."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    write_atomic_with(path, lambda stream: stream.write(payload))


# ---------------------------------------------------------------------------------------------
# reading


KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


def _kind(mode: int) -> str:
    """What a non-regular file is, in words, with its article."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def size_text(size: int) -> str:
    """A byte count as people write limits: ``1 MiB``, ``64 KiB``, ``300 bytes``."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def _refusal(path: str | os.PathLike[str], shown: str | None, message: str) -> ResgenError:
    return ResgenError(Problem.at_file(os.fspath(path) if shown is None else shown, message))


def _os_message(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)


def require_regular(
    path: str | os.PathLike[str], limit: int, *, what: str = "file", shown: str | None = None
) -> int:
    """Check, without opening it, that ``path`` is a regular file of at most ``limit`` bytes
    (a link is followed) and return its size; for files another library opens by path.

    Refuses with a :class:`ResgenError` located at the file's line 1 (``shown`` names the file
    in the message, default ``path``): a missing file, a dangling link, a folder, a FIFO, a
    device, a socket, a file over ``limit``. ``what`` names the file in the message
    (``"cannot read the spec: it is a FIFO (named pipe), not a regular file"``).
    Prefer :func:`read_regular`, which also holds against a file swapped after the check.
    """
    try:
        st = os.stat(path)
    except ValueError:  # a NUL byte in the path
        raise _refusal(path, shown, f"cannot read the {what}: the path has a NUL byte") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and os.path.islink(path):
            message = f"cannot read the {what}: it is a link to a missing file"
        else:
            message = f"cannot read the {what}: {_os_message(exc)}"
        raise _refusal(path, shown, message) from None
    _check_stat(path, shown, st, limit, what)
    return st.st_size


def _check_stat(
    path: str | os.PathLike[str], shown: str | None, st: os.stat_result, limit: int, what: str
) -> None:
    if not stat.S_ISREG(st.st_mode):
        kind = _kind(st.st_mode)
        raise _refusal(path, shown, f"cannot read the {what}: it is {kind}, not a regular file")
    if st.st_size > limit:
        raise _too_big(path, shown, limit, what)


def _too_big(path: str | os.PathLike[str], shown: str | None, limit: int, what: str) -> ResgenError:
    return _refusal(path, shown, f"cannot read the {what}: it is larger than {size_text(limit)}")


def _open_checked(path: str | os.PathLike[str], limit: int, what: str, shown: str | None) -> int:
    """A descriptor open on ``path`` for reading, checked on the open descriptor as
    :func:`require_regular` checks the path (which it does first: never opens a FIFO or a
    device). Non-blocking; the caller closes it."""
    require_regular(path, limit, what=what, shown=shown)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _refusal(path, shown, f"cannot read the {what}: {_os_message(exc)}") from None
    try:
        _check_stat(path, shown, os.fstat(fd), limit, what)  # swapped since the check?
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(
    path: str | os.PathLike[str], limit: int, *, what: str = "file", shown: str | None = None
) -> BinaryIO:
    """``path`` opened for binary reading if it is a regular file of at most ``limit`` bytes.

    For readers that want a stream (an unpickler, an image decoder). The same checks and
    refusals as :func:`read_regular`, made on the open descriptor before anything is read; the
    caller reads what it needs (a file that grows past ``limit`` meanwhile is the caller's to
    bound). Close it, or use it in a ``with`` block.
    """
    fd = _open_checked(path, limit, what, shown)
    try:
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(
    path: str | os.PathLike[str], limit: int, *, what: str = "file", shown: str | None = None
) -> bytes:
    """The bytes of the regular file ``path`` (a link is followed), at most ``limit`` of them.

    Never blocks and never reads more than ``limit + 1`` bytes: the file is opened with
    ``O_NONBLOCK`` (a FIFO without a writer opens at once) and checked with ``fstat`` on the
    open descriptor before anything is read, so a FIFO, a device such as ``/dev/zero``, a
    socket, a folder or a dangling link is refused however the path was swapped. Refusals are a
    :class:`ResgenError` with one problem at the file's line 1, column 1: ``shown`` (default
    ``path``) names the file and ``what`` the kind of file in the message, e.g.
    ``data/x.bin:1:1: cannot read the CIFAR batch: it is larger than 256 MiB``.
    """
    fd = _open_checked(path, limit, what, shown)
    chunks: list[bytes] = []
    try:
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise _refusal(path, shown, f"cannot read the {what}: {_os_message(exc)}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # grew while being read
        raise _too_big(path, shown, limit, what)
    return data
