"""The Ray driver: resume check and work list, dynamic dispatch to worker actors, retries of items whose worker
died, chunk re-joining, one progress bar, ``summary.json``. Same rows, files and exit semantics as the local loop
of ``folder.run_here``; rows come back in the folder's order whatever order the workers finish in."""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from posetrack_cli import errors
from posetrack_cli.config import PipelineConfig
from posetrack_cli.errors import InputError, OutputError, PosetrackError, one_line
from posetrack_cli.io.sources import probe
from posetrack_cli.pipeline import VideoResult, box_source_names
from posetrack_cli.runs.chunks import Chunk, chunks_for, finish_chunked
from posetrack_cli.runs.outputs import render_path, skip_or_clean, write_summary
from posetrack_cli.runs.policy import guarded, stopped_row
from posetrack_cli.runs.progress import Progress
from posetrack_cli.runs.ray_config import RayConfig, check_ray
from posetrack_cli.runs.ray_worker import Item, Outcome, ProgressLog, Worker, worker_threads

log = logging.getLogger(__name__)

POLL_S = 0.2  # seconds between progress polls while waiting for results


def connect(ray, cfg: RayConfig) -> bool:
    """Join or start Ray; True when this call connected (and the driver must disconnect at the end)."""
    if ray.is_initialized():
        return False
    address = cfg.address if cfg.address != "auto" else os.environ.get("RAY_ADDRESS")
    common = {"log_to_driver": False, "configure_logging": False}
    try:
        if address:
            _check_reachable(address)  # ray.init retries an unreachable address for minutes
            ray.init(address=address, **common)
        else:  # a local instance: bound to loopback, no dashboard unless asked
            ray.init(_node_ip_address="127.0.0.1", include_dashboard=cfg.dashboard, dashboard_host="127.0.0.1",
                     object_store_memory=cfg.object_store_mb * 1024 * 1024, **common)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"--ray {cfg.address}: cannot start or reach Ray ({one_line(exc, with_type=False)}); "
                         "check the address, or use --ray auto for a local instance") from None
    return True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A TCP connection to a cluster address (``HOST:PORT`` or ``ray://HOST:PORT``) or a ConnectionError."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or address, int(port) if port.isdigit() else 6379), timeout_s):
            pass
    except (OSError, ValueError) as exc:
        raise ConnectionError(f"nothing answers at {address}: {exc}") from None


def worker_count(ray, cfg: RayConfig, items: int) -> int:
    """``--ray-workers``, or as many workers as the cluster's CPUs (and GPUs) hold; at most one per item."""
    res = ray.cluster_resources()
    cpus, gpus = res.get("CPU", 0.0), res.get("GPU", 0.0)
    if cfg.cpus_per_task > cpus or cfg.gpus_per_task > gpus:
        raise InputError(f"--cpus-per-task {cfg.cpus_per_task:g} / --gpus-per-task {cfg.gpus_per_task:g}: the Ray "
                         f"cluster has {cpus:g} CPUs and {gpus:g} GPUs; ask for less per task")
    fit = int(cpus // cfg.cpus_per_task) if cfg.cpus_per_task > 0 else items
    if cfg.gpus_per_task > 0:
        fit = min(fit, int(gpus // cfg.gpus_per_task))
    return max(1, min(cfg.workers or fit, items))


@dataclass
class Plan:
    """Rows already known (skipped videos) and the items to run, per video of the batch."""

    rows: dict[int, VideoResult] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    chunks: dict[int, list[Chunk]] = field(default_factory=dict)  # chunked videos only
    render: dict[int, Path | None] = field(default_factory=dict)  # their overlays, drawn by the driver
    frames: int = 0  # frames announced for the progress bar


def plan(videos: list[Path], outputs: list[Path], out_dir: Path, config: PipelineConfig,
         render_dir: Path | None, resume: bool, cfg: RayConfig, detectors: list[str] | None = None) -> Plan:
    """``detectors``: the box source the outputs record (``pipeline.box_source_names``), for ``--resume``."""
    p = Plan()
    overlap = config.track.memory_frames  # a person hidden this long is still re-linked by the tracker
    for i, (video, out_json) in enumerate(zip(videos, outputs)):
        render = render_path(out_json, out_dir, render_dir)
        skipped = skip_or_clean(video, out_json, config, render, resume, detectors)
        if skipped is not None:
            p.rows[i] = skipped
            continue
        chunks = chunks_for(video, cfg.chunk_frames, overlap, config.max_frames)
        base = Item(0, i, str(video.resolve()), str(out_json.resolve()), str(render.resolve()) if render else None)
        if chunks is not None:
            p.chunks[i], p.render[i] = chunks, render
            p.items += [replace(base, key=len(p.items) + k, render=None, chunk=c) for k, c in enumerate(chunks)]
            p.frames += chunks[-1].stop
        else:
            p.items.append(replace(base, key=len(p.items)))
            with contextlib.suppress(PosetrackError):
                p.frames += min(probe(video, config.sequence_fps).frame_count, config.max_frames or 1 << 62)
    return p


class Pool:
    """Worker actors in fixed slots; a slot whose process died gets a fresh actor."""

    def __init__(self, ray, config: PipelineConfig, cfg: RayConfig, size: int, boxes=None) -> None:
        self.ray, self.config = ray, config
        self.boxes = None if boxes is None else ray.put(boxes)  # supplied boxes: stored once, shared by the workers
        self.progress = ray.remote(num_cpus=0)(ProgressLog).remote()
        self.remote_worker = ray.remote(num_cpus=cfg.cpus_per_task, num_gpus=cfg.gpus_per_task)(Worker)
        self.threads = worker_threads(cfg.cpus_per_task)
        self.actors = [self._new() for _ in range(size)]
        for pid, error in ray.get([a.ready.remote() for a in self.actors]):
            if error is not None:  # bad or missing weights: the same error as a local run
                raise getattr(errors, error[0], PosetrackError)(error[1])

    def _new(self):
        return self.remote_worker.remote(self.config, self.progress, self.boxes, self.threads)

    def replace(self, slot: int) -> None:
        with contextlib.suppress(Exception):
            self.ray.kill(self.actors[slot])
        self.actors[slot] = self._new()

    def close(self) -> None:
        for actor in [*self.actors, self.progress]:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)


class Dispatch:
    """Hands items to free workers as they finish (dynamic load balancing) and collects the outcomes; an item
    whose worker process died runs again on a fresh worker, at most ``retries`` more times."""

    def __init__(self, ray, pool: Pool, items: list[Item], retries: int,
                 on_frames: Callable[[Item, int, int], None]) -> None:
        self.ray, self.pool, self.retries, self.on_frames = ray, pool, retries, on_frames
        self.queue = deque(items)
        self.by_key = {item.key: item for item in items}
        self.running: dict = {}  # object ref -> (slot, item)
        self.free = deque(range(len(pool.actors)))
        self.frames: dict[int, int] = {}  # item key -> frames reported by its current attempt

    def busy(self) -> bool:
        return bool(self.queue or self.running)

    def step(self) -> list[tuple[Item, Outcome]]:
        """Submit to free workers, wait up to ``POLL_S`` for results, pass on progress; the finished items."""
        while self.free and self.queue:
            slot, item = self.free.popleft(), self.queue.popleft()
            self.running[self.pool.actors[slot].run.remote(item)] = (slot, item)
        ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=POLL_S)
        self._progress()
        return [done for ref in ready if (done := self._collect(ref)) is not None]

    def _progress(self) -> None:
        for key, n, pid in self.ray.get(self.pool.progress.take.remote()):
            self.frames[key] = self.frames.get(key, 0) + n
            self.on_frames(self.by_key[key], n, pid)

    def _collect(self, ref) -> tuple[Item, Outcome] | None:
        from ray.exceptions import RayActorError, WorkerCrashedError

        slot, item = self.running.pop(ref)
        try:
            outcome = self.ray.get(ref)
        except (RayActorError, WorkerCrashedError) as exc:
            self._progress()  # reports sent before the crash, then take them back from the bar
            self.on_frames(item, -self.frames.pop(item.key, 0), 0)
            self.pool.replace(slot)
            self.free.append(slot)
            reason = one_line(exc, with_type=False)
            if item.attempt < self.retries:
                log.warning("worker died running %s (%s); retrying", item.path, reason)
                self.queue.appendleft(replace(item, attempt=item.attempt + 1))
                return None
            error = f"the worker process died {item.attempt + 1} times running it (last: {reason})"
            return item, Outcome(VideoResult(item.path, item.out_json, "failed", error=error))
        self.free.append(slot)
        return item, outcome

    def in_flight(self) -> list[Item]:
        return [item for _, item in self.running.values()]


def _stopped_rows(d: Dispatch | None, done: dict[int, VideoResult], exc: BaseException) -> dict[int, VideoResult]:
    """Rows marked interrupted (or "failed" for an OutputError) for the videos being worked on when the run stopped."""
    rows: dict[int, VideoResult] = {}
    for item in d.in_flight() if d is not None else []:
        if item.video not in done:
            frames = sum(d.frames.get(i.key, 0) for i in d.in_flight() if i.video == item.video)
            rows[item.video] = stopped_row(item.path, item.out_json, exc, frames)
    return rows


def _finish_video(item: Item, outcome: Outcome, p: Plan, parts: dict[int, dict[int, VideoResult]],
                  config: PipelineConfig) -> VideoResult | None:
    """The video's row once all its work is done (None while chunks are missing); joins chunked videos."""
    if outcome.fatal:
        raise OutputError(outcome.row.error)
    if item.chunk is None:
        return outcome.row
    got = parts.setdefault(item.video, {})
    got[item.chunk.index] = outcome.row
    if len(got) < item.chunk.count:
        return None
    rows = [got[i] for i in range(item.chunk.count)]
    if failed := [r for r in rows if r.status != "done"]:
        return VideoResult(item.path, item.out_json, "failed", sum(r.frames for r in rows), error=failed[0].error)
    out_json, render = Path(item.out_json), p.render.get(item.video)
    return guarded(item.path, item.out_json,
                   lambda: finish_chunked(item.path, out_json, p.chunks[item.video], rows, config, render))


def _as_given(row: VideoResult, video: Path, out_json: Path) -> VideoResult:
    """The row with the paths as the user gave them (workers get absolute ones), like a local run's."""
    swap = {row.video: str(video), row.output: str(out_json)}
    error = row.error.replace(row.video, str(video))
    return replace(row, video=swap[row.video], output=swap.get(row.output, row.output), error=error)


class RayExecutor:
    """A ``folder.run_batch`` executor that runs the videos on Ray workers. ``on_progress(video, frames, worker
    pid)`` is called in the driver for every report of a worker."""

    def __init__(self, cfg: RayConfig, on_progress: Callable[[str, int, int], None] | None = None) -> None:
        check_ray()  # one line when Ray is not installed, before any video is touched
        self.cfg, self.on_progress = cfg, on_progress

    def __call__(self, videos: list[Path], outputs: list[Path], rows: list[VideoResult], out_dir: Path,
                 config: PipelineConfig, render_dir: Path | None, resume: bool, progress: Progress,
                 boxes=None, download=None) -> list[VideoResult]:
        """``download`` is not used: each worker downloads what it lacks itself."""
        return run_on_ray(videos, outputs, rows, out_dir, config, render_dir, resume, progress, self.cfg,
                          self.on_progress, boxes)


def run_on_ray(videos: list[Path], outputs: list[Path], rows: list[VideoResult], out_dir: Path,
               config: PipelineConfig, render_dir: Path | None, resume: bool, progress: Progress, cfg: RayConfig,
               on_progress: Callable[[str, int, int], None] | None = None, boxes=None) -> list[VideoResult]:
    """Run the videos on Ray workers; ``rows`` (folders that could not be searched) come first, as locally.
    ``boxes``: supplied person boxes (``--boxes``, a ``BoxSource``) instead of the detectors, sent to every worker."""
    import ray


    p = plan(videos, outputs, out_dir, config, render_dir, resume, cfg, box_source_names(config, boxes))
    done, parts = dict(p.rows), {}
    def on_frames(item: Item, n: int, pid: int) -> None:
        progress.advanced(n)
        if on_progress is not None and n > 0:
            on_progress(str(videos[item.video]), n, pid)

    started, pool, d = False, None, None
    try:
        started = connect(ray, cfg)
        if p.items:
            pool = Pool(ray, config, cfg, worker_count(ray, cfg, len(p.items)), boxes)
            progress.planned(len(videos) - len(p.rows))
            progress.started("frames", p.frames or None)  # once the workers are ready (loading is not frames)
            d = Dispatch(ray, pool, p.items, cfg.retries, on_frames)
        while d is not None and d.busy():
            for item, outcome in d.step():
                try:
                    row = _finish_video(item, outcome, p, parts, config)
                except OutputError as exc:
                    done[item.video] = VideoResult(str(videos[item.video]), str(outputs[item.video]), "failed",
                                                   error=str(exc))
                    raise
                if row is not None:
                    done[item.video] = _as_given(row, videos[item.video], outputs[item.video])
                    progress.finished()
    except BaseException as exc:  # Ctrl-C, SIGTERM, disk full: record where it stopped, keep the original error
        stopped = dict(done)
        stopped.update((i, _as_given(r, videos[i], outputs[i])) for i, r in _stopped_rows(d, done, exc).items())
        with contextlib.suppress(PosetrackError):
            write_summary(out_dir / "summary.json", rows + [stopped[i] for i in sorted(stopped)], videos)
        raise
    finally:
        progress.close()
        if pool is not None:
            pool.close()
        if started:
            ray.shutdown()
    results = rows + [done[i] for i in sorted(done)]
    write_summary(out_dir / "summary.json", results, videos)
    return results
