"""``--pose auto`` on first use: the default MSPN card's weights come from a loopback HTTP server (the
POSETRACK_WEIGHTS_URL mirror), resumed with a Range request, sha256-checked; offline or on a bad file the bundled
yolo-crop estimator runs and one line says why. The card is a test card (a 1-stage tiny MSPN) under the default
card's name, with the sha256 of the checkpoint made here."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import logging
import re
import threading

import pytest
import torch
from click.testing import CliRunner

from conftest import EXAMPLE_CLIP
from posetrack_cli import zoo
from posetrack_cli.cli import main
from posetrack_cli.io.download import partial_path
from posetrack_cli.nets.mspn import MSPN

pytestmark = [pytest.mark.allow_hosts(["127.0.0.1"]), pytest.mark.usefixtures("one_torch_thread")]

FILE = "tiny_mspn_coco.pth"
TINY = dict(num_blocks=[1, 1, 1, 1], unit_channels=16, base_channels=8)


class Server:
    """``http.server`` on 127.0.0.1 (port 0) in a thread, serving ``data`` as /FILE and recording each request's
    Range header; ``honour_range`` False answers every request with the whole file; ``cut_after`` bytes: the first
    answer stops there (a dropped connection)."""

    def __init__(self, data: bytes, honour_range: bool = True, cut_after: int | None = None) -> None:
        self.data, self.honour_range, self.cut_after = data, honour_range, cut_after
        self.ranges: list[str | None] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.ranges.append(self.headers.get("Range"))
                if self.path != f"/{FILE}":
                    self.send_error(404)
                    return
                found = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                start = int(found[1]) if found and server.honour_range else 0
                body = server.data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(server.data) - 1}/{len(server.data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = server.cut_after if len(server.ranges) == 1 else None
                self.wfile.write(body if cut is None else body[:cut])

            def log_message(self, *args) -> None:
                pass

        return Handler


def checkpoint() -> bytes:
    """A tiny 1-stage MSPN saved in MMPose 0.x's layout (``keypoint_head.*`` under ``state_dict``)."""
    torch.manual_seed(0)
    state = {k.replace("head.", "keypoint_head.", 1): v for k, v in MSPN(1, **TINY).state_dict().items()}
    buffer = io.BytesIO()
    torch.save({"state_dict": state, "meta": {"epoch": 1}}, buffer)
    return buffer.getvalue()


@pytest.fixture
def card(tmp_path, monkeypatch) -> bytes:
    """The checkpoint's bytes; a models folder whose default card describes it, an empty cache, online."""
    data = checkpoint()
    models = tmp_path / "models"
    models.mkdir()
    (models / f"{zoo.DEFAULT_CARD}.yaml").write_text(
        f"name: {zoo.DEFAULT_CARD}\nnetwork: mspn\nnetwork_args: {{num_stages: 1, num_blocks: [1, 1, 1, 1], "
        f"unit_channels: 16, base_channels: 8}}\ninput_size: [192, 256]\nskeleton: coco17\ncolor: rgb\n"
        f"mean: [123.675, 116.28, 103.53]\nstd: [58.395, 57.12, 57.375]\ncoco_ap: 0.5\n"
        f"weights: {{file: {FILE}, sha256: '{hashlib.sha256(data).hexdigest()}', layout: mmpose0, "
        f"url: 'https://download.openmmlab.com/{FILE}'}}\n")  # the mirror below replaces this URL
    monkeypatch.setattr(zoo, "models_dir", lambda: models)
    monkeypatch.setenv("POSETRACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("POSETRACK_OFFLINE", raising=False)
    return data


@contextlib.contextmanager
def serving(monkeypatch, data: bytes, **options):
    server = Server(data, **options)
    monkeypatch.setenv("POSETRACK_WEIGHTS_URL", server.url + "/")
    try:
        yield server
    finally:
        server.close()


def cache_files(tmp_path) -> list[str]:
    folder = tmp_path / "cache"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def run_two_frames(tmp_path, *extra: str):
    args = ["run", str(EXAMPLE_CLIP), "--out", str(tmp_path / "t.json"), "--max-frames", "2", "--detectors", "yolo",
            "--yolo-imgsz", "320", "--pose-runtime", "torch", *extra]
    return CliRunner().invoke(main, args)


def test_first_run_downloads_the_default_card_and_runs_it(tmp_path, monkeypatch, card):
    with serving(monkeypatch, card) as server:
        result = run_two_frames(tmp_path)  # with progress bars: the download's too
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "t.json").read_text())["models"]["pose"] == zoo.DEFAULT_CARD
    assert server.ranges == [None]
    assert cache_files(tmp_path) == [FILE] and (tmp_path / "cache" / FILE).read_bytes() == card


def test_an_interrupted_download_is_resumed_with_a_range_request(tmp_path, monkeypatch, card):
    dest = tmp_path / "cache" / FILE
    with serving(monkeypatch, card, cut_after=300_000) as server:
        first = zoo.choose_auto()
        kept = partial_path(dest).read_bytes()
        second = zoo.choose_auto()
    assert first.card is None and "yolo-crop" in first.note
    assert 0 < len(kept) <= 300_000 and card.startswith(kept)
    assert server.ranges == [None, f"bytes={len(kept)}-"]
    assert second.card.name == zoo.DEFAULT_CARD and hashlib.sha256(dest.read_bytes()).digest() == \
        hashlib.sha256(card).digest()
    assert cache_files(tmp_path) == [FILE]


def test_a_partial_file_is_discarded_when_the_server_ignores_range(tmp_path, monkeypatch, card):
    dest = tmp_path / "cache" / FILE
    dest.parent.mkdir()
    partial_path(dest).write_bytes(b"not the start of the file" * 1000)
    with serving(monkeypatch, card, honour_range=False) as server:
        choice = zoo.choose_auto()
    assert server.ranges == ["bytes=25000-"]  # asked for, answered with the whole file
    assert choice.card.name == zoo.DEFAULT_CARD and dest.read_bytes() == card
    assert cache_files(tmp_path) == [FILE]


def test_a_sha256_mismatch_saves_nothing_and_falls_back(tmp_path, monkeypatch, card):
    with serving(monkeypatch, card[:-1] + bytes([card[-1] ^ 0xFF])) as server:  # one bit flipped
        choice = zoo.choose_auto()
    assert server.ranges == [None] and choice.card is None
    assert f"expected {hashlib.sha256(card).hexdigest()}" in choice.note and "yolo-crop" in choice.note
    assert f"posetrack weights fetch {zoo.DEFAULT_CARD}" in choice.note and "--pose-weights" in choice.note
    assert cache_files(tmp_path) == []


def test_an_unreachable_server_falls_back(tmp_path, monkeypatch, card):
    with serving(monkeypatch, card):
        pass  # closed: nothing listens on its port any more
    choice = zoo.choose_auto()
    assert choice.card is None and "connection refused" in choice.note and "yolo-crop" in choice.note
    assert cache_files(tmp_path) == []


def test_offline_flag_sends_no_request_and_says_so_once(tmp_path, monkeypatch, card, caplog):
    with serving(monkeypatch, card) as server, caplog.at_level(logging.WARNING, logger="posetrack_cli"):
        result = run_two_frames(tmp_path, "--offline", "-q")
    assert result.exit_code == 0, result.output
    assert server.ranges == []
    [line] = [r.getMessage() for r in caplog.records if "yolo-crop" in r.getMessage()]
    assert line.startswith("offline") and f"posetrack weights fetch {zoo.DEFAULT_CARD}" in line
    assert json.loads((tmp_path / "t.json").read_text())["models"]["pose"] == "yolo-crop"


def test_offline_environment_sends_no_request(tmp_path, monkeypatch, card):
    monkeypatch.setenv("POSETRACK_OFFLINE", "1")
    with serving(monkeypatch, card) as server:
        choice = zoo.choose_auto()
    assert server.ranges == [] and choice.card is None and "POSETRACK_OFFLINE" in choice.note


def test_a_yolo_asset_name_is_refused_offline_in_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("POSETRACK_OFFLINE", raising=False)
    result = CliRunner().invoke(main, ["run", str(EXAMPLE_CLIP), "--out", str(tmp_path / "t.json"), "--detectors",
                                       "yolo", "--yolo-weights", "yolo11x.pt", "--offline", "-q"])
    assert result.exit_code == 3
    [line] = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("error: YOLO weights yolo11x.pt are neither a file nor in") and "offline" in line
