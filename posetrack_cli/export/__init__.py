"""Output formats. ``native`` (tracks.json + tracks.jsonl) is always written; the others are written beside it from
the same pruned frames. A new format: one writer module + one entry in ``FORMATS``."""

from __future__ import annotations

import importlib
from pathlib import Path

from posetrack_cli.config import PipelineConfig
from posetrack_cli.video import VideoInfo

# name -> (module:function, file suffix). Writers take (path, frames: Iterable[FrameResult], info, OutputConfig).
FORMATS = {
    "posetrack18": ("posetrack_cli.export.posetrack:write_posetrack18", ".posetrack18.json"),
    "posetrack17": ("posetrack_cli.export.posetrack:write_posetrack17", ".posetrack17.json"),
    "coco": ("posetrack_cli.export.coco:write_coco_results", ".coco.json"),
}
FORMAT_NAMES = ("native", *FORMATS)


def _writer(spec: str):
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def write_extra_formats(stream, out_json: Path, config: PipelineConfig, info: VideoInfo) -> list[Path]:
    """Write every non-native format of ``config.output.formats`` beside ``out_json``; returns their paths."""
    from posetrack_cli.export.native import final_frames, frame_from_dict

    written = []
    skeleton = stream.header.get("models", {}).get("skeleton", "coco17")
    for name in config.output.formats:
        if name == "native":
            continue
        spec, suffix = FORMATS[name]
        frames, _ = final_frames(stream, config.track.min_track_length)
        path = out_json.with_name(out_json.stem + suffix)
        _writer(spec)(path, (frame_from_dict(f, skeleton) for f in frames), info, config.output)
        written.append(path)
    return written
