"""Size, write time and browser load time of a report page at scale: a synthetic one-hour, 30 fps run with 20
people in every frame (2.16 million poses; each person walks smoothly, keypoints jitter, and every ~2 minutes one
person leaves and a new id comes in), written without a video and opened from file:// in headless Chromium:

    python benchmarks/bench_report.py [--minutes 60] [--fps 30] [--people 20] [--chromium /usr/bin/chromium]

Prints: poses, page size, write time, time until the page is ready (timeline, plots, contact sheet, flags and the
first frame drawn), time to show a frame an hour in (decoding its chunk), and the mean time to draw one frame while
stepping through 300 frames (playing smoothly needs well under 33 ms at 30 fps).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_model, load

from posetrack_cli.records import COCO17
from posetrack_cli.report import write_page
from posetrack_cli.report.data import RunData

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH, HEIGHT = 1920, 1080
SHAPE = np.array([(0.5, 0.08), (0.45, 0.06), (0.55, 0.06), (0.4, 0.08), (0.6, 0.08), (0.3, 0.22), (0.7, 0.22),
                  (0.2, 0.38), (0.8, 0.38), (0.15, 0.52), (0.85, 0.52), (0.38, 0.55), (0.62, 0.55), (0.36, 0.75),
                  (0.64, 0.75), (0.35, 0.95), (0.65, 0.95)])


def synthetic_run(frames: int, fps: float, people: int, seed: int = 0) -> RunData:
    """``people`` slots, each a person walking on a smooth random path; a slot changes id every ~2 minutes."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)
    slot_x = rng.uniform(100, WIDTH - 300, people)[:, None] + 300 * np.sin(t[None] / (fps * rng.uniform(5, 20, (
        people, 1))) + rng.uniform(0, 6, (people, 1)))
    slot_y = rng.uniform(100, HEIGHT - 400, people)[:, None] + 80 * np.cos(t[None] / (fps * 11.0))
    height = rng.uniform(150, 350, people)[:, None] * np.ones((1, frames))
    changes = rng.random((people, frames)) < 1 / (120 * fps)  # a new person in this slot
    ids = np.cumsum(changes, axis=1) * people + np.arange(people)[:, None] + 1
    order = (t[:, None] * people + np.arange(people)[None]).T.ravel()  # frame-major rows
    x, y, h, tid = (a.ravel()[np.argsort(order)] for a in (slot_x, slot_y, height, ids))
    w = 0.4 * h
    boxes = np.stack([x, y, x + w, y + h], axis=1).astype(np.float32)
    kp_xy = boxes[:, None, :2] + SHAPE[None] * np.stack([w, h], axis=1)[:, None] + rng.normal(0, 1.5, (len(x), 17, 2))
    kp_score = np.clip(rng.normal(0.8, 0.12, (len(x), 17)), 0, 1)
    score = kp_score.mean(axis=1) * 0.95
    keypoints = np.concatenate([kp_xy, kp_score[..., None]], axis=2).astype(np.float32)
    video = {"path": "synthetic.mp4", "fps": fps, "width": WIDTH, "height": HEIGHT, "frame_count": frames,
             "rotation": 0, "kind": "video"}
    return RunData(video, {"detectors": ["synthetic"], "pose": "synthetic", "skeleton": "coco17"}, {},
                   {"frames": frames, "people": len(x)}, COCO17, t.astype(np.int64), t / fps,
                   np.repeat(t, people).astype(np.int64), tid.astype(np.int64), boxes, score.astype(np.float32),
                   keypoints)


def browser_figures(page_path: Path, chromium: str, last_row: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        start = time.perf_counter()
        page.goto(page_path.as_uri())
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=120_000)
        ready = time.perf_counter() - start
        start = time.perf_counter()
        page.evaluate(f"report.seekRow({last_row})")
        page.wait_for_function(f"document.body.dataset.drawnRow === '{last_row}'", timeout=60_000)
        far = time.perf_counter() - start
        step_ms = page.evaluate(f"""() => {{ const t = performance.now();
            for (let r = {last_row} - 300; r < {last_row}; r++) report.seekRow(r);
            return (performance.now() - t) / 300; }}""")
        browser.close()
    return {"ready_s": ready, "far_frame_s": far, "draw_ms": step_ms, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--fps", type=float, default=30)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; {load()}")
    frames = int(args.minutes * 60 * args.fps)
    start = time.perf_counter()
    run = synthetic_run(frames, args.fps, args.people)
    print(f"synthetic run: {frames} frames, {len(run.track_id)} poses, {len(np.unique(run.track_id))} tracks "
          f"(made in {time.perf_counter() - start:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        result = write_page(run, Path(tmp) / "hour.html", title="synthetic hour")
        print(f"page: {result.bytes / 2**20:.1f} MB ({result.bytes / len(run.track_id):.1f} bytes a pose), "
              f"written in {result.seconds:.1f} s")
        figures = browser_figures(result.path, args.chromium, frames - 1)
    print(f"chromium: ready in {figures['ready_s']:.2f} s; a frame an hour in shown in {figures['far_frame_s']:.2f} "
          f"s; {figures['draw_ms']:.2f} ms to draw a frame (stepping 300 frames); errors: {figures['errors'] or 0}")


if __name__ == "__main__":
    main()
