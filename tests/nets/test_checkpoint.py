"""Checkpoint loading: round trips in the three layouts (numerically, eval mode), bias folding, one-line errors."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from posetrack_cli.errors import WeightsError
from posetrack_cli.nets.checkpoint import (detect_layout, load_checkpoint, megvii_to_mmpose, read_checkpoint,
                                           save_checkpoint)
from posetrack_cli.nets.mspn import MSPN
from posetrack_cli.nets.resnet import ConvBN

DATA = Path(__file__).resolve().parents[1] / "data"
TINY = dict(num_blocks=(1, 1, 1, 1), unit_channels=16, base_channels=8)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.2)
    return model.eval()


def outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return sum(model(x), [])


def to_megvii_name(key: str) -> str:
    """Our (MMPose 1.x) key -> megvii's, written from MSPN.md section 5 (the inverse of the loader's mapping)."""
    key = re.sub(r"^backbone\.top\.top\.0\.", "top.conv.", key)
    m = re.match(r"head\.predict_layers\.(\d+)\.conv_layers\.(\d)\.(.*)", key)
    if m:
        i = int(m[1])
        return f"stage{i // 4}.upsample.up{i % 4 + 1}.res_conv{int(m[2]) + 1}.{m[3]}"
    key = re.sub(r"^backbone\.multi_stage_mspn\.(\d+)\.", r"stage\1.", key)
    key = re.sub(r"\.conv(\d)\.", r".conv_bn_relu\1.conv.", key)
    key = re.sub(r"\.bn(\d)\.", r".conv_bn_relu\1.bn.", key)
    return key.replace(".in_skip.", ".u_skip.").replace(".out_skip1.", ".skip1.").replace(".out_skip2.", ".skip2.")


def with_conv_biases(model: nn.Module, seed: int = 1) -> nn.Module:
    """megvii's network: the same layers, but every convolution before a BN has a bias (``conv_bn_relu``)."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        pairs = [("conv", "bn")] if isinstance(module, ConvBN) else \
            [(f"conv{i}", f"bn{i}") for i in (1, 2, 3) if hasattr(module, f"conv{i}")]
        for conv_name, _ in pairs:
            conv = getattr(module, conv_name)
            conv.bias = nn.Parameter(torch.randn(conv.out_channels, generator=gen, dtype=conv.weight.dtype))
    return model


def test_megvii_key_list_maps_onto_the_mmpose_list():
    """The reference megvii dump (1008 entries) -> exactly the 864 MMPose names and shapes (biases folded away)."""
    def rows(name):
        lines = (DATA / name).read_text().splitlines()[1:]
        return {line.split("\t")[0]: tuple(int(v) for v in re.findall(r"\d+", line.split("\t")[1])) for line in lines}

    megvii, mmpose = rows("megvii_mspn2_keys.txt"), rows("mmpose_mspn2_keys.txt")
    state = {k: torch.zeros(s, device="meta") for k, s in megvii.items()}
    assert detect_layout(state) == "megvii"
    converted = megvii_to_mmpose(state)
    assert {k: tuple(v.shape) for k, v in converted.items()} == mmpose
    # and the test's own inverse mapping reproduces the megvii list from our network
    with torch.device("meta"):
        ours = MSPN(2).state_dict()
    inverse = {to_megvii_name(k): tuple(v.shape) for k, v in ours.items()}
    biases = {k[: -len("bn.running_mean")] + "conv.bias": s
              for k, s in inverse.items() if k.endswith("bn.running_mean")}
    assert {**inverse, **biases} == megvii


def test_megvii_round_trip_folds_biases_exactly():
    reference = with_conv_biases(randomized(MSPN(2, **TINY))).double().eval()
    x = torch.randn(2, 3, 64, 48, dtype=torch.float64)
    expected = outputs(reference, x)
    checkpoint = {"model": {"module." + to_megvii_name(k): v.clone() for k, v in reference.state_dict().items()},
                  "iteration": 96000}
    model = MSPN(2, **TINY).double()
    load_checkpoint(model, checkpoint)  # layout detected
    for a, b in zip(outputs(model.eval(), x), expected):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_megvii_bias_without_bn_is_reported():
    state = {"top.conv.conv.weight": torch.zeros(8, 3, 7, 7), "top.conv.conv.bias": torch.zeros(8)}
    with pytest.raises(WeightsError, match="no BN after it"):
        load_checkpoint(MSPN(1, **TINY), state, layout="megvii")


def test_trainer_layout_file_round_trip(tmp_path):
    source = randomized(MSPN(2, **TINY))
    path = save_checkpoint(source, tmp_path / "ours.pth", {"epoch": 3})
    model = MSPN(2, **TINY)
    meta = load_checkpoint(model, path)
    assert meta == {"epoch": 3}
    x = torch.randn(1, 3, 64, 48)
    for a, b in zip(outputs(model.eval(), x), outputs(source, x)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_mmpose0_file_with_module_prefix_round_trip(tmp_path):
    source = randomized(MSPN(1, 16, **TINY))
    state = {"module." + k.replace("head.", "keypoint_head.", 1): v for k, v in source.state_dict().items()}
    meta = {"mmcv_version": "1.1.5", "hook_msgs": {"best_score": np.float64(0.723)}}  # numpy scalars in meta
    torch.save({"state_dict": state, "meta": meta}, tmp_path / "mmpose0.pth")
    model = MSPN(1, 16, **TINY)
    assert load_checkpoint(model, tmp_path / "mmpose0.pth", layout="mmpose0")["mmcv_version"] == "1.1.5"
    x = torch.randn(1, 3, 64, 48)
    for a, b in zip(outputs(model.eval(), x), outputs(source, x)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_numpy1_pickled_meta_is_accepted(tmp_path):
    """Files written under numpy 1.x name ``numpy.core.multiarray.scalar``; rewrite ours to that spelling."""
    torch.save({"state_dict": {"w": torch.ones(1)}, "meta": {"s": np.float64(1.5)}}, tmp_path / "new.pth")
    with zipfile.ZipFile(tmp_path / "new.pth") as src, zipfile.ZipFile(tmp_path / "old.pth", "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, data.replace(b"numpy._core", b"numpy.core") if info.filename.endswith(".pkl")
                         else data)
    assert float(read_checkpoint(tmp_path / "old.pth")["meta"]["s"]) == 1.5


class NotWeights:
    pass


@pytest.mark.parametrize("case,pattern", [
    ("missing", "not found"),
    ("truncated", "truncated or not a PyTorch checkpoint"),
    ("text", "truncated or not a PyTorch checkpoint"),
    ("pickled_object", r"contains Python objects \(.*NotWeights\)"),
    ("list", "not a checkpoint dictionary"),
    ("non_tensor", "is not a tensor"),
    ("empty", "holds no weights"),
])
def test_damaged_files_fail_with_one_line(tmp_path, case, pattern):
    path = tmp_path / f"{case}.pth"
    if case == "truncated":
        save_checkpoint(MSPN(1, **TINY), tmp_path / "full.pth")
        data = (tmp_path / "full.pth").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "text":
        path.write_text("<html>404 Not Found</html>")
    elif case == "pickled_object":
        torch.save({"state_dict": NotWeights()}, path)
    elif case == "list":
        torch.save([torch.ones(1)], path)
    elif case == "non_tensor":
        torch.save({"state_dict": {"backbone.x": 1.0}}, path)
    elif case == "empty":
        torch.save({"state_dict": {}}, path)
    with pytest.raises(WeightsError, match=pattern) as info:
        load_checkpoint(MSPN(1, **TINY), path)
    assert "\n" not in str(info.value) and (case == "missing" or str(path) in str(info.value))


def test_wrong_model_names_what_the_file_holds():
    one_stage = MSPN(1, **TINY).state_dict()
    with pytest.raises(WeightsError, match=r"does not fit MSPN\(num_stages=2.*missing.*1-stage MSPN with 17"):
        load_checkpoint(MSPN(2, **TINY), {"state_dict": one_stage})
    with pytest.raises(WeightsError, match=r"has shape \(17, 16, 3, 3\) in the file but \(16, 16, 3, 3\)"):
        load_checkpoint(MSPN(1, 16, **TINY), one_stage)


def test_non_finite_values_and_unknown_layout():
    state = MSPN(1, **TINY).state_dict()
    state["head.predict_layers.0.conv_layers.0.conv.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(WeightsError, match="NaN"):
        load_checkpoint(MSPN(1, **TINY), state)
    with pytest.raises(WeightsError, match="unknown checkpoint layout"):
        load_checkpoint(MSPN(1, **TINY), state, layout="caffe")



@pytest.mark.parametrize("seed", range(12))
def test_random_bytes_are_always_a_clear_weights_error(tmp_path, seed):
    """Whatever the legacy unpickler raises on garbage (IndexError, KeyError, ...), the user sees one WeightsError."""
    path = tmp_path / "garbage.pth"
    path.write_bytes(bytes(np.random.default_rng(seed).integers(0, 256, 512 + 97 * seed, dtype=np.uint8)))
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint|refused to load"):
        read_checkpoint(path)
