"""``resgen convert`` against hostile checkpoints, hostile numbers and hostile machines (issue 21).

The truths: the float64 answer of the source weights computed here with torch (verification),
the HDF5 and zip formats' own properties set with h5py and zipfile (hostile files), and the
file system (what is left in a folder after a failed or killed write). Every case uses
resnet20_cifar (0.27M parameters, 32 px) so that the file is small and a conversion quick.
"""

from __future__ import annotations

import io
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import framework_env, generated_factory, no_traceback, run_resgen, spec_path

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
np = pytest.importorskip("numpy")
h5py = pytest.importorskip("h5py")

from checkpoints import images, keras_outputs, trained_like  # noqa: E402

from resgen.errors import ResgenError  # noqa: E402
from resgen.files import write_atomic  # noqa: E402
from resgen.weights import convert as converter  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

NAME = "resnet20_cifar"
MIB = 1 << 20


def cifar_state(seed: int = 0) -> dict:
    model = generated_factory("torch", NAME)()
    return trained_like({k: list(v.shape) for k, v in model.state_dict().items()}, seed)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def keras_file(tmp_path: Path) -> Path:
    """A genuine resnet20_cifar ``.weights.h5`` (written by Keras itself)."""
    model = generated_factory("keras", NAME)()
    path = tmp_path / "in.weights.h5"
    model.save_weights(path)
    return path


# --------------------------------------------------------------------------------------------
# class 1: verification that cannot be fooled, and is not wrongly strict


@pytest.mark.parametrize(
    ("tensor", "value"),
    [("layer2.0.conv1.weight", float("nan")), ("fc.bias", float("inf")), ("bn1.running_var", -1)],
)
def test_nan_or_infinity_anywhere_is_never_written(
    tensor: str, value: float, tmp_path: Path, cli: Callable
) -> None:
    """A NaN deep inside, an infinity in the classifier, a negative running variance (whose
    square root is NaN): exit 1, nothing written, whatever stage the NaN first shows at."""
    state = cifar_state()
    state[tensor].view(-1)[0] = value
    source, target = tmp_path / "in.pth", tmp_path / "out.safetensors"
    torch.save(state, source)
    result = cli("convert", spec_path(NAME), source, target)
    no_traceback(result)
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-2].endswith(": DIFFERENT")
    assert result.stdout.splitlines()[-1].startswith(f"not written: {target} (")
    assert "NaN or infinity" in result.stdout
    assert not target.exists()


def test_large_activations_are_judged_against_float64(tmp_path: Path, cli: Callable) -> None:
    """Logits in the tens of thousands: float32 PyTorch itself is more than 1e-4 from the exact
    (float64) answer there, so an absolute 1e-4 would refuse every conversion. The converted
    Keras model must be, and is, about as close to the float64 answer as float32 PyTorch."""
    state = cifar_state()
    state["fc.weight"] *= 3e5
    source, target = tmp_path / "in.pth", tmp_path / "out.weights.h5"
    torch.save(state, source)

    model = generated_factory("torch", NAME)().eval()
    model.load_state_dict(state)
    x = images(2, 32)
    with torch.no_grad():
        float32 = model(torch.from_numpy(x)).numpy()
        exact = model.double()(torch.from_numpy(x).double()).numpy()
    own_error = np.abs(float32 - exact).max()
    assert own_error > 1e-4  # the old absolute tolerance cannot be met by PyTorch itself

    result = cli("convert", spec_path(NAME), source, target)
    assert result.exit_code == 0, result.output
    assert "criterion: |checked - float64| <= max(10 x float32 err, 1e-05 x max |out|)" in (
        result.stdout
    )
    keras_model = generated_factory("keras", NAME)()
    keras_model.load_weights(target)
    assert np.abs(keras_outputs(keras_model, x) - exact).max() <= 10 * own_error


# --------------------------------------------------------------------------------------------
# class 2: HDF5 files as hostile input


def replace_dataset(path: Path, make: Callable[[h5py.Group, str, h5py.Dataset], None]) -> str:
    """Replace the file's first kernel dataset with ``make(group, name, old)``; its name."""
    with h5py.File(path, "r+") as file:
        names: list[str] = []
        file.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        name = next(n for n in names if file[n].ndim == 4)
        group_name, leaf = name.rsplit("/", 1)
        old = file[name]
        group = file[group_name]
        data = old[()]
        del group[leaf]
        make(group, leaf, data)
    return name


def refused(cli: Callable, source: Path, target: Path, *parts: str) -> None:
    result = cli("convert", spec_path(NAME), source, target)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    for part in parts:
        assert part in result.stderr, result.stderr
    assert all(line.startswith(f"{source}:1:1: ") for line in result.stderr.splitlines())
    assert not target.exists()


def test_external_storage_is_never_read(keras_file: Path, tmp_path: Path, cli: Callable) -> None:
    """A dataset whose raw data lives in another file (here a secret; it could be /dev/zero or
    a FIFO) is refused from its metadata, before any data is read."""
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"s3cr3t!!" * 4096)

    def external(group: h5py.Group, leaf: str, data: np.ndarray) -> None:
        group.create_dataset(
            leaf,
            shape=data.shape,
            dtype=data.dtype,
            external=[(str(secret), 0, h5py.h5f.UNLIMITED)],
        )

    name = replace_dataset(keras_file, external)
    refused(cli, keras_file, tmp_path / "out.pt", f"{name}: its data is stored outside the file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_external_storage_in_a_fifo_does_not_block(keras_file: Path, tmp_path: Path) -> None:
    """In a process with a timeout: reading the data would wait for a writer for ever."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def external(group: h5py.Group, leaf: str, data: np.ndarray) -> None:
        storage = [(str(fifo), 0, h5py.h5f.UNLIMITED)]
        group.create_dataset(leaf, shape=data.shape, dtype=data.dtype, external=storage)

    name = replace_dataset(keras_file, external)
    target = tmp_path / "out.pt"
    result = run_resgen("convert", spec_path(NAME), keras_file, target, timeout=300)
    assert result.returncode == 2, result.stderr
    assert f"{name}: its data is stored outside the file" in result.stderr
    assert not target.exists()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("string", "not real numbers"),
        ("compound", "not real numbers"),
        ("complex", "not real numbers"),
        ("chunked", "a chunked (possibly compressed) dataset"),
    ],
)
def test_datasets_other_than_plain_numbers_are_refused(
    kind: str, message: str, keras_file: Path, tmp_path: Path, cli: Callable
) -> None:
    def make(group: h5py.Group, leaf: str, data: np.ndarray) -> None:
        if kind == "string":
            group.create_dataset(leaf, data=np.full(data.shape, b"abc", dtype="S3"))
        elif kind == "compound":
            dtype = np.dtype([("a", "f4"), ("b", "i4")])
            group.create_dataset(leaf, shape=data.shape, dtype=dtype)
        elif kind == "complex":
            group.create_dataset(leaf, data=data.astype(np.complex64))
        else:
            group.create_dataset(leaf, data=data, compression="gzip")

    name = replace_dataset(keras_file, make)
    refused(cli, keras_file, tmp_path / "out.pt", f"{name}: ", message)


def legacy_file(path: Path, fill: Callable[[h5py.File], None]) -> Path:
    with h5py.File(path, "w") as file:
        fill(file)
    return path


def _scalar_names(f: h5py.File) -> None:
    f.create_group("conv1")
    f.attrs["layer_names"] = b"conv1"


def _absolute(f: h5py.File) -> None:
    f.create_group("conv1").attrs["weight_names"] = [b"conv1/kernel:0"]
    f.attrs["layer_names"] = [b"/conv1"]


def _missing_group(f: h5py.File) -> None:
    f.attrs["layer_names"] = [b"conv1"]


def _no_weight_names(f: h5py.File) -> None:
    f.create_group("conv1")
    f.attrs["layer_names"] = [b"conv1"]


def _external_link(f: h5py.File) -> None:
    f["conv1"] = h5py.ExternalLink("/etc/other.h5", "/x")
    f.attrs["layer_names"] = [b"conv1"]


def _weight_is_group(f: h5py.File) -> None:
    f.create_group("conv1/conv1/kernel:0")
    f["conv1"].attrs["weight_names"] = [b"conv1/kernel:0"]
    f.attrs["layer_names"] = [b"conv1"]


@pytest.mark.parametrize(
    ("fill", "message"),
    [
        (_scalar_names, "layer_names is not a list of names"),
        (_absolute, "layer_names: '/conv1' is not a relative name"),
        (_missing_group, "layer_names: 'conv1' is not in the file"),
        (_no_weight_names, "layer 'conv1': no weight_names attribute"),
        (_external_link, "layer_names: 'conv1' is a link; only objects inside the file are read"),
        (_weight_is_group, "layer 'conv1': 'conv1/kernel:0' is not a dataset"),
    ],
)
def test_malformed_keras2_files_are_one_line(
    fill: Callable, message: str, tmp_path: Path, cli: Callable
) -> None:
    source = legacy_file(tmp_path / "weights.h5", fill)
    result = cli("convert", spec_path(NAME), source, tmp_path / "out.pt")
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"{source}:1:1: {message}"]


# --------------------------------------------------------------------------------------------
# class 2: PyTorch files as hostile input


def quantized(tensor: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates making them; reading them is the point
        return torch.quantize_per_tensor(tensor, 0.1, 0, torch.qint8)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: t.to_sparse(), "a sparse_coo tensor; only dense tensors load"),
        (
            lambda t: quantized(t),
            "a quantized tensor; dequantize it (tensor.dequantize()) first",
        ),
        (lambda t: torch.empty(t.shape, device="meta"), "a meta tensor without data"),
        (lambda t: t.to(torch.complex64), "complex64 values, not real numbers"),
    ],
    ids=["sparse", "quantized", "meta", "complex"],
)
def test_tensors_that_are_not_dense_and_real_are_refused(
    make: Callable, message: str, tmp_path: Path, cli: Callable
) -> None:
    state = cifar_state()
    state["fc.weight"] = make(state["fc.weight"])
    source, target = tmp_path / "in.pth", tmp_path / "out.safetensors"
    torch.save(state, source)
    result = cli("convert", spec_path(NAME), source, target)
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert f"{source}:1:1: fc.weight: {message}" in result.stderr.splitlines()
    assert not target.exists()


def repacked(data: bytes, padding: int = 0) -> bytes:
    """``torch.save``'s zip, every member deflated, plus ``padding`` zero bytes in one more
    member (written a MiB at a time: the test never holds them)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as old,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as new,
    ):
        names = old.namelist()
        for name in names:
            new.writestr(name, old.read(name))
        if padding:
            prefix = names[0].split("/", 1)[0]
            with new.open(f"{prefix}/data/padding", "w") as stream:
                for _ in range(padding // MIB):
                    stream.write(bytes(MIB))
    return out.getvalue()


def test_a_deflated_checkpoint_is_bounded_by_what_the_model_holds(
    tmp_path: Path, cli: Callable
) -> None:
    """Deflated members are read (torch.load handles them), but a checkpoint that expands past
    what resnet20_cifar's state can need (0.27M parameters) is refused before it is expanded."""
    buffer = io.BytesIO()
    torch.save(cifar_state(), buffer)
    fine, bomb = tmp_path / "fine.pth", tmp_path / "bomb.pth"
    fine.write_bytes(repacked(buffer.getvalue()))
    bomb.write_bytes(repacked(buffer.getvalue(), padding=80 * MIB))
    assert bomb.stat().st_size < 2 * MIB
    result = cli("convert", spec_path(NAME), fine, tmp_path / "fine.safetensors")
    assert result.exit_code == 0, result.output
    result = cli("convert", spec_path(NAME), bomb, tmp_path / "bomb.safetensors")
    no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{bomb}:1:1: expands to ")
    assert "more than the" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".weights.h5"])
def test_a_file_larger_than_the_model_can_need_is_never_read(
    suffix: str, tmp_path: Path, cli: Callable
) -> None:
    """80 MiB (sparse: no disk used) for resnet20_cifar's 0.27M parameters: refused from its
    size, before a byte is read."""
    source = tmp_path / f"big{suffix}"
    with source.open("wb") as stream:
        stream.truncate(80 * MIB)
    result = cli("convert", spec_path(NAME), source, tmp_path / "out.pt")
    no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{source}:1:1: cannot read the checkpoint: it is larger than")
    assert len(result.stderr.splitlines()) == 1


def test_a_bit_flip_fails_the_zip_checksum(tmp_path: Path, cli: Callable) -> None:
    buffer = io.BytesIO()
    torch.save(cifar_state(), buffer)
    data = bytearray(buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        member = max(archive.infolist(), key=lambda info: info.file_size)
    # a byte in the middle of the largest tensor's data
    start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    data[start + member.file_size // 2 + 64] ^= 0x10
    source = tmp_path / "flipped.pth"
    source.write_bytes(bytes(data))
    result = cli("convert", spec_path(NAME), source, tmp_path / "out.safetensors")
    no_traceback(result)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"{source}:1:1: damaged: the checksum (CRC) of its member ")
    assert not (tmp_path / "out.safetensors").exists()


# --------------------------------------------------------------------------------------------
# class 3: write failures, resource limits, kill -9 leftovers


TF_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} \d\d:)")


def ours(stderr: str) -> list[str]:
    """stderr without the lines TensorFlow's C++ logging prints at import, whatever the
    environment asks (``TF_CPP_MIN_LOG_LEVEL`` does not silence them all)."""
    return [line for line in stderr.splitlines() if not TF_LOG.match(line)]


@pytest.fixture
def cifar_pth(tmp_path: Path) -> Path:
    path = tmp_path / "in.pth"
    torch.save(cifar_state(), path)
    return path


def test_a_full_disk_names_the_file_asked_for(
    cifar_pth: Path, cli: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    import resgen.files

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(resgen.files.os, "fsync", full)
    target = cifar_pth.with_name("out.weights.h5")
    result = cli("convert", spec_path(NAME), cifar_pth, target)
    no_traceback(result)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{target}:1:1: cannot write it: No space left on device; it was left as it was"
    ]
    assert files_in(cifar_pth.parent) == ["in.pth"]


def test_a_file_size_limit_is_one_line_and_leaves_nothing(cifar_pth: Path) -> None:
    """``ulimit -f``: Keras' HDF5 writer used to print a score of ignored exceptions and crash;
    now the Keras file is made in memory and our write fails with EFBIG, cleanly."""
    target = cifar_pth.with_name("out.weights.h5")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

    result = subprocess.run(
        [sys.executable, "-m", "resgen", "convert", spec_path(NAME), cifar_pth, target],
        capture_output=True,
        text=True,
        env=framework_env(PYTHONDONTWRITEBYTECODE="1", TMPDIR=str(cifar_pth.parent)),
        timeout=300,
        preexec_fn=limit,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert ours(result.stderr) == [
        f"{target}:1:1: cannot write it: File too large; it was left as it was"
    ], result.stderr
    assert files_in(cifar_pth.parent) == ["in.pth"]


def test_convert_makes_no_scratch_folder(cifar_pth: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A killed conversion can leave nothing in the temporary folder: none is made."""

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("a scratch folder was made")

    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    target = cifar_pth.with_name("out.weights.h5")
    report = converter.convert(spec_path(NAME), cifar_pth, target)
    assert report.ok
    assert files_in(cifar_pth.parent) == ["in.pth", "out.weights.h5"]


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path: Path) -> None:
    """A writer killed with SIGKILL leaves its temporary file; the next write of that file
    removes it once the writer is gone, and leaves a live writer's alone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    target = tmp_path / "out.weights.h5"
    stale = tmp_path / f".out.weights.h5.resgen-{dead.pid}-abcd.tmp"
    live = tmp_path / f".out.weights.h5.resgen-{os.getpid()}-efgh.tmp"
    other = tmp_path / ".notes.txt.resgen-1-x.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    write_atomic(target, b"new")
    assert files_in(tmp_path) == sorted([target.name, live.name, other.name])


def test_a_real_kill_leaves_only_what_the_next_run_removes(cifar_pth: Path) -> None:
    """SIGKILL in the middle of writing OUT (the write is slowed down to be caught), then the
    same command again: only OUT is left."""
    target = cifar_pth.with_name("out.safetensors")
    script = (
        "import sys, time, resgen.files as f\n"
        "real = f.os.fsync\n"
        "def slow(fd):\n"
        "    print('writing', flush=True); time.sleep(60)\n"
        "f.os.fsync = slow\n"
        "from resgen.cli.commands import main\n"
        "main(sys.argv[1:])\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, "convert", spec_path(NAME), cifar_pth, target],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=framework_env(),
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(files_in(cifar_pth.parent)) == 2  # in.pth and the killed writer's temporary
    result = run_resgen("convert", spec_path(NAME), cifar_pth, target, timeout=300)
    assert result.returncode == 0, result.stderr
    assert files_in(cifar_pth.parent) == ["in.pth", "out.safetensors"]


# --------------------------------------------------------------------------------------------
# class 7: messages name the right file


def test_out_under_a_file_names_that_file(cifar_pth: Path, cli: Callable) -> None:
    target = cifar_pth / "x.safetensors"
    result = cli("convert", spec_path(NAME), cifar_pth, target)
    assert result.exit_code == 2
    assert result.stderr == f"{target}:1:1: cannot write OUT there: {cifar_pth} is not a folder\n"


def test_library_warnings_do_not_reach_the_terminal(tmp_path: Path) -> None:
    """Loading a quantized tensor makes torch warn (TypedStorage is deprecated); the user sees
    the one refusal line, not the library's note."""
    state = cifar_state()
    state["fc.weight"] = quantized(state["fc.weight"])
    source = tmp_path / "in.pth"
    torch.save(state, source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ResgenError):
            converter.convert(spec_path(NAME), source, tmp_path / "out.safetensors")
    assert [str(w.message) for w in caught] == []
