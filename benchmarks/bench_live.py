"""A live loopback stream of the bundled clip: latency (capture to the written ``.jsonl`` line) and memory.

ffmpeg (imageio-ffmpeg's binary) serves examples/vtest.avi as MPEG-TS over TCP on 127.0.0.1 at its real rate
(``-re``; ``--rate 25`` plays it 2.5x faster at 25 fps; ``--loop`` repeats it without end), and
``posetrack run tcp://127.0.0.1:PORT --duration SECONDS`` tracks it. Printed: frames processed and dropped, latency
p50/p95 over the run and over its first and last minute, and with ``--rss`` the resident memory of the posetrack
process sampled every 10 s (first and last sample, and the largest).

    python benchmarks/bench_live.py --preset realtime --rate 10 --seconds 120
    python benchmarks/bench_live.py --preset accurate --rate 10 --seconds 300
    python benchmarks/bench_live.py --preset realtime --loop --seconds 3600 --segment 600 --rss
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, load  # noqa: E402

from posetrack_cli.io.ffmpeg import ffmpeg_exe  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "examples" / "vtest.avi"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, rate: float, loop: bool) -> subprocess.Popen:
    """ffmpeg reading the 10 fps clip at ``rate / 10`` times its rate (``-readrate``; 1 is ``-re``) and stamping the
    frames ``rate`` fps apart: ``rate`` frames a second on the wire (``-re`` with the timestamps alone changed
    would still send 10)."""
    speed = ["-vf", f"setpts=PTS*10/{rate}", "-r", str(rate)] if rate != 10 else []
    return subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-readrate", f"{rate / 10:g}",
                             *(["-stream_loop", "-1"] if loop else []), "-i", str(CLIP), *speed, "-c:v", "mpeg2video",
                             "-q:v", "4", "-f", "mpegts", f"tcp://127.0.0.1:{port}?listen=1"])


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def read_frames(folder: Path) -> tuple[list[dict], list[dict]]:
    """Frame lines and end lines of every ``.jsonl`` in ``folder`` (segments in order)."""
    frames, ends = [], []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            obj = json.loads(line)
            (frames if obj["type"] == "frame" else ends if obj["type"] == "end" else []).append(obj)
    return frames, ends


def minute(frames: list[dict], first: bool) -> np.ndarray:
    t0, t1 = frames[0]["capture_time"], frames[-1]["capture_time"]
    keep = [f["latency_ms"] for f in frames if (f["capture_time"] < t0 + 60 if first else f["capture_time"] > t1 - 60)]
    return np.array(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="realtime")
    parser.add_argument("--rate", type=float, default=10.0, help="frames/s served (the clip is 10 fps)")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--segment", type=float, default=None)
    parser.add_argument("--loop", action="store_true", help="serve the clip again and again")
    parser.add_argument("--rss", action="store_true", help="sample the posetrack process's RSS every 10 s")
    args = parser.parse_args()
    print(describe())
    port = free_port()
    server = serve(port, args.rate, args.loop)
    time.sleep(0.5)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "live.json"
        cmd = [sys.executable, "-m", "posetrack_cli", "run", f"tcp://127.0.0.1:{port}", "--out", str(out),
               "--preset", args.preset, "--duration", str(args.seconds), "--offline", "-q"]
        run = subprocess.Popen(cmd + (["--segment", str(args.segment)] if args.segment else []),
                               stdout=subprocess.PIPE, text=True)
        samples = []
        while run.poll() is None:
            time.sleep(10)
            if args.rss and (mb := rss_mb(run.pid)) is not None:
                samples.append(mb)
                print(f"  rss {mb:7.1f} MB at {10 * len(samples)} s  ({load()})", flush=True)
        print(run.stdout.read().strip())
        server.kill()
        frames, ends = read_frames(Path(tmp))
    latency = np.array([f["latency_ms"] for f in frames])
    dropped = sum(e["dropped"] for e in ends)
    print(f"{args.preset} at {args.rate:g} fps for {args.seconds:g} s: {len(frames)} frames processed, {dropped} "
          f"dropped ({100 * dropped / max(dropped + len(frames), 1):.1f} %), {len(ends)} file(s)  ({load()})")
    print(f"latency ms: p50 {np.percentile(latency, 50):.0f} p95 {np.percentile(latency, 95):.0f} max "
          f"{latency.max():.0f}")
    first, last = minute(frames, True), minute(frames, False)
    print(f"first minute: p50 {np.percentile(first, 50):.0f} p95 {np.percentile(first, 95):.0f}; last minute: p50 "
          f"{np.percentile(last, 50):.0f} p95 {np.percentile(last, 95):.0f}")
    if samples:
        print(f"rss MB: first {samples[0]:.1f} last {samples[-1]:.1f} max {max(samples):.1f} (after the first "
              f"minute: min {min(samples[6:] or samples):.1f} max {max(samples[6:] or samples):.1f})")


if __name__ == "__main__":
    main()
