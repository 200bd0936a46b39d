"""What the processor offers a training run: whether its CPU computes bfloat16 natively.

On CPUs with AMX or AVX512-BF16 (Intel Sapphire Rapids and later, AMD Zen 4 and later) oneDNN
runs bf16 convolutions and matmuls at about twice the float32 rate, so ``resgen train`` defaults
to bf16 there as it does on GPUs. Elsewhere bf16 would be emulated (slower than float32), so
the default stays float32.

torch reports the CPU's features itself (``torch.cpu._is_amx_tile_supported``,
``_is_avx512_bf16_supported``, and whether oneDNN has bf16 kernels); where torch is not loaded
(Keras on TensorFlow) the same flags are read from ``/proc/cpuinfo``. ``RESGEN_CPU_BF16=0`` or
``1`` overrides the probe (for tests and for machines that misreport).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

OVERRIDE = "RESGEN_CPU_BF16"
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})  # /proc/cpuinfo's names
CPUINFO = Path("/proc/cpuinfo")


def _torch_says() -> bool | None:
    """torch's own report, if torch is loaded and has the probes (they are private API)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
        cpu = torch.cpu
        return bool(cpu._is_amx_tile_supported() or cpu._is_avx512_bf16_supported())
    except (AttributeError, RuntimeError):  # an older or newer torch without these probes
        return None


def _cpuinfo_says() -> bool:
    """The flags line of ``/proc/cpuinfo`` (Linux); elsewhere: no."""
    try:
        text = CPUINFO.read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return not BF16_FLAGS.isdisjoint(line.partition(":")[2].split())
    return False


def cpu_bf16() -> bool:
    """Whether this CPU has native bf16 compute (AMX or AVX512-BF16)."""
    forced = os.environ.get(OVERRIDE, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    said = _torch_says()
    return _cpuinfo_says() if said is None else said


def precision(amp: bool) -> str:
    """The name a run's summary and progress line give its arithmetic."""
    return "bf16" if amp else "float32"
