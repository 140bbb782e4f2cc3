"""Output formats. ``native`` (tracks.json + tracks.jsonl) is always written; the others are written beside it from
the same pruned frames. A new format: one writer module + one entry in ``FORMATS``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from posetrack_cli.config import OutputConfig, PipelineConfig
from posetrack_cli.export.coco import write_coco_results
from posetrack_cli.export.mot import write_mot
from posetrack_cli.export.native import final_frames, frame_from_dict
from posetrack_cli.export.posetrack import write_posetrack17, write_posetrack18
from posetrack_cli.records import FrameResult, VideoInfo

Writer = Callable[[Path, Iterable[FrameResult], VideoInfo, OutputConfig], None]
# name -> (writer, file suffix beside tracks.json)
FORMATS: dict[str, tuple[Writer, str]] = {
    "posetrack18": (write_posetrack18, ".posetrack18.json"),
    "posetrack17": (write_posetrack17, ".posetrack17.json"),
    "coco": (write_coco_results, ".coco.json"),
    "mot": (write_mot, ".mot.txt"),
}
FORMAT_NAMES = ("native", *FORMATS)


def write_extra_formats(stream, out_json: Path, config: PipelineConfig, info: VideoInfo) -> list[Path]:
    """Write every non-native format of ``config.output.formats`` beside ``out_json``; returns their paths."""
    written = []
    skeleton = stream.header.get("models", {}).get("skeleton", "coco17")
    for name in config.output.formats:
        if name == "native":
            continue
        write, suffix = FORMATS[name]
        frames, _ = final_frames(stream, config.track.min_track_length)
        path = out_json.with_name(out_json.stem + suffix)
        write(path, (frame_from_dict(f, skeleton) for f in frames), info, config.output)
        written.append(path)
    return written
