"""Options shared by ``posetrack run`` and ``posetrack pose``: the detectors, the pose network and its runtime, and
the device, declared once (``model_options``) and turned into the library's configs once (``detect_config``,
``pose_config``), so that both commands accept the same switches with the same defaults and checks."""

from __future__ import annotations

from pathlib import Path

import click

from posetrack_cli.config import POSE_RUNTIMES, DetectConfig, PipelineConfig, PoseConfig
from posetrack_cli.detect.supplied import FORMATS as BOX_FORMATS
from posetrack_cli.detect.supplied import load_boxes, load_image_ids

_DETECT, _POSE = DetectConfig(), PoseConfig()


def csv(value: str) -> tuple[str, ...]:
    """A comma list as a tuple of its non-empty, stripped items."""
    return tuple(v.strip() for v in value.split(",") if v.strip())


def model_options(command):
    """Detector, pose network, runtime and device options (defaults from ``DetectConfig`` / ``PoseConfig``)."""
    options = [
        click.option("--detectors", default=",".join(_DETECT.detectors), show_default=True,
                     help="Comma list of person detectors."),
        click.option("--nms-iou", type=click.FloatRange(0, 1), default=_DETECT.nms_iou, show_default=True,
                     help="Ensemble box NMS IoU (MDPN 0.6)."),
        click.option("--det-score", type=click.FloatRange(0, 1), default=_DETECT.min_score, show_default=True,
                     help="Detector score floor."),
        click.option("--yolo-weights", type=click.Path(path_type=Path), default=None,
                     help="YOLO weights for detection and yolo-crop pose (default: bundled yolo11n-pose.pt)."),
        click.option("--yolo-imgsz", type=click.IntRange(min=32), default=_DETECT.yolo_imgsz, show_default=True,
                     help="YOLO detector input size in pixels."),
        click.option("--pose", default=_POSE.model, show_default=True,
                     help="Pose model card (see `posetrack weights list`), yolo-crop, or auto."),
        click.option("--pose-weights", type=click.Path(path_type=Path), default=None, help="Weights file for --pose."),
        click.option("--flip-test/--no-flip-test", default=_POSE.flip_test, show_default=True,
                     help="Flip test in the pose network (MSPN)."),
        click.option("--oks-nms", type=click.FloatRange(0, 1), default=_POSE.oks_nms, show_default=True,
                     help="OKS-NMS threshold (MDPN 0.4; MMPose's COCO evaluation uses 0.9); 0 turns it off."),
        click.option("--pose-batch", type=click.IntRange(min=1), default=_POSE.batch_size, show_default=True,
                     help="Crops per forward."),
        click.option("--pose-runtime", type=click.Choice(POSE_RUNTIMES), default=_POSE.runtime, show_default=True,
                     help="MSPN/MDPN runtime: auto (onnx on a CPU with the onnx extra, else torch), PyTorch, "
                          "torch.compile (compiles ~20-40 s per batch size at first use), ONNX Runtime float32 (the "
                          "fastest float32 on a CPU) or int8 (CPU; onnx and int8 need the onnx extra)."),
        click.option("--int8-calibration", type=click.IntRange(min=1), default=_POSE.int8_calibration,
                     show_default=True,
                     help="--pose-runtime int8: network inputs (2 per person with the flip test) run in float32 to "
                          "calibrate the int8 graph; more agrees better with float32 and starts slower."),
        click.option("--bf16", is_flag=True,
                     help="YOLO and pose networks in bf16 on CPUs with native bf16 (AMX/AVX512-BF16; else "
                          "ignored)."),
        click.option("--fp16/--no-fp16", default=_POSE.amp, show_default=True,
                     help="MSPN/MDPN in fp16 on CUDA (ignored on a CPU); --no-fp16 runs float32."),
        click.option("--device", default=PipelineConfig().device, show_default=True, help="auto, cpu, cuda or cuda:N."),
        click.option("--offline", is_flag=True, default=PipelineConfig().offline,
                     help="Never download weights (also POSETRACK_OFFLINE=1): --pose auto runs the bundled yolo-crop "
                          "until MSPN weights are present; --yolo-weights must be a local file."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def detect_config(opts: dict) -> DetectConfig:
    """The ``model_options`` values of the detectors as a ``DetectConfig``."""
    return DetectConfig(detectors=csv(opts["detectors"]), nms_iou=opts["nms_iou"], min_score=opts["det_score"],
                        yolo_imgsz=opts["yolo_imgsz"], bf16=opts["bf16"],
                        yolo_weights=str(opts["yolo_weights"]) if opts["yolo_weights"] else None)


def pose_config(opts: dict, **extra) -> PoseConfig:
    """The ``model_options`` values of the pose stage as a ``PoseConfig`` (``extra``: the command's own fields)."""
    return PoseConfig(model=opts["pose"], weights=str(opts["pose_weights"]) if opts["pose_weights"] else None,
                      flip_test=opts["flip_test"], oks_nms=opts["oks_nms"], batch_size=opts["pose_batch"],
                      runtime=opts["pose_runtime"], int8_calibration=opts["int8_calibration"], bf16=opts["bf16"],
                      amp=opts["fp16"], **extra)


BOX_OPTIONS = ("boxes", "boxes_format", "boxes_min_score", "image_ids")


def boxes_options(command):
    """``--boxes FILE|DIR``, ``--boxes-format``, ``--boxes-min-score`` and ``--image-ids`` (docs/SCHEMA.md)."""
    options = [
        click.option("--boxes", "boxes", type=click.Path(path_type=Path), default=None,
                     help="Person boxes from a file or folder instead of the detectors: COCO detection results, "
                          "a per-frame JSON/CSV, or a COCO/PoseTrack annotation file (ground truth)."),
        click.option("--boxes-format", type=click.Choice(BOX_FORMATS), default=BOX_FORMATS[0],
                     show_default=True, help="Format of --boxes (auto: from the content)."),
        click.option("--boxes-min-score", type=click.FloatRange(0, 1), default=0.0, show_default=True,
                     help="Drop supplied boxes scoring below this (0 keeps all, as MMPose's COCO evaluation)."),
        click.option("--image-ids", type=click.Path(path_type=Path), default=None,
                     help="COCO/PoseTrack annotation file or folder naming the image id of each image file "
                          "(default: the number in the file name)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_box_source(opts: dict, image_ids=None):
    """The ``SuppliedBoxes`` of ``--boxes`` (None without it); removes the box options from ``opts``."""
    values = {k: opts.pop(k, None) for k in BOX_OPTIONS}
    if values["boxes"] is None:
        return None
    ids = image_ids if image_ids is not None else load_image_ids(values["image_ids"])
    return load_boxes(values["boxes"], values["boxes_format"] or "auto", values["boxes_min_score"] or 0.0, ids)
