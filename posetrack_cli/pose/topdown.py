"""Top-down pose estimation with a heatmap network (MSPN, MDPN): boxes -> affine crops -> one batched forward
(plus the mirrored crops for the flip test) -> decoding on the network's device -> keypoints in frame pixels.

All crops of all given frames go through the network together, in chunks of ``PoseConfig.batch_size`` images per
forward. On CUDA the network runs in fp16 (``PoseConfig.amp``): its weights and activations are converted once
(``net.half()``), which benchmarks/RESULTS.md §6 measured 1.37x faster than fp16 autocast at the pipeline's batch on
an H100 (autocast casts every weight at every forward), with the same agreement to float32 (mean OKS 0.8818 for both
on the proxy model); ``cuda_half=False`` keeps autocast. On every device BatchNorm is folded into the convolutions and
tensors are channels_last. On the CPU the constructor can also pick bf16 autocast (CPUs with native bf16;
``PoseConfig.bf16``, ``--bf16``) or an ONNX Runtime graph in float32 or int8 (``pose.onnx_runtime``;
``PoseConfig.runtime``, ``--pose-runtime``). On every device the network can instead run through ``torch.compile``
with frozen weights (runtime "compile", ``pose.compiled``; in the same precision). Every switch exists for the
ablation of benchmarks/bench_cpu_efficiency.py; tests/pose/test_speed_paths.py and tests/pose/test_compiled.py check
each against the plain path.

MDPN networks also predict the PoseTrack head joints (``head_top``, ``neck``) that COCO-17 lacks: their poses use the
``COCO17_HEAD`` skeleton (COCO-17, then head_top and neck), so OKS-NMS, tracking, the native JSON and the PoseTrack
exports carry them (the COCO export writes the COCO-17 part). A network with joints beyond any known skeleton keeps
the card's skeleton in its ``Poses``; ``estimate_with_extras`` also returns, per frame, an (N, E, 3) array of those
joints (``TopDownEstimator.extra_keypoints``; E = 0 for MSPN and MDPN), rows matching the poses.
"""

from __future__ import annotations

import functools
import logging
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from posetrack_cli.config import POSE_RUNTIMES as RUNTIMES
from posetrack_cli.config import PoseConfig
from posetrack_cli.errors import PosetrackError, one_line
from posetrack_cli.nets import precision
from posetrack_cli.nets.checkpoint import load_checkpoint
from posetrack_cli.nets.precision import autocast
from posetrack_cli.nets.registry import build_network
from posetrack_cli.nets.resnet import fold_batchnorm
from posetrack_cli.pose import onnx_runtime
from posetrack_cli.pose.base import poses_per_frame
from posetrack_cli.pose.compiled import CompiledPredict
from posetrack_cli.pose.crops import crop_batch, invert_warps
from posetrack_cli.pose.decode import decode_to_frame, flip_back
from posetrack_cli.pose.onnx_runtime import OnnxHeatmapNet
from posetrack_cli.records import SKELETONS, Detections, Poses, Skeleton
from posetrack_cli.zoo import ModelCard, load_card, resolve_weights

log = logging.getLogger(__name__)


def auto_runtime(device: torch.device, cpu_bf16: bool) -> str:
    """What runtime "auto" runs: "onnx" (ONNX Runtime float32) on a CPU when the onnx extra is installed and bf16
    autocast is not in use, "torch" otherwise (CUDA, where fp16 autocast applies; a CPU without the extra; bf16,
    which PyTorch runs 2x faster than any float32 path). benchmarks/RESULTS.md §1: ONNX Runtime reaches 0.87-0.88 of
    the float32 matmul at the pipeline's forward batch against 0.59-0.76 for eager PyTorch, and its keypoints equal
    PyTorch's (benchmarks/bench_agreement.py: mean OKS 1.000); exporting 2xMSPN-50 takes ~12 s the first time, then
    the graph comes from the cache (``onnx_runtime.cached_export``)."""
    if torch.device(device).type != "cpu" or (cpu_bf16 and precision.cpu_has_native_bf16()):
        return "torch"
    return "onnx" if onnx_runtime.onnx_available() else "torch"


def fp16_weights(device: torch.device | str, amp: bool, cuda_half: bool = True) -> bool:
    """Whether the network's weights and activations are fp16: on CUDA with ``amp`` and ``cuda_half``."""
    return amp and cuda_half and torch.device(device).type == "cuda"


def autocast_context(device: torch.device, amp: bool, cpu_bf16: bool = False):
    """fp16 autocast on CUDA when ``amp``; bf16 autocast on a CPU with native bf16 when ``cpu_bf16``; otherwise a
    no-op context (float32)."""
    return autocast(device, cuda_fp16=amp, cpu_bf16=cpu_bf16)


def flip_permutation(names: Sequence[str], skeleton: Skeleton) -> np.ndarray:
    """The skeleton's left/right permutation for its keypoints, extended over extra (centre-line or
    ``left_``/``right_``-named) joints that follow them."""
    perm = list(skeleton.flip_permutation())
    for name in names[skeleton.num_keypoints:]:
        mirror = name.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_")
        perm.append(list(names).index(mirror) if mirror in names else len(perm))
    return np.asarray(perm)


def normalise(crops: torch.Tensor, card: ModelCard, device: torch.device,
              memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """(N, h, w, 3) BGR uint8 -> (N, 3, h, w) float, in the card's channel order and statistics, on ``device``."""
    x = crops.to(device, non_blocking=True)
    if card.color == "rgb":
        x = x.flip(-1)
    x = x.permute(0, 3, 1, 2).float()
    mean = torch.tensor(card.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(card.std, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=memory_format)


def _torch_runtime(est: TopDownEstimator) -> Callable[[torch.Tensor], torch.Tensor]:
    return est.net.predict


def _compile_runtime(est: TopDownEstimator) -> Callable[[torch.Tensor], torch.Tensor]:
    chunk = est._chunk_size()  # the largest forward: one chunk of crops, doubled by the flip test
    return CompiledPredict(est.net, 2 * chunk if est.config.flip_test else chunk, memory_format=est.memory_format)


def _onnx_runtime(est: TopDownEstimator, int8: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    if est.device.type != "cpu":
        raise PosetrackError(f"the {'int8' if int8 else 'onnx'} pose runtime runs on the CPU only; use --device cpu "
                             "or the torch runtime")
    est.memory_format = torch.contiguous_format  # ONNX Runtime takes NCHW arrays
    return OnnxHeatmapNet(est.net, est.card.input_size, int8=int8, calibration_images=est.config.int8_calibration,
                          sigmas=est.skeleton.sigmas)


# The pose runtimes by name (config.POSE_RUNTIMES, whose "auto" picks one of them: ``auto_runtime``): factory(the
# estimator) -> its network's predict. A new runtime is a factory and an entry here and in POSE_RUNTIMES.
RUNTIME_FACTORIES: dict[str, Callable[[TopDownEstimator], Callable[[torch.Tensor], torch.Tensor]]] = {
    "torch": _torch_runtime, "compile": _compile_runtime,
    "onnx": functools.partial(_onnx_runtime, int8=False), "int8": functools.partial(_onnx_runtime, int8=True),
}
if tuple(RUNTIME_FACTORIES) != RUNTIMES[1:]:
    raise ImportError(f"pose runtimes {tuple(RUNTIME_FACTORIES)} do not match config.POSE_RUNTIMES {RUNTIMES}")


class TopDownEstimator:
    """A heatmap network with its model card; implements ``pose.base.PoseEstimator``."""

    def __init__(self, net: nn.Module, card: ModelCard, config: PoseConfig, device: torch.device | str, *,
                 optimize: bool = True, channels_last: bool = True, runtime: str = "torch",
                 cpu_bf16: bool = False, cuda_half: bool = True) -> None:
        """``net`` needs ``predict(x) -> (B, C, h/4, w/4)`` heatmaps whose channels are the card's skeleton,
        followed by any extra joints named in ``net.output_keypoints``. It is put in eval mode, moved to
        ``device`` and, with ``optimize``, has its BatchNorm folded in place (its state_dict changes).
        ``channels_last``: NHWC tensors on every device; the issue asks for it on CUDA (tensor cores), and
        benchmarks/bench_mspn.py measured it 1.1-1.7x faster on the CPU as well; False keeps NCHW.
        ``runtime``: "auto" (``auto_runtime``: "onnx" on a CPU with the onnx extra, else "torch"), "torch" (eager
        PyTorch), "compile" (``torch.compile`` with frozen weights, batches padded to a few static sizes; compiles
        at each new size, ~20-40 s each on 2 cores), "onnx" (ONNX Runtime float32) or "int8" (ONNX Runtime, static
        int8 calibrated on the first crops); the last two are CPU only. ``cpu_bf16``: bf16 autocast for "torch" and
        "compile" on a CPU with native bf16 (ignored elsewhere). ``cuda_half``: on CUDA with ``config.amp``, the
        weights and activations in fp16 (``net.half()``; False: fp16 autocast instead; ignored elsewhere)."""
        self.name = card.name
        self.card = card
        self.config = config
        self.device = torch.device(device)
        base = SKELETONS[card.skeleton]
        names = tuple(getattr(net, "output_keypoints", base.keypoints))
        if names[: base.num_keypoints] != base.keypoints:
            raise ValueError(f"{card.name}: the network's keypoints do not start with {base.name}'s")
        # the poses' skeleton: a known one with all the network's joints (MDPN: COCO17_HEAD), else the card's
        self.skeleton = next((s for s in SKELETONS.values() if s.keypoints == names), base)
        self.extra_keypoints: tuple[str, ...] = names[self.skeleton.num_keypoints:]
        self._rescored = base.num_keypoints  # re-scoring averages the card skeleton's joints (COCO-17: MSPN's)
        self._flip_perm = torch.as_tensor(flip_permutation(names, self.skeleton), device=self.device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        net = net.eval().requires_grad_(False)
        if optimize:
            fold_batchnorm(net)
        self.cpu_bf16 = cpu_bf16
        self.runtime = runtime
        self.half = fp16_weights(self.device, config.amp, cuda_half)
        self.net = net.to(self.device, memory_format=self.memory_format)
        if self.half:
            self.net.half()
        self._predict = self._runtime_predict(runtime)

    def _runtime_predict(self, runtime: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """The network's ``predict`` on the chosen runtime: (B, 3, h, w) -> heatmaps (B, C, h/4, w/4)."""
        if runtime not in RUNTIMES:
            raise PosetrackError(f"unknown pose runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
        if runtime == "auto":
            return self._auto_predict()
        return RUNTIME_FACTORIES[runtime](self)

    def _auto_predict(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """Runtime "auto": ONNX Runtime float32 where ``auto_runtime`` picks it, falling back to PyTorch (with a
        warning) if the network does not export; ``self.runtime`` says which one runs."""
        self.runtime = auto_runtime(self.device, self.cpu_bf16)
        log.info("pose runtime auto: %s", self.runtime)
        if self.runtime == "torch":
            return self.net.predict
        memory_format = self.memory_format
        try:
            return self._runtime_predict("onnx")
        except Exception as exc:  # noqa: BLE001 - an operator the exporter cannot handle: still run, on PyTorch
            reason = one_line(exc, with_type=False)
            log.warning("%s does not export to ONNX (%s); running it on PyTorch (--pose-runtime torch)", self.name,
                        reason)
            self.runtime, self.memory_format = "torch", memory_format
            return self.net.predict

    @classmethod
    def from_card(cls, name: str, config: PoseConfig, device: torch.device | str,
                  weights: str | None = None, *, runtime: str = "torch",
                  cpu_bf16: bool = False) -> TopDownEstimator:
        """Build the card's network and load its weights (``weights``, else ``config.weights``, else the weights
        folder or the cache); ``WeightsError`` when they are missing or do not fit. ``runtime`` and
        ``cpu_bf16`` as in the constructor."""
        card = load_card(name)
        path = resolve_weights(card, weights if weights is not None else config.weights)
        net = build_network(card.network, card.network_args)
        load_checkpoint(net, path, card.weights.layout)
        return cls(net, card, config, device, runtime=runtime, cpu_bf16=cpu_bf16)

    # ---------------------------------------------------------------------------------------------- estimation
    def estimate(self, frames: Sequence[np.ndarray], detections: Sequence[Detections]) -> list[Poses]:
        return [poses for poses, _ in self.estimate_with_extras(frames, detections)]

    def estimate_with_extras(self, frames: Sequence[np.ndarray],
                             detections: Sequence[Detections]) -> list[tuple[Poses, np.ndarray]]:
        """Per frame: the poses and the (N, E, 3) extra joints ``self.extra_keypoints`` (frame pixels, score)."""
        if len(frames) != len(detections):
            raise ValueError(f"{len(frames)} frames but {len(detections)} detection sets")
        crops, warps = crop_batch(frames, detections, self.config.aspect_ratio, self.config.padding,
                                  self.card.input_size)
        keypoints = self._keypoints(crops, invert_warps(warps))
        return poses_per_frame(detections, keypoints, self.skeleton, self.config, self._rescored)

    @torch.inference_mode()
    def _keypoints(self, crops: np.ndarray, inverse: np.ndarray) -> np.ndarray:
        """(N, h, w, 3) crops -> (N, K + E, 3) keypoints in frame pixels, in chunks of the batch size."""
        total = self.skeleton.num_keypoints + len(self.extra_keypoints)
        out = np.zeros((len(crops), total, 3), np.float32)
        chunk = self._chunk_size()
        for start in range(0, len(crops), chunk):
            batch = torch.from_numpy(crops[start:start + chunk])
            if self.device.type == "cuda":
                batch = batch.pin_memory()
            heatmaps = self.heatmaps(normalise(batch, self.card, self.device, self.memory_format))
            inv = torch.from_numpy(inverse[start:start + chunk]).to(self.device)
            keypoints = decode_to_frame(heatmaps, inv, self.card.input_size, self.config.blur_kernel,
                                        self.config.quarter_offset)
            out[start:start + chunk] = keypoints.cpu().numpy()
        return out

    def _chunk_size(self) -> int:
        """Crops per forward: the batch size, halved with the flip test (plain and mirrored share a forward)."""
        return max(1, self.config.batch_size // 2) if self.config.flip_test else max(1, self.config.batch_size)

    def heatmaps(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised crops (B, 3, h, w) -> float32 heatmaps (B, K + E, h/4, w/4), flip-test averaged if enabled.
        With the flip test, plain and mirrored crops share one forward of 2B images."""
        flip = self.config.flip_test
        if self.half:
            x = x.half()
        with autocast_context(self.device, self.config.amp and not self.half, self.cpu_bf16):
            y = self._predict(torch.cat([x, x.flip(-1)]) if flip else x)
        y = y.float()
        if not flip:
            return y
        plain, mirrored = y.chunk(2)
        return (plain + flip_back(mirrored, self._flip_perm)) * 0.5
