"""The one place where weights are read: three public layouts, converted explicitly, loaded strictly.

Layouts (MSPN.md section 5):

- ``mmpose1``: MMPose 1.x and this project's trainer (``{"state_dict": model.state_dict(), "meta": {...}}``); keys
  are this package's attribute paths (``backbone.*``, ``head.*``; MDPN ``heads.<domain>.*``).
- ``mmpose0``: MMPose 0.x (the public 2020 MSPN files): the head is ``keypoint_head.`` instead of ``head.``.
- ``megvii``: megvii-detection/MSPN (``{"model": state_dict}``): other names and a bias on every convolution, folded
  into the following BN's running mean (``running_mean -= bias``, exact in eval mode).

Any of them may sit under ``state_dict`` / ``model`` and carry a DataParallel ``module.`` prefix. Files are read with
``weights_only=True``; every failure is a one-line ``WeightsError`` that names the file and what is wrong.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posetrack_cli.errors import WeightsError, one_line
from posetrack_cli.io.files import atomic_write

log = logging.getLogger(__name__)

LAYOUTS = ("auto", "mmpose1", "mmpose0", "megvii")

# MMPose 0.x checkpoints may carry numpy scalars in their ``meta`` (hook messages); these reconstruct plain numbers
# and dtypes only. Both module spellings: numpy 1.x pickles ``numpy.core``, numpy 2.x ``numpy._core``.
_NP_CORE = getattr(np, "_core", None) or np.core
_NUMPY_SAFE = [np.dtype, *(type(np.dtype(c)) for c in "?bBhHiIlLqQefdg")]
_NUMPY_SAFE += [(_NP_CORE.multiarray.scalar, name) for name in ("numpy.core.multiarray.scalar",
                                                               "numpy._core.multiarray.scalar")]


def read_checkpoint(path: str | os.PathLike) -> Mapping:
    """``torch.load(path, weights_only=True)`` on the CPU, with one-line errors for missing or damaged files."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} not found")
    try:
        with torch.serialization.safe_globals(_NUMPY_SAFE):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        unsafe = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
        if unsafe:
            raise WeightsError(f"{path}: refused to load: it contains Python objects ({unsafe[1]}), not only "
                               f"weights (torch.load weights_only=True)") from None
        raise WeightsError(f"{path}: truncated or not a PyTorch checkpoint (unreadable pickle); "
                           f"download it again or check the path") from None
    except Exception as exc:  # noqa: BLE001 - the legacy unpickler raises anything (IndexError, KeyError, ...)
        # on random bytes; every such failure means the same thing to the user: not a readable checkpoint.
        reason = one_line(exc, with_type=False)[:160]
        raise WeightsError(f"{path}: truncated or not a PyTorch checkpoint ({reason}); "
                           f"download it again or check the path") from None
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a checkpoint dictionary")
    return obj


def unwrap_state_dict(obj: Mapping, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint: under ``state_dict`` (MMPose, ours) or ``model`` (megvii) or the mapping
    itself, with a ``module.`` prefix (DataParallel) removed."""
    for wrapper in ("state_dict", "model"):
        if isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
            break
    state = dict(obj)
    if not state:
        raise WeightsError(f"{source}: the checkpoint holds no weights")
    bad = next((k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise WeightsError(f"{source}: entry {bad!r} is not a tensor; not a model state dict")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def detect_layout(state: Mapping[str, torch.Tensor]) -> str:
    """``megvii`` (``top.conv.*``, ``stage{s}.*``), ``mmpose0`` (``keypoint_head.*``) or ``mmpose1``."""
    if any(k.startswith("top.conv.") or re.match(r"stage\d+\.", k) for k in state):
        return "megvii"
    if any(k.startswith("keypoint_head.") for k in state):
        return "mmpose0"
    return "mmpose1"


def fold_conv_biases(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """megvii: every ``X.conv.bias`` goes into ``X.bn.running_mean`` (``BN(Wx + b) == BN'(Wx)`` with
    ``mean' = mean - b``) and disappears; a bias without a following BN is an error."""
    out = dict(state)
    for key in [k for k in state if k.endswith(".conv.bias")]:
        mean_key = key[: -len("conv.bias")] + "bn.running_mean"
        if mean_key not in out:
            raise WeightsError(f"{source}: {key} has no BN after it ({mean_key} missing); cannot fold the bias")
        bias = out.pop(key)
        mean = out[mean_key]
        out[mean_key] = (mean.double() - bias.double()).to(mean.dtype)
    return out


_MEGVII_RENAMES = [
    (re.compile(r"^top\.conv\."), "backbone.top.top.0."),
    (re.compile(r"^stage(\d+)\.upsample\.up(\d+)\.res_conv([12])\."),
     lambda m: f"head.predict_layers.{int(m[1]) * 4 + int(m[2]) - 1}.conv_layers.{int(m[3]) - 1}."),
    (re.compile(r"^stage(\d+)\."), r"backbone.multi_stage_mspn.\1."),
    (re.compile(r"\.conv_bn_relu(\d)\.conv\."), r".conv\1."),
    (re.compile(r"\.conv_bn_relu(\d)\.bn\."), r".bn\1."),
    (re.compile(r"\.u_skip\."), ".in_skip."),
    (re.compile(r"\.skip([12])\."), r".out_skip\1."),
]


def megvii_to_mmpose(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """megvii-detection/MSPN keys -> MMPose 1.x keys (MSPN.md section 5), biases folded into BN."""
    out = {}
    for key, value in fold_conv_biases(state, source).items():
        for pattern, replacement in _MEGVII_RENAMES:
            key = pattern.sub(replacement, key)
        out[key] = value
    return out


def convert_state_dict(state: Mapping[str, torch.Tensor], layout: str = "auto",
                       source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Any supported layout -> this package's (MMPose 1.x) key names."""
    if layout not in LAYOUTS:
        raise WeightsError(f"unknown checkpoint layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    layout = detect_layout(state) if layout == "auto" else layout
    if layout == "megvii":
        return megvii_to_mmpose(state, source)
    if layout == "mmpose0":
        return {("head." + k[len("keypoint_head."):]) if k.startswith("keypoint_head.") else k: v
                for k, v in state.items()}
    return dict(state)


def _describe(model: nn.Module) -> str:
    args = [f"{a}={getattr(model, a)}" for a in ("num_stages", "num_keypoints", "backbone_name")
            if isinstance(getattr(model, a, None), (int, str))]
    return f"{type(model).__name__}({', '.join(args)})"


def _file_hint(state: Mapping[str, torch.Tensor]) -> str:
    """What an MSPN-like state dict holds: ' (the file holds a 1-stage MSPN with 17 keypoints)'."""
    stages = {int(m[1]) for k in state if (m := re.match(r"backbone\.multi_stage_mspn\.(\d+)\.", k))}
    heads = sorted((k for k in state if re.match(r"head\.predict_layers\.\d+\.conv_layers\.1\.conv\.weight", k)),
                   key=lambda k: int(k.split(".")[2]))
    if not stages or not heads:
        return ""
    return f" (the file holds a {max(stages) + 1}-stage MSPN with {state[heads[-1]].shape[0]} keypoints)"


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Raise ``WeightsError`` unless ``state`` has exactly the model's keys, shapes and finite values."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = [f"{len(missing)} missing key(s)" + (f" (first {missing[0]})" if missing else ""),
                 f"{len(unexpected)} unexpected" + (f" (first {unexpected[0]})" if unexpected else "")]
        raise WeightsError(f"{source} does not fit {_describe(model)}: {', '.join(parts)}{_file_hint(state)}")
    for key, ref in expected.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise WeightsError(f"{source}: {key} has shape {tuple(state[key].shape)} in the file but "
                               f"{tuple(ref.shape)} in {_describe(model)}{_file_hint(state)}")
        if state[key].is_floating_point() and not bool(torch.isfinite(state[key]).all()):
            raise WeightsError(f"{source}: {key} contains NaN or infinite values; the file is damaged")


def load_checkpoint(model: nn.Module, path_or_state: str | os.PathLike | Mapping, layout: str = "auto") -> dict:
    """Load a checkpoint file or an in-memory checkpoint/state dict into ``model``, strictly.

    ``layout``: ``auto`` (detected from the keys), ``mmpose1``, ``mmpose0`` or ``megvii``. Returns the
    checkpoint's ``meta`` dictionary (empty when there is none). Raises ``WeightsError`` with a one-line message.
    """
    if isinstance(path_or_state, Mapping):
        obj, source = path_or_state, "checkpoint"
    else:
        obj, source = read_checkpoint(path_or_state), str(path_or_state)
    state = convert_state_dict(unwrap_state_dict(obj, source), layout, source)
    check_state_dict(model, state, source)
    model.load_state_dict(state, strict=True)
    meta = obj.get("meta") if isinstance(obj.get("meta"), Mapping) else {}
    log.info("loaded %s into %s (%d tensors)", source, _describe(model), len(state))
    return dict(meta)


def save_checkpoint(model: nn.Module, path: str | os.PathLike, meta: Mapping | None = None) -> Path:
    """Write ``{"state_dict": model.state_dict(), "meta": meta}`` (the ``mmpose1`` layout) atomically."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        torch.save({"state_dict": model.state_dict(), "meta": dict(meta or {})}, handle)
    return path

