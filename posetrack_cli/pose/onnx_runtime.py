"""Heatmap networks on ONNX Runtime (CPU): float32 and int8.

- ``onnx``: the BN-folded network exported to ONNX and run by ONNX Runtime's CPU provider, which fuses
  convolution + add + ReLU and runs convolutions in blocked NCHWc layouts (MLAS); benchmarks/bench_cpu_efficiency.py
  measures it against eager PyTorch and the machine's matrix-multiply throughput.
- ``int8``: static post-training quantisation of that graph (QDQ, signed int8 per-channel weights, unsigned int8
  activations with percentile calibration on real crops); the output convolution (the heatmaps) stays float32. The
  first ``calibration_images`` network inputs (``PoseConfig.int8_calibration``, 128: 64 people with the flip test)
  are run in float32 and recorded; the int8 model is built from them and used from then on. These choices come from
  benchmarks/bench_agreement.py (2xMSPN-50 with a fitted readout, test frames of the clip; benchmarks/RESULTS.md §2):
  mean OKS to float32 0.54 with everything quantised and min/max ranges, 0.94 with the output convolution in
  float32 and percentile ranges, 0.945 -> 0.950 on 10 test frames and 0.955 -> 0.957 on 20 when the calibration
  grows from 64 to 128 inputs. Symmetric int8 activations, quantising convolutions only, a lower percentile
  (99.99), entropy ranges and more float32 layers (stem, last upsampling unit) all measured lower. The speed does
  not depend on these (the output convolution is <1% of the FLOPs); calibration takes ~1 s per input on 2 cores.

Optional dependencies (the ``onnx`` extra): onnxruntime, onnx and onnxscript (the torch.export-based exporter).
Graphs are exported for the card's fixed input size with a dynamic batch dimension, and cached as one file per
network and weights under ``zoo.cache_dir()/onnx`` (``cached_export``; key: ``network_key``), so that only the first
run of given weights pays the export.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from posetrack_cli.config import PoseConfig
from posetrack_cli.errors import PosetrackError, dependency_calls, dependency_failure, one_line
from posetrack_cli.nets.onnx_session import cpu_session
from posetrack_cli.pose.agreement import keypoint_agreement
from posetrack_cli.pose.decode import decode_heatmaps
from posetrack_cli.records import COCO17
from posetrack_cli.zoo import cache_dir

log = logging.getLogger(__name__)

INPUT, OUTPUT = "crops", "heatmaps"
# ONNX Runtime's WeightBiasQuantization pass quantises the weights of a float32 Conv that sits between a
# DequantizeLinear and a QuantizeLinear (an output convolution followed by a quantised Add), to the full int8 range:
# it undid ``nodes_to_exclude`` and saturated on CPUs without VNNI (see quantize_int8). Off in every session.
DISABLED_OPTIMIZERS = ("WeightBiasQuantization",)
INT8_CHECK_IMAGES = 32  # calibration inputs run again in int8 after quantising and compared with float32
INT8_MIN_OKS = 0.85  # int8 refused below this mean OKS to float32 on them (the proxy model: 0.95-0.96)
INT8_MAX_SCORE_ERROR = 0.05  # ... or above this mean keypoint-score difference (the proxy model: 0.005-0.006)


def onnx_available() -> bool:
    """Whether the onnx extra (onnxruntime, onnx, onnxscript) is installed, without importing it."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx", "onnxscript"))


def require_onnxruntime():
    """The ``onnxruntime`` module, or a one-line error naming the extra to install."""
    try:
        import onnxruntime
    except ImportError as exc:
        if exc.name != "onnxruntime":  # installed, but it fails to import (a broken install, a missing library)
            raise dependency_failure(exc, "ONNX Runtime") or exc
        raise PosetrackError("the onnx/int8 pose runtimes need ONNX Runtime: pip install 'posetrack-cli[onnx]' "
                             "(onnxruntime, onnx, onnxscript)") from None
    return onnxruntime


class _Predict(nn.Module):
    """``net.predict`` as ``forward`` (the exporter traces ``forward``)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.predict(x)


def export_onnx(net: nn.Module, input_size: tuple[int, int], path: str | Path) -> Path:
    """Export ``net.predict`` for (B, 3, h, w) float32 inputs, ``input_size`` = (w, h), batch dynamic."""
    path = Path(path)
    w, h = input_size
    example = torch.zeros(2, 3, h, w)
    start = time.perf_counter()
    with warnings.catch_warnings(), _quiet_loggers("onnxscript", "onnx_ir", "torch.onnx"):
        warnings.simplefilter("ignore")  # the exporter's progress and deprecation chatter
        torch.onnx.export(_Predict(net).eval(), (example,), str(path), input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False,
                          optimize=True)  # constant folding: without it the shape helpers of an unfolded
        # network break ORT's symbolic shape inference before quantisation (~4 s more for 2xMSPN-50)
    log.info("exported %s to ONNX in %.1f s", type(net).__name__, time.perf_counter() - start)
    return path


@contextlib.contextmanager
def _quiet_loggers(*names: str):
    """The exporter's optimisation passes log every rewrite at INFO; keep that out of ``posetrack -v`` (they still
    show with -vv, when this module logs at DEBUG)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    if not log.isEnabledFor(logging.DEBUG):
        for logger in loggers:
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def network_key(net: nn.Module, input_size: tuple[int, int]) -> str:
    """A digest of what the exported graph depends on: the network's class and the source of its module, every
    parameter and buffer (names, shapes, dtypes, values), the input size and the exporter's versions."""
    import inspect

    import onnxscript

    digest = hashlib.sha256(f"{type(net).__module__}.{type(net).__qualname__} {input_size} torch {torch.__version__} "
                            f"onnxscript {onnxscript.__version__}".encode())
    with contextlib.suppress(OSError, TypeError):  # a class defined where no source file exists
        digest.update(Path(inspect.getsourcefile(type(net))).read_bytes())
    for name, tensor in net.state_dict().items():
        t = tensor.detach().cpu()
        digest.update(f"{name} {tuple(t.shape)} {t.dtype}".encode())
        # flattened first: channels_last weights of 1x1 convolutions count as contiguous with a last stride != 1
        digest.update(t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def cached_export(net: nn.Module, input_size: tuple[int, int], scratch: Path) -> Path:
    """The float32 ONNX graph of ``net``: from the cache (``zoo.cache_dir()/onnx``) when the same network was
    exported before, else exported (~12 s for 2xMSPN-50) and stored there atomically. A cache that cannot be written
    (read-only home) only costs the export: the graph is then written to ``scratch``."""
    w, h = input_size
    path = cache_dir() / "onnx" / f"{type(net).__name__}-{w}x{h}-{network_key(net, input_size)[:20]}.onnx"
    if path.is_file():
        log.info("ONNX graph of %s from the cache: %s", type(net).__name__, path)
        return path
    exported = export_onnx(net, input_size, scratch / "net.onnx")
    import onnx

    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # one self-contained file (the exporter may put the weights in a side file named after its own path)
        onnx.save_model(onnx.load(str(exported)), str(partial), save_as_external_data=False)
        os.replace(partial, path)  # atomic: a concurrent reader sees the whole file or none
    except (OSError, ValueError) as exc:  # ValueError: a graph over protobuf's 2 GB
        with contextlib.suppress(OSError):
            partial.unlink()
        log.info("ONNX cache not written (%s); exporting again next time", exc)
        return exported
    return path


@dependency_calls("ONNX Runtime")
def make_session(path: str | Path, threads: int | None = None):
    require_onnxruntime()
    return cpu_session(path, threads, DISABLED_OPTIMIZERS)  # the same CPU budget as PyTorch


def output_convolutions(model) -> list[str]:
    """Names of the Conv nodes that produce the graph outputs (through any non-Conv nodes in between)."""
    producers = {out: node for node in model.graph.node for out in node.output}
    pending, found, seen = [o.name for o in model.graph.output], [], set()
    while pending:
        node = producers.get(pending.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type == "Conv":
            found.append(node.name)
        else:
            pending.extend(node.input)
    return found


@dependency_calls("ONNX Runtime")
def quantize_int8(fp32_path: str | Path, int8_path: str | Path, calibration: np.ndarray, batch: int = 4,
                  method: str = "percentile", reduce_range: bool = True, weights: str = "int8") -> Path:
    """Static int8 quantisation of an exported graph, calibrated on ``calibration`` (N, 3, h, w) with ``method``
    ("percentile" or "minmax") activation ranges; the output convolutions stay float32.

    ``reduce_range`` (the default): int8 weights over -64..64 instead of -127..127. ONNX Runtime multiplies uint8
    activations by int8 weights; on x86 CPUs without VNNI (AVX2, AVX-512 before Cascade Lake) it adds pairs of
    products in signed 16 bits (VPMADDUBSW), which saturate at 32767 (255 x 127 x 2 = 64770) and gave wrong
    heatmaps there; with 7-bit weights a pair stays below it (255 x 64 x 2 = 32640) on every CPU.
    benchmarks/bench_int8_isa.py measures the settings on this CPU and on an emulated AVX2 CPU.
    ``weights`` "uint8": ONNX Runtime's U8U8 kernels instead (measured slower and no closer).

    The calibrator sees ``batch`` images at a time and merges their histograms / ranges (``CalibStridedMinMax``):
    ONNX Runtime's histogram calibrators otherwise keep every intermediate tensor of every image until the end,
    which measured 22 GB of RSS for 64 images of 2xMSPN-50 (benchmarks/bench_agreement.py); per batch of 4 it is
    the activations of 4 images."""
    require_onnxruntime()
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        """Batches of ``batch`` images; ``set_range`` selects the batches of one ``collect_data`` call."""

        def __init__(self) -> None:
            self.chunks = [calibration[i:i + batch] for i in range(0, len(calibration), batch)]
            self.set_range(0, len(self.chunks))

        def __len__(self) -> int:
            return len(self.chunks)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.pending = iter(self.chunks[start_index:end_index])

        def get_next(self):
            chunk = next(self.pending, None)
            return None if chunk is None else {INPUT: np.ascontiguousarray(chunk, np.float32)}

    start = time.perf_counter()
    fp32_path, int8_path = Path(fp32_path), Path(int8_path)
    prepared = int8_path.with_name(int8_path.stem + "-prepared.onnx")
    try:
        quant_pre_process(str(fp32_path), str(prepared))  # shape inference + graph clean-up, as ORT recommends
    except Exception as exc:  # noqa: BLE001 - optional step: ORT 1.30's symbolic shape inference asserts on
        # convolutions of graphs from torch 2.11's exporter (seen on a GPU machine); quantise as exported
        log.warning("ONNX Runtime's quantisation pre-processing failed (%s); quantising the graph as exported",
                    one_line(exc))
        prepared = fp32_path
    methods = {"percentile": CalibrationMethod.Percentile, "minmax": CalibrationMethod.MinMax}
    chatter = io.StringIO()  # the calibrators print their progress
    with contextlib.redirect_stdout(chatter):
        quantize_static(str(prepared), str(int8_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8,
                        weight_type={"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}[weights],
                        reduce_range=reduce_range,
                        calibrate_method=methods[method],
                        nodes_to_exclude=output_convolutions(onnx.load(str(prepared), load_external_data=False)),
                        extra_options={"CalibStridedMinMax": 1})  # one batch per collect_data call
    log.debug("%s", chatter.getvalue().strip())
    log.info("quantised to int8 on %d calibration images in %.1f s", len(calibration), time.perf_counter() - start)
    return int8_path


def int8_failures(reference: np.ndarray, quantised: np.ndarray, sigmas: Sequence[float]) -> list[str]:
    """Why int8 heatmaps (N, C, h, w) fail against float32's ``reference`` of the same inputs, as short phrases
    (empty: they pass). The keypoints decoded from the first ``len(sigmas)`` channels of both are compared by
    ``agreement.keypoint_agreement`` (each person's area: the box inside the padded crop) against INT8_MIN_OKS and
    INT8_MAX_SCORE_ERROR; collapsed output fails whatever its OKS."""
    def keypoints(heatmaps: np.ndarray) -> np.ndarray:
        xy, scores = decode_heatmaps(torch.from_numpy(heatmaps[:, :len(sigmas)]))
        return torch.cat([xy, scores[..., None]], -1).numpy()

    h, w = reference.shape[-2:]
    areas = np.full(len(reference), h * w / PoseConfig.padding ** 2)
    agreement = keypoint_agreement(keypoints(reference), keypoints(quantised), areas, sigmas)
    return agreement.failures(INT8_MIN_OKS, INT8_MAX_SCORE_ERROR)


class OnnxHeatmapNet:
    """Callable: (B, 3, h, w) float tensor -> (B, C, h/4, w/4) float32 heatmaps, run by ONNX Runtime.

    ``int8``: inputs run in float32 and are recorded until ``calibration_images`` have been seen, then the int8
    graph is built from them (``calibrate`` does it at once from given inputs) and checked against float32 with the
    OKS ``sigmas`` of the heatmaps' first channels (the skeleton's).
    """

    def __init__(self, net: nn.Module, input_size: tuple[int, int], int8: bool = False, threads: int | None = None,
                 calibration_images: int = PoseConfig.int8_calibration,
                 sigmas: Sequence[float] = COCO17.sigmas) -> None:
        require_onnxruntime()
        self._dir = tempfile.TemporaryDirectory(prefix="posetrack-onnx-")
        self._threads = threads
        self.fp32_path = cached_export(net, input_size, Path(self._dir.name))
        try:
            self.session = make_session(self.fp32_path, threads)
        except Exception:  # noqa: BLE001 - a damaged cache file: replace it by a fresh export
            log.warning("cached ONNX graph %s does not load; exporting again", self.fp32_path)
            with contextlib.suppress(OSError):
                self.fp32_path.unlink()
            self.fp32_path = cached_export(net, input_size, Path(self._dir.name))
            self.session = make_session(self.fp32_path, threads)
        self.int8 = int8
        self.quantised = False
        self.calibration_images = calibration_images
        self.sigmas = tuple(sigmas)
        self.refused = ""  # why the int8 graph failed its check (every later call raises it)
        self._recorded: list[np.ndarray] = []

    def calibrate(self, images: np.ndarray) -> None:
        """Quantise now, calibrated on ``images`` (N, 3, h, w) float32, and switch to the int8 graph once its
        heatmaps of the first INT8_CHECK_IMAGES images pass ``int8_failures``; a ``PosetrackError`` if they do not."""
        self._recorded = []
        int8 = make_session(quantize_int8(self.fp32_path, Path(self._dir.name) / "net-int8.onnx", images),
                            self._threads)
        probe = {INPUT: np.ascontiguousarray(images[:INT8_CHECK_IMAGES], np.float32)}
        failures = int8_failures(self.session.run([OUTPUT], probe)[0], int8.run([OUTPUT], probe)[0], self.sigmas)
        if failures:
            self.refused = (f"--pose-runtime int8: the quantised network disagrees with float32 on "
                            f"{len(probe[INPUT])} calibration inputs ({'; '.join(failures)}); use --pose-runtime onnx")
            raise PosetrackError(self.refused)
        self.session, self.quantised = int8, True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.refused:
            raise PosetrackError(self.refused)
        array = np.ascontiguousarray(x.detach().cpu().float().numpy())
        out = self.session.run([OUTPUT], {INPUT: array})[0]
        if self.int8 and not self.quantised:
            self._recorded.append(array)
            if sum(len(a) for a in self._recorded) >= self.calibration_images:
                self.calibrate(np.concatenate(self._recorded))
        return torch.from_numpy(out)
