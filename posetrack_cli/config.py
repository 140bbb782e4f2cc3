"""Explicit configuration: one frozen dataclass per stage, composed into ``PipelineConfig``.

Every threshold carries its unit and what raising it does. The papers' values are the defaults:
ensemble NMS 0.6 and OKS-NMS 0.4 (MDPN section 2), 8 frames of tracking memory and a minimum tracklet length of 2
(MDPN section 2.3), affine crops with aspect 0.75 and padding 1.25 (MSPN / MMPose top-down).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

# Bundled files live next to the package when installed from a checkout (editable install) or inside it when
# installed as a wheel (``posetrack_cli/_data``); ``zoo.bundled_path`` resolves both.
DEFAULT_YOLO_WEIGHTS = "yolo11n-pose.pt"
DEFAULT_SSDLITE_GRAPH = "ssdlite_mobilenet_v2_person.onnx"
DEFAULT_SEQUENCE_FPS = 25.0  # frames per second of a folder of frames (it stores none; PoseTrack states none either):
# also the rate video.probe assumes for a container that reports none
# TopDownEstimator runtimes: "auto" (onnx on a CPU with the onnx extra, else torch; pose.topdown.auto_runtime),
# "torch" eager PyTorch, "compile" torch.compile (Inductor, frozen weights; CPU and CUDA), "onnx" / "int8" ONNX
# Runtime float32 / int8 (CPU, the onnx extra)
NETWORK_NAMES = ("mspn", "mdpn")  # the networks a model card may name (nets.registry.NETWORKS builds them)
POSE_RUNTIMES = ("auto", "torch", "compile", "onnx", "int8")


@dataclass(frozen=True)
class DetectConfig:
    detectors: tuple[str, ...] = ("yolo", "ssdlite")  # names from detect.REGISTRY; boxes of all are fused
    nms_iou: float = 0.6  # MDPN: ensemble boxes fused by NMS at IoU 0.6; raising it keeps more overlapping boxes
    min_score: float = 0.25  # detector confidence floor in [0, 1]; raising it drops weak (often partial) people
    min_box_height: float = 8.0  # pixels; smaller boxes are dropped (too small for a pose)
    yolo_weights: str | None = None  # path; None = bundled weights/yolo11n-pose.pt
    yolo_imgsz: int = 960  # YOLO inference size in pixels; at 640 YOLO11n misses the ~70 px people of the bundled
    # clip (0.5 people/frame vs 3.4 at 960 and 4.1 at 1280, which costs 2.2x the time of 960 on a CPU)
    every: int = 1  # run the detectors on every k-th frame only; on the frames between, the boxes of the tracked
    # poses moved by optical flow (box propagation) stand in. 1 = every frame (MDPN); raising it is faster and finds
    # people who enter the frame up to k - 1 frames later (benchmarks/RESULTS.md §10)
    ssdlite_graph: str | None = None  # path to the SSDLite ONNX graph; None = bundled
    ssdlite_size: int = 300  # SSDLite input size in pixels (the graph's fixed_shape_resizer; the only one it takes)
    bf16: bool = False  # YOLO in bf16 autocast on CPUs with native bf16 (AMX / AVX512-BF16; ignored elsewhere):
    # faster with the same boxes (benchmarks/RESULTS.md §2; tests/pose/test_speed_paths.py); off = float32


@dataclass(frozen=True)
class PoseConfig:
    model: str = "auto"  # model card name, "yolo-crop" (bundled) or "auto" (best model whose weights are present)
    weights: str | None = None  # explicit weights file for the chosen model card
    aspect_ratio: float = 0.75  # crop width / height (MSPN 256x192)
    padding: float = 1.25  # box enlargement before cropping (MMPose top-down)
    flip_test: bool = True  # average with the horizontally flipped crop (MSPN test time)
    blur_kernel: int = 5  # Gaussian kernel on heatmaps before arg-max (MSPN: 5 for COCO); 0 = off
    quarter_offset: bool = True  # move the arg-max 0.25 px toward the second maximum (MSPN decode)
    batch_size: int = 32  # crops per network forward; larger batches use more memory
    amp: bool = True  # MSPN/MDPN in fp16 on CUDA (weights and activations, pose.topdown); ignored on CPU. The YOLO
    # models stay float32 on CUDA: in fp16 the pipeline ran 2x slower on an H100 (benchmarks/RESULTS.md §6)
    rescore: bool = True  # instance score = box score x mean keypoint score (papers)
    rescore_keypoint_threshold: float = 0.2  # keypoints under this score are left out of the mean (MMPose)
    oks_nms: float = 0.4  # MDPN OKS-NMS threshold; raising it keeps more overlapping poses; <= 0 disables it
    crop_size: int = 256  # crop height in pixels for the bundled YOLO crop estimator
    min_pose_score: float = 0.05  # poses whose re-scored instance score is below this are dropped (empty crops)
    runtime: str = "auto"  # MSPN/MDPN on "auto" (onnx on a CPU with the onnx extra and without bf16, else torch:
    # the fastest float32 path, benchmarks/RESULTS.md §1), "torch" (eager, BN folded, channels_last), "compile"
    # (torch.compile, frozen weights, compiled per padded batch size at first use), "onnx" (ONNX Runtime float32)
    # or "int8" (ONNX Runtime, static int8 calibrated on the first network inputs); the last two CPU only, onnx extra
    int8_calibration: int = 128  # int8: network inputs (2 per person with the flip test) run in float32 and recorded
    # before quantising; more = closer to float32, slower start (benchmarks/RESULTS.md §2)
    bf16: bool = False  # pose network in bf16 autocast on CPUs with native bf16 (ignored elsewhere); off = float32


@dataclass(frozen=True)
class TrackConfig:
    memory_frames: int = 8  # MDPN: poses of up to 8 earlier frames are matched; 1 = previous frame only
    similarity: str = "oks"  # how a new pose is compared with a remembered one: "oks" (MDPN) or "iou" (boxes);
    # track.similarity.SIMILARITIES
    min_similarity: float = 0.2  # similarity below this never links two poses; raising it starts more new tracks
    keypoint_threshold: float = 0.3  # keypoints under this score do not count in the tracking OKS
    matching: str = "hungarian"  # "hungarian" (MDPN, lap) or "greedy" (Xiao et al.)
    min_track_length: int = 2  # MDPN prunes tracklets shorter than 2 frames from the final output; 1 keeps all
    flow: str = "dis"  # optical flow moving remembered poses: "dis", "farneback" or "none"
    flow_scale: float = 0.5  # frames are resized by this factor before computing flow (speed vs accuracy)
    flow_check: bool = True  # refuse the flow of a frame pair that it does not explain (black frame, cut; track.flow
    # flow_trusted): remembered poses then move on their own velocity. Off = the papers' tracker exactly, which follows
    # any flow; on a video whose every frame pair passes the check both give the same tracks
    box_propagation: bool = False  # Xiao et al. extra candidate boxes from moved joints (MDPN: off)
    propagated_box: str = "joints"  # shape of a propagated box: "joints" (Xiao et al.: the moved joints' extent + 15 %)
    # or "box" (the track's last box, moved with its joints, then re-anchored on the pose estimated in it: the
    # detector's framing kept between detector frames; benchmarks/RESULTS.md §10)
    smoothing: bool = False  # One-Euro keypoint smoothing of the output (off: MDPN has none)


@dataclass(frozen=True)
class RefineConfig:
    """Offline refinement of a finished run's tracks (track.refine), not in the papers: off reproduces them."""

    enabled: bool = True  # refine the final outputs of a file (the .jsonl stream keeps the online tracks)
    repair_swaps: bool = True  # give back the people two passing tracks exchanged (least acceleration;
    # track.refine.swaps)
    max_gap_s: float = 2.0  # seconds: a tracklet may be continued by one starting up to this long after its end
    max_join_cost: float = 2.0  # joins costing more are refused (track.refine.stitch.join_cost: a motion miss of one
    # tolerance costs 1); raising it joins more tracklets, and more wrongly
    fill_gap: int = 10  # frames: gaps of up to this many missing frames inside a track are interpolated; 0 = none
    interpolated_score: float = 0.5  # filled entries get the lower score of the two ends times this (<1 so exports
    # and evaluators can drop them)
    smooth_cutoff_hz: float = 1.5  # keypoint smoothing cutoff in Hz (zero-phase, confidence-weighted; confident joints
    # move at most 0.04 box heights, track.refine.smooth); lower smooths more; 0 = none (benchmarks/RESULTS.md §11)
    lean_scores: bool = True  # with smoothing, a joint scored under 0.3 (placed by its neighbours in time) takes their
    # mean score when higher (track.refine.smooth.leaned_scores; benchmarks/RESULTS.md §11 session 10)


@dataclass(frozen=True)
class OutputConfig:
    formats: tuple[str, ...] = ("native",)  # native JSON plus any of export.FORMATS
    # PoseTrack exports only (the native JSON keeps everything). Simple Baselines / MDPN drop boxes < 0.5 and joints
    # < 0.4 before export (POSETRACK_EVAL.md); MOTA counts every exported joint, so raising the keypoint threshold
    # trades mAP for MOTA (MDPN Table 2).
    keypoint_threshold: float = 0.4  # keypoints below this score are left out of PoseTrack exports
    box_threshold: float = 0.5  # people whose box score is below this are left out of PoseTrack exports


FLOW_THREAD_SETTINGS = ("auto", "on", "off")  # PipelineConfig.flow_thread


@dataclass(frozen=True)
class PipelineConfig:
    detect: DetectConfig = field(default_factory=DetectConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    device: str = "auto"  # "auto" (CUDA when present), "cpu", "cuda" or "cuda:N"
    frame_batch: int = 4  # frames decoded and sent through detection + pose together
    max_frames: int | None = None  # stop after this many frames (None = whole video)
    prefetch: int = 2  # frame batches decoded ahead by a reader thread and written behind by a writer thread, so
    # that decoding and JSON writing overlap the networks; memory grows by ~2 x this x frame_batch frames; 0 = off
    # (it does not change the results, so it is not recorded in the outputs: see pipeline.result_config)
    flow_thread: str = "auto"  # "on", "off" or "auto": the optical flow into the next frames computed on a worker
    # thread while the networks run (the same results; a run-only setting). auto: on where that thread has a core to
    # itself (the networks on a GPU, or PyTorch's threads leaving a CPU core free; RESULTS.md §10)
    time_forwards: bool = False  # time the network forwards for --profile's forward / overhead line: global module
    # hooks on every layer call and, on CUDA, a synchronisation per forward, so only when asked (a run-only setting)
    sequence_fps: float = DEFAULT_SEQUENCE_FPS  # frame rate given to image sequences (a folder stores none; --fps)
    offline: bool = False  # never download weights (as POSETRACK_OFFLINE=1): --pose auto then runs the bundled
    # yolo-crop estimator until MSPN weights are present, and --yolo-weights must be a local file (a run-only setting)
    refine: RefineConfig = field(default_factory=RefineConfig)  # offline pass on the final outputs (not the stream)

    def with_(self, **changes) -> PipelineConfig:
        return replace(self, **changes)


@dataclass(frozen=True)
class LiveConfig:
    """How a live source (camera, stream URL) is run: the pipeline always takes the newest frame (older ones are
    dropped, so latency stays bounded), and the run lasts until the stream ends, ``duration_s`` or a signal."""

    reconnect: bool = False  # reopen a stream that ends or stalls, with backoff (1 log line each time)
    duration_s: float | None = None  # stop after this many seconds (None: until the stream ends or Ctrl-C)
    segment_s: float | None = None  # start new output files (and overlay) every so many seconds (None: one set)
    show: bool = False  # a preview window of the overlay (needs a display)


# Presets: values for ``posetrack run`` options (by option name), applied where the user did not give the option.
# "accurate" is the papers' method (every default as written above); "realtime" trades some recall and keypoint
# precision for speed: the two detectors every 5th frame, the tracks' boxes moved by flow between, smaller pose crops
# (benchmarks/RESULTS.md §10 measures both on the bundled clip).
PRESETS: dict[str, dict[str, object]] = {
    "accurate": {},
    "realtime": {"detectors": "yolo,ssdlite", "detect_every": 5, "box_propagation": True, "propagated_box": "box",
                 "pose": "yolo-crop", "crop_size": 192, "frame_batch": 1},
}
