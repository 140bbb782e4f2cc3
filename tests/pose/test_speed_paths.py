"""Every speed path against the plain one: BN folding + channels_last, ONNX Runtime float32, int8, CPU bf16 (pose
network and YOLO). Plain = eager PyTorch, NCHW, BatchNorm as separate layers, float32.

Tolerances: float32 paths give the same heatmaps up to float32 rounding (1e-4 of their range) and the same keypoints
up to one quarter-offset step (0.25 heatmap px = 1 crop px, ~1.1 frame px for the boxes here: near-ties between
neighbouring pixels may break either way). int8 and bf16 change the numbers, not the peaks: keypoints within one
heatmap pixel (4 crop px, ~4.3 frame px) and keypoint scores within 0.03.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from posetrack_cli import zoo
from posetrack_cli.config import PoseConfig
from posetrack_cli.errors import PosetrackError
from posetrack_cli.nets import precision
from posetrack_cli.nets.mspn import MSPN
from posetrack_cli.pose.agreement import keypoint_agreement
from posetrack_cli.geometry import box_areas
from posetrack_cli.pose.topdown import TopDownEstimator, normalise
from posetrack_cli.records import COCO17, Detections

TINY = dict(num_blocks=(1, 1, 1, 1), unit_channels=16, base_channels=8)
CARD = zoo.ModelCard(
    name="test-card", network="mspn", input_size=(192, 256), skeleton="coco17", color="rgb",
    mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
    weights=zoo.WeightsSpec(file="none.pth", sha256=None), network_args={"num_stages": 1, **TINY})
CROP_PX = 275 / 256  # frame pixels per crop pixel for the boxes below (box height 220 x padding 1.25 -> 256 px)
FP32_TOL = 1.0 * CROP_PX + 0.05  # one quarter-offset step
LOW_PRECISION_TOL = 4.0 * CROP_PX + 0.05  # one heatmap pixel


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def randomise_batchnorm(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics, so that folding them changes the convolution weights."""
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(c, generator=g))
            m.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=g))
            m.weight.data.copy_(0.5 + torch.rand(c, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(c, generator=g))
    return net


class PeakedMSPN(nn.Module):
    """A tiny MSPN (random weights and BN statistics) plus a convolution + BN that finds bright squares, so that
    every heatmap has one clear peak (the white square), of a height of its own, while every operation the speed
    paths change (BN folding, memory layout, ONNX export, quantisation) lies on the way to it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.mspn = randomise_batchnorm(MSPN(1, **TINY))
        self.spot = nn.Sequential(nn.Conv2d(3, 17, 4, stride=4, bias=False), nn.BatchNorm2d(17))
        with torch.no_grad():
            self.spot[0].weight.fill_(1.0 / 48)  # mean of a 4x4 RGB cell of the normalised crop
            bn = self.spot[1]
            bn.running_mean.fill_(-2.0)  # black is about -2 after the card's normalisation, white about +2.2
            bn.running_var.fill_(1.0)
            # a fully white cell -> ~255 (the MSPN target scale) for keypoint 0 down to ~153 for keypoint 16: every
            # keypoint has its own score, so output that gives all of them one score shows
            bn.weight.copy_(torch.linspace(1.0, 0.6, 17) * 255 / 4.2)
            bn.bias.zero_()
        self.eval().requires_grad_(False)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.spot(x)) + self.mspn.predict(x)


def scene(dots, size=(480, 640)):
    frame = np.zeros((*size, 3), np.uint8)
    for x, y in dots:
        frame[int(y) - 4:int(y) + 5, int(x) - 4:int(x) + 5] = 255
    return frame


FRAMES = [scene([(150, 200), (420, 330)]), scene([(300, 120)])]
DETS = [Detections(np.array([[90, 100, 230, 320], [380, 250, 470, 470]], np.float32), np.array([0.9, 0.6], np.float32)),
        Detections(np.array([[250, 20, 390, 240]], np.float32), np.array([0.7], np.float32))]
TRUTH = [[(150, 200), (420, 330)], [(300, 120)]]


def estimate(est: TopDownEstimator) -> np.ndarray:
    return np.concatenate([p.keypoints for p in est.estimate(FRAMES, DETS)])


def build(net=None, config: PoseConfig = PoseConfig(batch_size=4), **options) -> TopDownEstimator:
    net = copy.deepcopy(net if net is not None else PeakedMSPN())
    return TopDownEstimator(net, CARD, config, "cpu", **options)


@pytest.fixture(scope="module")
def plain_keypoints() -> np.ndarray:
    kp = estimate(build(optimize=False, channels_last=False))
    truth = np.concatenate([np.asarray(t, np.float32) for t in TRUTH])
    assert np.linalg.norm(kp[:, :, :2] - truth[:, None], axis=-1).max() < 3.0  # the peaks are where the squares are
    return kp


def assert_same_keypoints(a: np.ndarray, b: np.ndarray, position_tol: float, score_tol: float) -> None:
    assert np.linalg.norm(a[..., :2] - b[..., :2], axis=-1).max() <= position_tol
    np.testing.assert_allclose(a[..., 2], b[..., 2], atol=score_tol)


def heatmaps(est: TopDownEstimator, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return est.heatmaps(normalise(x, CARD, est.device, est.memory_format))


CROPS = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (3, 256, 192, 3), np.uint8))


@pytest.mark.parametrize("optimize,channels_last", [(True, False), (False, True), (True, True)])
def test_folding_and_channels_last_match_plain(plain_keypoints, optimize, channels_last):
    net = randomise_batchnorm(MSPN(1, **TINY)).eval()
    plain, fast = build(net, optimize=False, channels_last=False), build(net, optimize=optimize,
                                                                         channels_last=channels_last)
    ref, out = heatmaps(plain, CROPS), heatmaps(fast, CROPS)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-4 * ref.abs().max().item())
    kp = estimate(build(optimize=optimize, channels_last=channels_last))
    assert_same_keypoints(kp, plain_keypoints, FP32_TOL, 1e-4)


def test_onnx_float32_matches_plain(plain_keypoints):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    est = build(runtime="onnx")
    torch.testing.assert_close(heatmaps(est, CROPS), heatmaps(build(optimize=False, channels_last=False), CROPS),
                               rtol=0, atol=1e-3)  # ~1e-5 of the 0..255 peak range
    assert_same_keypoints(estimate(est), plain_keypoints, FP32_TOL, 1e-4)


def test_auto_runtime_picks_onnx_on_cpu_and_torch_elsewhere(plain_keypoints, monkeypatch):
    from posetrack_cli.pose import onnx_runtime, topdown

    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert topdown.auto_runtime(cuda, cpu_bf16=False) == "torch"  # fp16 autocast on CUDA
    monkeypatch.setattr(onnx_runtime, "onnx_available", lambda: True)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert topdown.auto_runtime(cpu, cpu_bf16=False) == "onnx"
    assert topdown.auto_runtime(cpu, cpu_bf16=True) == "torch"  # bf16 autocast runs on PyTorch
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert topdown.auto_runtime(cpu, cpu_bf16=True) == "onnx"  # --bf16 ignored: float32, so ONNX Runtime
    monkeypatch.setattr(onnx_runtime, "onnx_available", lambda: False)
    assert topdown.auto_runtime(cpu, cpu_bf16=False) == "torch"  # no onnx extra
    est = build(runtime="auto")
    assert est.runtime == "torch" and est.memory_format == torch.channels_last
    assert_same_keypoints(estimate(est), plain_keypoints, FP32_TOL, 1e-4)


def test_auto_runtime_runs_onnx_and_falls_back_to_torch_when_export_fails(plain_keypoints, monkeypatch, caplog,
                                                                           tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from posetrack_cli.pose import onnx_runtime

    est = build(runtime="auto")
    assert est.runtime == "onnx" and isinstance(est._predict, onnx_runtime.OnnxHeatmapNet)
    assert_same_keypoints(estimate(est), plain_keypoints, FP32_TOL, 1e-4)

    def unsupported(*args, **kwargs):
        raise RuntimeError("Unsupported operator aten::made_up\n(long exporter report)")

    monkeypatch.setattr(onnx_runtime, "export_onnx", unsupported)
    monkeypatch.setenv("POSETRACK_CACHE", str(tmp_path))  # an empty cache: the graph must be exported
    with caplog.at_level(logging.WARNING):
        est = build(runtime="auto")
    assert est.runtime == "torch" and est.memory_format == torch.channels_last
    assert "does not export to ONNX (Unsupported operator aten::made_up); running it on PyTorch" in caplog.text
    assert_same_keypoints(estimate(est), plain_keypoints, FP32_TOL, 1e-4)
    with pytest.raises(RuntimeError, match="made_up"):  # asked for by name, the failure is not hidden
        build(runtime="onnx")


def test_exported_graph_is_cached_per_network_and_replaced_when_damaged(monkeypatch, caplog, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from posetrack_cli.pose import onnx_runtime

    monkeypatch.setenv("POSETRACK_CACHE", str(tmp_path / "cache"))
    exports = []
    real_export = onnx_runtime.export_onnx
    monkeypatch.setattr(onnx_runtime, "export_onnx", lambda *a, **kw: exports.append(1) or real_export(*a, **kw))
    first = build(runtime="onnx")
    cached = sorted((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(exports) == 1 and len(cached) == 1 and first._predict.fp32_path == cached[0]
    second = build(runtime="onnx")  # the same network: no export, the same file
    assert len(exports) == 1 and second._predict.fp32_path == cached[0]
    torch.testing.assert_close(heatmaps(second, CROPS), heatmaps(first, CROPS), rtol=0, atol=0)

    other = PeakedMSPN()
    with torch.no_grad():
        next(other.parameters()).add_(0.01)  # other weights: another graph
    build(other, runtime="onnx")
    assert len(exports) == 2 and len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 2

    cached[0].write_bytes(b"not an onnx graph")  # damaged (a full disk, an editor): exported again, replaced
    with caplog.at_level(logging.WARNING):
        third = build(runtime="onnx")
    assert "does not load; exporting again" in caplog.text and len(exports) == 3
    torch.testing.assert_close(heatmaps(third, CROPS), heatmaps(first, CROPS), rtol=0, atol=0)
    assert cached[0].read_bytes()[:4] != b"not "

    (tmp_path / "file").write_text("")
    monkeypatch.setenv("POSETRACK_CACHE", str(tmp_path / "file"))  # a cache that cannot be created: still runs
    fourth = build(runtime="onnx")
    assert len(exports) == 4 and fourth._predict.fp32_path.is_file()
    torch.testing.assert_close(heatmaps(fourth, CROPS), heatmaps(first, CROPS), rtol=0, atol=0)


def test_int8_calibrates_on_first_inputs_then_matches_plain(plain_keypoints, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    # the flip test doubles the 3 crops of one estimate() call (forwards of 4 + 2 inputs)
    est = build(config=PoseConfig(batch_size=4, int8_calibration=6), runtime="int8")
    onnx_net = est._predict
    assert onnx_net.calibration_images == 6
    first = estimate(est)  # float32, recorded for calibration
    assert onnx_net.quantised and not onnx_net._recorded
    import onnx

    from posetrack_cli.pose.onnx_runtime import output_convolutions
    # kept float32: the convolutions that make the heatmaps (here the spot detector and the MSPN head, summed)
    assert len(output_convolutions(onnx.load(str(onnx_net.fp32_path)))) == 2
    assert_same_keypoints(first, plain_keypoints, FP32_TOL, 1e-4)
    int8 = estimate(est)
    assert_same_keypoints(int8, plain_keypoints, LOW_PRECISION_TOL, 0.03)
    # not collapsed: ONNX Runtime's int8 kernels saturating (AVX2 CPUs without VNNI) gave every keypoint one score
    assert np.ptp(plain_keypoints[..., 2]) > 0.3  # float32's scores spread (0.6 to 1.0 of one peak height)
    areas = np.concatenate([box_areas(d.boxes_xyxy) for d in DETS])
    agreement = keypoint_agreement(plain_keypoints, int8, areas, COCO17.sigmas)
    assert agreement.collapse == "" and agreement.score_error < 0.03 and agreement.mean_oks > 0.95
    assert not onnx_net.refused  # the library's own check after calibration passed

    # any number of calibration images, one batch at a time (4 + 4 + 3)
    from posetrack_cli.pose.onnx_runtime import make_session, quantize_int8
    images = normalise(CROPS.repeat(4, 1, 1, 1)[:11], CARD, est.device).numpy()
    int8 = quantize_int8(onnx_net.fp32_path, tmp_path / "int8.onnx", images, batch=4)
    assert make_session(int8).run(None, {"crops": images[:2]})[0].shape == (2, 17, 64, 48)


def test_int8_graph_keeps_the_output_convolutions_float32_when_onnx_runtime_optimises_it(monkeypatch, tmp_path):
    """ONNX Runtime's WeightBiasQuantization pass would quantise the excluded output convolutions (here followed by
    a quantised Add) to the full int8 range when the session is built: on AVX2 CPUs without VNNI the all-equal
    weights of the spot detector then saturated and every keypoint got the score 1.3002. The sessions turn it off;
    this reads the graph ONNX Runtime actually runs."""
    import onnx
    import onnxruntime as ort

    from posetrack_cli.pose.onnx_runtime import make_session, quantize_int8

    est = build(runtime="onnx")
    images = normalise(CROPS, CARD, est.device).numpy()
    int8 = quantize_int8(est._predict.fp32_path, tmp_path / "int8.onnx", images, batch=4)

    class SavingOptions(ort.SessionOptions):  # make_session's options, also writing the optimised graph
        def __init__(self) -> None:
            super().__init__()
            self.optimized_model_filepath = str(tmp_path / "optimised.onnx")

    monkeypatch.setattr(ort, "SessionOptions", SavingOptions)
    make_session(int8)
    ops = [n.op_type for n in onnx.load(str(tmp_path / "optimised.onnx")).graph.node]
    assert ops.count("Conv") == 2 and ops.count("QLinearConv") > 0  # spot detector + MSPN head in float32
    weights = {i.name: i for i in onnx.load(str(int8)).graph.initializer}
    quantised = [onnx.numpy_helper.to_array(w) for name, w in weights.items() if name.endswith("weight_quantized")]
    assert quantised and max(np.abs(q).max() for q in quantised) <= 64  # 7-bit weights: no int16 saturation


def test_int8_refuses_output_that_disagrees_with_float32(monkeypatch):
    """The check after calibration: int8 heatmaps that are constant (every keypoint on one point with one score),
    or that keep the positions but give every keypoint one score, stop the run with one line, at that call and every
    later one."""
    from posetrack_cli.pose import onnx_runtime

    real_session = onnx_runtime.make_session

    class Broken:
        def __init__(self, session, fn) -> None:
            self.session, self.fn = session, fn

        def run(self, names, feeds):
            return [self.fn(self.session.run(names, feeds)[0])]

    flat_peaks = lambda h: 77.0 * h / h.max(axis=(2, 3), keepdims=True)  # noqa: E731 - same argmax, one peak value
    for fn in (lambda h: np.full_like(h, 77.0), flat_peaks):
        est = build(config=PoseConfig(batch_size=4, int8_calibration=6), runtime="int8")
        fp32 = est._predict.session
        monkeypatch.setattr(onnx_runtime, "make_session", lambda path, threads=None, fn=fn: Broken(fp32, fn))
        with pytest.raises(PosetrackError) as refused:
            estimate(est)
        message = str(refused.value)
        assert message.startswith("--pose-runtime int8: the quantised network disagrees with float32 on 6 "
                                  "calibration inputs (") and message.endswith("); use --pose-runtime onnx")
        assert "mean score difference" in message and "\n" not in message
        assert not est._predict.quantised
        with pytest.raises(PosetrackError, match="disagrees with float32"):
            estimate(est)
        monkeypatch.setattr(onnx_runtime, "make_session", real_session)


def test_int8_quantises_the_exported_graph_when_pre_processing_fails(monkeypatch, caplog, tmp_path):
    """ORT's optional pre-processing (symbolic shape inference) can fail on a graph it does not understand (ORT 1.30
    with torch 2.11's exporter): a warning, then the exported graph itself is quantised and runs."""
    import onnxruntime.quantization.shape_inference as shape_inference

    from posetrack_cli.pose.onnx_runtime import OnnxHeatmapNet, make_session, quantize_int8

    def broken(*args, **kwargs):
        raise AssertionError()

    monkeypatch.setattr(shape_inference, "quant_pre_process", broken)
    net = OnnxHeatmapNet(MSPN(1, **TINY).eval(), CARD.input_size)
    images = normalise(CROPS, CARD, torch.device("cpu")).numpy()
    with caplog.at_level(logging.WARNING):
        int8 = quantize_int8(net.fp32_path, tmp_path / "int8.onnx", images, batch=4)
    assert "pre-processing failed (AssertionError: no message)" in caplog.text
    out = make_session(int8).run(None, {"crops": images[:2]})[0]
    assert out.shape == (2, 17, 64, 48) and np.isfinite(out).all()


@pytest.mark.skipif(not precision.cpu_has_native_bf16(), reason="CPU without native bf16")
def test_cpu_bf16_matches_plain(plain_keypoints):
    assert_same_keypoints(estimate(build(cpu_bf16=True)), plain_keypoints, LOW_PRECISION_TOL, 0.03)


def test_bf16_without_native_support_runs_float32(monkeypatch, caplog, plain_keypoints):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    precision._note_no_bf16.cache_clear()
    with caplog.at_level(logging.INFO):
        kp = estimate(build(cpu_bf16=True))
    assert "no native bf16" in caplog.text
    assert_same_keypoints(kp, plain_keypoints, FP32_TOL, 1e-4)


def test_unknown_runtime_is_refused():
    with pytest.raises(PosetrackError, match="unknown pose runtime"):
        build(runtime="tensorrt")


# ------------------------------------------------------------------------------------------------ YOLO in bf16
@pytest.mark.skipif(not precision.cpu_has_native_bf16(), reason="CPU without native bf16")
def test_yolo_bf16_finds_the_same_people_and_keypoints(clip_frames):
    """Real weights on real frames: the same boxes (IoU >= 0.95, scores within 0.03) and, for the crop estimator,
    the same poses (OKS >= 0.9 with the COCO sigmas; ~0.99 measured)."""
    from posetrack_cli.config import DEFAULT_YOLO_WEIGHTS
    from posetrack_cli.detect.yolo import YoloDetector
    from posetrack_cli.geometry import box_areas, iou_matrix, oks_matrix
    from posetrack_cli.pose.yolo_crop import YoloCropEstimator
    from posetrack_cli.records import COCO17
    from posetrack_cli.zoo import resolve_path

    weights = resolve_path(None, DEFAULT_YOLO_WEIGHTS)
    frames = clip_frames[:2]
    plain, fast = (YoloDetector(weights, "cpu", imgsz=960, bf16=b).detect(frames) for b in (False, True))
    for a, b in zip(plain, fast):
        assert len(a) == len(b) > 0
        iou = iou_matrix(a.boxes_xyxy, b.boxes_xyxy)
        assert iou.max(1).min() >= 0.95
        np.testing.assert_allclose(a.scores, b.scores[iou.argmax(1)], atol=0.03)
    config = PoseConfig(batch_size=8)
    poses = [YoloCropEstimator(weights, config, "cpu", bf16=b).estimate(frames, plain) for b in (False, True)]
    for a, b in zip(*poses):
        areas = box_areas(a.boxes_xyxy)
        assert np.diag(oks_matrix(a.keypoints, b.keypoints, areas, areas, COCO17.sigmas)).min() >= 0.9


# ------------------------------------------------------------------------------------------- options -> networks
def test_options_reach_the_networks(monkeypatch, caplog, tmp_path):
    """``--pose-runtime``, ``--bf16`` and ``--prefetch`` -> the config -> the estimator and the YOLO detector
    (the paths themselves are checked against the plain one above)."""
    from click.testing import CliRunner

    from posetrack_cli.cli import main
    from posetrack_cli.config import DetectConfig
    from posetrack_cli.detect.ensemble import build_detector
    from posetrack_cli.pipeline import VideoResult, build_estimator
    from posetrack_cli.cli import run as run_command

    seen = {}

    def fake_run_single(video, out, config, *args, **kwargs):
        seen["config"] = config
        return VideoResult(str(video), str(out), "done")

    monkeypatch.setattr(run_command, "run_single", fake_run_single)
    video = tmp_path / "v.avi"
    video.write_bytes(b"")
    args = ["run", str(video), "--out", str(tmp_path / "t.json"), "--pose-runtime", "int8", "--bf16", "--prefetch",
            "0", "--int8-calibration", "40"]
    assert CliRunner().invoke(main, args).exit_code == 0
    config = seen["config"]
    assert (config.pose.runtime, config.pose.bf16, config.detect.bf16, config.prefetch) == ("int8", True, True, 0)
    assert config.pose.int8_calibration == 40

    calls = []
    monkeypatch.setattr(TopDownEstimator, "from_card", classmethod(lambda cls, *a, **kw: calls.append(kw)))
    build_estimator(config.with_(pose=PoseConfig(model="mspn-2x50-coco", runtime="int8", bf16=True)), "cpu")
    assert calls[0]["runtime"] == "int8" and calls[0]["cpu_bf16"] is True
    with caplog.at_level(logging.WARNING):
        crop = build_estimator(config.with_(pose=PoseConfig(model="yolo-crop", runtime="int8", bf16=True)), "cpu")
    assert crop.bf16 is True and "applies to MSPN/MDPN models only" in caplog.text
    assert build_detector(DetectConfig(detectors=("yolo",), bf16=True), "cpu").detectors[0].bf16 is True
    assert build_detector(DetectConfig(detectors=("yolo",)), "cpu").detectors[0].bf16 is False
