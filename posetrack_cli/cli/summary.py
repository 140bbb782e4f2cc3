"""The table printed at the end of a run: one row per video, notes indented below it, totals."""

from __future__ import annotations

from posetrack_cli.pipeline import VideoResult
from posetrack_cli.runs.policy import STATUSES


def _forward_line(r: VideoResult) -> str:
    """Network forwards against everything else (decoding, crops, NMS, flow, tracking, writing) in the run."""
    forward = min(r.forward_seconds, r.seconds)
    share = 100 * forward / r.seconds if r.seconds else 0.0
    return (f"{'':13s}network forward {share:.1f} % / overhead {100 - share:.1f} % of {r.seconds:.1f} s "
            "(decode/write: time waited for the reader/writer threads)")


def format_summary(results: list[VideoResult], profile: bool = False) -> list[str]:
    """The run as a table (one row per video, notes indented below it, totals when there are several)."""
    lines = [f"{'status':11s} {'frames':>7s} {'people':>7s} {'tracks':>6s} {'seconds':>8s} {'fps':>6s}  video"]
    for r in results:
        fps = f"{r.frames / r.seconds:6.2f}" if r.frames and r.seconds else f"{'-':>6s}"
        target = f" -> {r.output}" if r.status == "done" else ""
        lines.append(f"{r.status:11s} {r.frames:7d} {r.people:7d} {r.tracks:6d} {r.seconds:8.1f} {fps}  "
                     f"{r.video}{target}")
        lines += [f"{'':13s}{note}" for note in (r.warning, r.error) if note]
        if profile and r.profile:
            total = sum(r.profile.values()) or 1.0
            lines += [f"{'':13s}{stage:7s} {sec:8.2f} s {100 * sec / total:5.1f} %"
                      for stage, sec in sorted(r.profile.items(), key=lambda kv: -kv[1])]
            lines.append(_forward_line(r))
    if len(results) > 1:
        counts = ", ".join(f"{n} {s}" for s in STATUSES if (n := sum(r.status == s for r in results)))
        lines.append(f"{'total':11s} {sum(r.frames for r in results):7d} {sum(r.people for r in results):7d} "
                     f"{sum(r.tracks for r in results):6d} {sum(r.seconds for r in results):8.1f} {'':6s}  "
                     f"{len(results)} videos: {counts}")
    return lines
