"""The generated models as backbones: feature maps, freezing and gradient checkpointing.

``features_only`` against the model's own full forward pass and across backends (the Keras
maps equal the PyTorch maps once resgen.weights.transfer moves the weights); ``feature_info``
against what a forward hook on the named module records; ``frozen_stages`` and ``norm_eval`` as
mmdetection defines them (no gradient for a frozen parameter, running statistics that do not
move over a training step); checkpointed gradients against plain ones. timm's own features_only
models are the reference in test_backbone_reference.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from checkpoints import randomize_torch
from helpers import build_generated, generated_module

torch = pytest.importorskip("torch")

# Keras' TensorFlow backend converts with np.array(x) in a way NumPy 2 deprecates; not ours.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SIZE = 64


def images(batch: int = 2, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=generator)


@pytest.mark.parametrize("name", ["resnet18", "resnet50_v2", "resnet20_cifar"])
def test_features_only_gives_the_intermediates_and_no_head(name: str) -> None:
    full = randomize_torch(build_generated("torch", name))
    ours = build_generated("torch", name, features_only=True, out_indices=(0, 2))
    ours.load_state_dict(full.state_dict(), strict=False)
    ours.eval()
    kept = set(ours.state_dict())
    assert kept < set(full.state_dict())
    assert not [key for key in kept if key.split(".")[0] in ("fc", "layer3", "layer4")]
    x = images()
    with torch.no_grad():
        maps = ours(x)
        expected = full.forward_intermediates(x, indices=[0, 2], intermediates_only=True)
    assert len(maps) == 2
    for mine, reference in zip(maps, expected, strict=True):
        torch.testing.assert_close(mine, reference)


@pytest.mark.parametrize("name", ["resnet50", "seresnext26d_32x4d", "resnet50_v2"])
def test_feature_info_names_the_module_and_its_map(name: str) -> None:
    model = build_generated("torch", name, features_only=True).eval()
    seen: dict[str, torch.Tensor] = {}
    modules = dict(model.named_modules())
    for info in model.feature_info:
        module = modules[info["module"]]
        key = info["module"]
        module.register_forward_hook(lambda m, i, out, key=key: seen.setdefault(key, out))
    x = images()
    with torch.no_grad():
        maps = model(x)
    assert [info["index"] for info in model.feature_info] == [0, 1, 2, 3, 4]
    for info, feature in zip(model.feature_info, maps, strict=True):
        assert feature.shape[1] == info["num_chs"]
        assert feature.shape[-1] == SIZE // info["reduction"]
        torch.testing.assert_close(seen[info["module"]], feature)


def test_bad_backbone_arguments_are_refused() -> None:
    factory = generated_module("torch", "resnet18").resnet18
    with pytest.raises(ValueError, match="frozen_stages 5 is out of range"):
        factory(frozen_stages=5)
    with pytest.raises(ValueError, match="feature index 5 is out of range"):
        factory(features_only=True, out_indices=(1, 5))


def norms_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        key: value.clone()
        for key, value in module.state_dict().items()
        if key.rsplit(".", 1)[-1] in ("running_mean", "running_var")
    }


def train_step(model: torch.nn.Module) -> None:
    model.train()
    loss = model(images(4)).square().mean()
    loss.backward()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter -= 0.1 * parameter.grad


@pytest.mark.parametrize("frozen", [0, 2])
def test_frozen_stages_get_no_gradient_and_keep_their_statistics(frozen: int) -> None:
    model = randomize_torch(build_generated("torch", "resnet18", frozen_stages=frozen))
    stem = ("conv1.", "bn1.")
    frozen_prefixes = stem + tuple(f"layer{i}." for i in range(1, frozen + 1))
    before = {key: value.clone() for key, value in model.state_dict().items()}
    train_step(model)
    assert model.training
    after = model.state_dict()
    moved = {key for key in before if not torch.equal(before[key], after[key])}
    for name, parameter in model.named_parameters():
        if name.startswith(frozen_prefixes):
            assert not parameter.requires_grad and parameter.grad is None, name
        else:
            assert parameter.grad is not None, name
    frozen_keys = {key for key in before if key.startswith(frozen_prefixes)}
    assert frozen_keys and not (frozen_keys & moved)  # weights and running statistics
    running = {key for key in before if "running_" in key and key not in frozen_keys}
    assert running <= moved  # the other norms did train
    assert not model.bn1.training and model.layer3.training == (frozen < 3)


def test_norm_eval_keeps_every_batch_norm_in_eval_mode() -> None:
    model = randomize_torch(build_generated("torch", "resnet18", norm_eval=True))
    before = norms_state(model)
    train_step(model)
    after = norms_state(model)
    assert all(torch.equal(before[key], after[key]) for key in before)
    assert model.bn1.weight.grad is not None  # norm_eval freezes statistics, not parameters
    assert not any(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert model.layer1.training


@pytest.mark.parametrize("name", ["resnet18", "seresnext26d_32x4d"])
def test_checkpointed_gradients_equal_plain_ones(name: str) -> None:
    grads = []
    for checkpointing in (False, True):
        model = randomize_torch(build_generated("torch", name)).train()
        model.set_grad_checkpointing(checkpointing)
        model(images(4)).logsumexp(1).sum().backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters()})
    plain, checkpointed = grads
    assert plain.keys() == checkpointed.keys()
    for key in plain:
        torch.testing.assert_close(checkpointed[key], plain[key], rtol=1e-4, atol=1e-6)


def test_checkpointing_recomputes_each_stage() -> None:
    """The stages run again in the backward pass (that is what saves their activations)."""
    model = randomize_torch(build_generated("torch", "resnet18")).train()
    calls: list[str] = []
    for name in ("layer1", "layer4"):
        getattr(model, name).register_forward_pre_hook(lambda m, i, n=name: calls.append(n))
    model.set_grad_checkpointing(True)
    model(images(2)).sum().backward()
    assert calls == ["layer1", "layer4", "layer4", "layer1"]
    calls.clear()
    with torch.no_grad():
        model(images(2))
    assert calls == ["layer1", "layer4"]


@pytest.mark.parametrize(
    ("name", "out_indices"), [("resnet50", (0, 1, 2, 3, 4)), ("resnet50_v2", (1, 2))]
)
def test_keras_features_only_equal_torch(name: str, out_indices: tuple[int, ...]) -> None:
    keras = pytest.importorskip("keras")
    from resgen.weights.transfer import torch_to_keras

    kwargs = {"features_only": True, "out_indices": out_indices}
    full = randomize_torch(build_generated("torch", name))
    ours = build_generated("torch", name, **kwargs)
    ours.load_state_dict(full.state_dict(), strict=False)
    ours.eval()
    model = build_generated("keras", name, input_shape=(SIZE, SIZE, 3), **kwargs)
    torch_to_keras(ours, model)
    x = images()
    keras_maps = model(keras.ops.convert_to_tensor(x.permute(0, 2, 3, 1).numpy()), training=False)
    with torch.no_grad():
        torch_maps = ours(x)
    assert len(keras_maps) == len(torch_maps) == len(out_indices)
    info = generated_module("keras", name).FEATURE_INFO
    for index, mine, reference in zip(out_indices, keras_maps, torch_maps, strict=True):
        mine = keras.ops.convert_to_numpy(mine)
        assert mine.shape[-1] == info[index]["num_chs"]
        assert mine.shape[1] == SIZE // info[index]["reduction"]
        torch.testing.assert_close(
            torch.from_numpy(mine).permute(0, 3, 1, 2), reference, rtol=1e-4, atol=1e-4
        )


@pytest.mark.parametrize(("frozen", "norm_eval"), [(1, False), (-1, True)])
def test_keras_frozen_layers_do_not_train(frozen: int, norm_eval: bool) -> None:
    keras = pytest.importorskip("keras")
    np = pytest.importorskip("numpy")
    kwargs = {"frozen_stages": frozen, "norm_eval": norm_eval, "num_classes": 3}
    model = build_generated("keras", "resnet18", input_shape=(32, 32, 3), **kwargs)
    before = {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 32, 32, 3)).astype("float32")
    model.fit(x, rng.normal(size=(4, 3)).astype("float32"), epochs=1, verbose=0)
    moved = {v.path for v in model.weights if not np.array_equal(before[v.path], v.numpy())}
    frozen_prefixes = ("conv1", "conv2_") if frozen == 1 else ()
    for variable in model.weights:
        layer = variable.path.split("/")[0]
        batch_norm = "moving_" in variable.path or variable.path.endswith(("gamma", "beta"))
        stays = layer.startswith(frozen_prefixes) or (norm_eval and batch_norm)
        assert (variable.path not in moved) == stays, variable.path


def test_the_backbones_page_runs_as_printed(tmp_path: Path) -> None:
    """Each Python block of docs/backbones.md, run from the repository root, prints the text
    block that follows it (the DeepLabV3 example where torchvision is installed: it is not a
    test dependency; scripts/check_references.sh's environment has it)."""
    import re
    import subprocess
    import sys

    from helpers import REPO, framework_env, installed

    page = (REPO / "docs" / "backbones.md").read_text(encoding="utf-8")
    pairs = re.findall(r"```python\n(.*?)```\n.*?```text\n(.*?)```", page, re.S)
    assert len(pairs) == 4
    for index, (code, expected) in enumerate(pairs):
        if "torchvision" in code and not installed("torchvision"):
            continue
        script = tmp_path / f"example{index}.py"
        script.write_text(code, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=REPO,
            env=framework_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout == expected, (index, done.stdout)
