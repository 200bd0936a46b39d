"""regnety_2560 (1.28G parameters) against timm, one model at a time.

tests/test_families_reference.py holds timm's model and the generated one in memory together,
which for regnety_2560 is 10.3 GB of float32 weights; it skips the name. Here timm's model runs
first: its outputs and its state_dict (saved to disk) are kept, the model freed; then the
generated model loads the saved weights strictly (memory-mapped) and must give timm's outputs.
One model's 5.1 GB at a time (a peak resident set of 10.8 GB counts the mapped file's pages,
which the kernel may drop), two 5.1 GB files on disk, 4.5 minutes on two cores: marked
``reference`` and run only where ``-m`` asks for slow tests
(``pytest -m "reference and slow" tests/test_regnet_reference.py``: 1 passed in 258 s).
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from helpers import build_generated
from reference_compare import TOLERANCE, library, randomize_norms

pytestmark = [
    pytest.mark.reference,
    pytest.mark.slow,
    pytest.mark.skipif(
        "'slow' not in config.getoption('markexpr')",
        reason="1.28G parameters, 4.5 minutes: run with -m 'reference and slow'",
    ),
]
SIZES = (64, 80)


def test_regnety_2560_equals_timm_one_model_at_a_time(tmp_path: Path) -> None:
    timm = library("timm")
    torch = library("torch")
    torch.manual_seed(0)
    reference = timm.create_model("regnety_2560", pretrained=False)
    expected = {}
    for size in SIZES:
        randomize_norms(reference, size, torch)
        x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(size))
        with torch.no_grad():
            expected[size] = (x, reference(x))
        torch.save(reference.state_dict(), tmp_path / f"{size}.pt")
    del reference
    gc.collect()
    ours = build_generated("torch", "regnety_2560").eval()
    for size in SIZES:
        state = torch.load(tmp_path / f"{size}.pt", mmap=True, weights_only=True)
        ours.load_state_dict(state, strict=True)
        del state
        (tmp_path / f"{size}.pt").unlink()
        x, want = expected[size]
        with torch.no_grad():
            got = ours(x)
        assert got.shape == want.shape == (2, 1000)
        assert (got - want).abs().max().item() <= TOLERANCE, size
