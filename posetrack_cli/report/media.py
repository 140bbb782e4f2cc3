"""The pictures of a report: the video the page plays (the source when a browser decodes it, else an H.264 proxy made
with the bundled ffmpeg, also for an image sequence) and the contact sheet's crops (each track's best pose, cut from
its frame)."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from posetrack_cli.io.ffmpeg import H264Encoder, MediaError, stream_facts, transcode_h264
from posetrack_cli.report.analysis import TrackSummary
from posetrack_cli.report.data import RunData

log = logging.getLogger(__name__)

BROWSER_CODECS = ("h264", "vp8", "vp9", "av1")  # what current browsers decode (Chromium, Firefox, Safari)
BROWSER_CONTAINERS = (".mp4", ".m4v", ".webm", ".mov")
CROP_HEIGHT = 120  # pixels of a contact-sheet picture; raising it makes the page bigger
CROP_MARGIN = 0.1  # of the box's size added on each side, so the crop shows a little of the surroundings
MAX_CROPS = 400  # the longest tracks get a picture; more would weigh down a page of a crowded hour
JPEG_QUALITY = 80


def browser_plays(video: Path) -> bool:
    """Whether a browser decodes ``video`` as it is (container and codec it knows); False when unsure."""
    if video.suffix.lower() not in BROWSER_CONTAINERS:
        return False
    try:
        facts = stream_facts(video)
    except MediaError:
        return False
    return facts.readable and (facts.video_codec or "").split(" ")[0] in BROWSER_CODECS


def _still_fresh(proxy: Path, sources: list[Path]) -> bool:
    """An existing proxy newer than everything it was made from was made by an earlier report of this run."""
    return proxy.is_file() and proxy.stat().st_mtime >= max(p.stat().st_mtime for p in sources)


def proxy_for(video: Path, proxy: Path, seconds: float, data: Path) -> Path:
    """``proxy``, an H.264 copy of the first ``seconds`` of ``video`` (the part the run tracked), kept when still
    fresh (``data``: the run's file). The file appears complete or not at all."""
    if _still_fresh(proxy, [video, data]):
        return proxy
    partial = proxy.with_name(f".{proxy.name}.partial.mp4")
    try:
        transcode_h264(video, partial, seconds=seconds)
        os.replace(partial, proxy)
    finally:
        partial.unlink(missing_ok=True)
    return proxy


def sequence_proxy(run: RunData, folder: Path, proxy: Path, data: Path) -> Path:
    """``proxy``, an H.264 video of an image sequence: frame k at k / fps as the run timed it, black where an
    image was unreadable (so the video's frames stay aligned with the frame indices); kept when still fresh."""
    if _still_fresh(proxy, [folder, data]):
        return proxy
    names = dict(zip(run.frame_index.tolist(), run.frame_names))
    width, height = int(run.video["width"]), int(run.video["height"])
    size = (width + width % 2, height + height % 2)  # H.264 (yuv420p) needs even sizes
    partial = proxy.with_name(f".{proxy.name}.partial.mp4")
    encoder = H264Encoder(partial, run.fps, size)
    try:
        for index in range(int(run.frame_index[-1]) + 1 if len(run.frame_index) else 0):
            frame = np.zeros((size[1], size[0], 3), np.uint8)
            image = cv2.imread(str(folder / names[index])) if index in names else None
            if image is not None:
                frame[:min(height, image.shape[0]), :min(width, image.shape[1])] = image[:height, :width]
            encoder.write(frame)
        encoder.close()
        os.replace(partial, proxy)
    except BaseException:
        encoder.kill()
        raise
    finally:
        partial.unlink(missing_ok=True)
    return proxy


def pick_crops(tracks: list[TrackSummary]) -> dict[int, int]:
    """track id -> the person row to picture, for the ``MAX_CROPS`` longest tracks."""
    longest = sorted(tracks, key=lambda t: (-t.length, t.track_id))[:MAX_CROPS]
    return {t.track_id: t.best for t in longest}


def crop_image(frame: np.ndarray, box: np.ndarray) -> str:
    """The box (with margin) cut from ``frame``, ``CROP_HEIGHT`` high, as a JPEG data URL; "" when empty."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    a, b = max(0, int(x1 - mx)), max(0, int(y1 - my))
    c, d = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    if c <= a or d <= b:
        return ""
    crop = frame[b:d, a:c]
    scale = CROP_HEIGHT / crop.shape[0]
    crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), CROP_HEIGHT), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii") if ok else ""


def crops(run: RunData, source: Path | None, wanted: dict[int, int]) -> dict[int, str]:
    """track id -> picture for the ``wanted`` person rows, read from the video (or image folder) ``source``."""
    if source is None or not wanted:
        return {}
    by_frame: dict[int, list[tuple[int, int]]] = {}
    for track, person in wanted.items():
        by_frame.setdefault(int(run.frame_index[run.person_frame[person]]), []).append((track, person))
    frames = _image_frames(run, source, by_frame) if run.video.get("kind") == "frames" else \
        _video_frames(source, by_frame)
    out = {}
    for index, image in frames:
        for track, person in by_frame[index]:
            out[track] = crop_image(image, run.boxes_xyxy[person])
    return out


def _video_frames(video: Path, wanted: dict[int, list]):
    """(index, image) of the wanted frame indices, decoding in order and skipping the rest without conversion."""
    cap = cv2.VideoCapture(str(video))
    try:
        last, index = max(wanted), 0
        while index <= last and cap.grab():
            if index in wanted:
                ok, image = cap.retrieve()
                if ok and image is not None:
                    yield index, image
            index += 1
    finally:
        cap.release()


def _image_frames(run: RunData, folder: Path, wanted: dict[int, list]):
    rows = {int(i): r for r, i in enumerate(run.frame_index)}
    for index in sorted(wanted):
        image = cv2.imread(str(folder / run.frame_names[rows[index]]))
        if image is not None:
            yield index, image
