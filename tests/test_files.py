"""resgen.files: the bounded, regular-file-only reader every read of resgen goes through."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from resgen.errors import ResgenError
from resgen.files import read_regular, require_regular, size_text


def _refusal(path: Path | str, limit: int = 100, what: str = "file") -> str:
    with pytest.raises(ResgenError) as info:
        read_regular(path, limit, what=what)
    (problem,) = info.value.problems
    assert (problem.line, problem.col, problem.field) == (1, 1, "")
    return problem.message


def test_reads_a_regular_file_and_a_link_to_one(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"x" * 100)
    (tmp_path / "link.yaml").symlink_to("a.yaml")
    assert read_regular(tmp_path / "a.yaml", 100) == b"x" * 100
    assert read_regular(tmp_path / "link.yaml", 100) == b"x" * 100
    assert require_regular(tmp_path / "link.yaml", 100) == 100


def test_one_byte_over_the_limit_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"x" * 101)
    assert _refusal(tmp_path / "a.yaml", 100, "spec") == (
        "cannot read the spec: it is larger than 100 bytes"
    )


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_refused_directly_and_through_links(tmp_path: Path, device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} does not exist here")
    (tmp_path / "t.py").symlink_to(device)
    for path in (device, tmp_path / "t.py"):
        assert (
            _refusal(path) == "cannot read the file: it is a character device, not a regular file"
        )


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    done: list[str] = []
    worker = threading.Thread(target=lambda: done.append(_refusal(fifo)), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert done == ["cannot read the file: it is a FIFO (named pipe), not a regular file"]


def test_folders_sockets_dangling_links_missing_files_and_nul_bytes(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dangling").symlink_to("nowhere")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / "sock"))
        assert _refusal(tmp_path / "sock").endswith("it is a socket, not a regular file")
    finally:
        server.close()
    assert _refusal(tmp_path / "dir").endswith("it is a folder, not a regular file")
    assert _refusal(tmp_path / "dangling").endswith("it is a link to a missing file")
    assert _refusal(tmp_path / "missing").endswith("no such file")
    assert _refusal(f"{tmp_path}/a\0b").endswith("the path has a NUL byte")


def test_unreadable_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    (tmp_path / "secret").write_text("x")
    (tmp_path / "secret").chmod(0)
    assert _refusal(tmp_path / "secret").endswith("permission denied")


def test_shown_names_the_file_as_the_user_spelled_it(tmp_path: Path) -> None:
    with pytest.raises(ResgenError) as info:
        read_regular(tmp_path / "nope", 10, shown="specs/nope.yaml", what="spec")
    assert str(info.value) == "specs/nope.yaml:1:1: cannot read the spec: no such file"


def test_size_text() -> None:
    assert [size_text(n) for n in (1 << 20, 64 << 10, 300, 1025, 8 << 30)] == [
        "1 MiB",
        "64 KiB",
        "300 bytes",
        "1025 bytes",
        "8 GiB",
    ]
