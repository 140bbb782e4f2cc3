"""The report of the bundled clip in a real browser (headless Chromium from file://): it loads without console
errors, plays the clip's H.264 proxy in step with the data, draws each skeleton in its track's colour at its
keypoints and nowhere else, and a click on a track's row seeks the video to the track's first frame; a folder
run's index links resolve; ``run --report`` on the bundled clip writes a page that loads without errors. One
browser serves every test (Chromium starts in about a second; these tests take seconds)."""

from __future__ import annotations

import base64
import json
import os
import shutil

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_CLIP
from playwright.sync_api import sync_playwright
from scene import FPS, LOW_KEYPOINT, SEEN, WIDTH, box_of, folder_run, keypoints_of, tracks_doc, write_scene

from posetrack_cli.cli import main
from posetrack_cli.records import COCO17
from posetrack_cli.report import write_report
from posetrack_cli.report.page import PALETTE

THUMB = (192, 144)  # frames are compared at this size

# Without the background-networking flags Chromium keeps trying to reach its services, which a closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_binary() -> str | None:
    return os.environ.get("POSETRACK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (apt-get install chromium, or set POSETRACK_CHROMIUM)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page and every console message and uncaught error it produced."""

    def __init__(self, browser, width: int = 1400, height: int = 1000) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def open_report(self, path) -> None:
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function("document.body.dataset.ready === '1'", timeout=20_000)


@pytest.fixture
def new_page(browser):
    pages = []

    def make(**kwargs) -> Page:
        pages.append(Page(browser, **kwargs))
        return pages[-1]

    yield make
    for page in pages:
        page.page.close()


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def scene_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene_report")
    return write_report(write_scene(folder / "scene.json"), folder / "scene.html")


@pytest.fixture(scope="module")
def clip_thumbs():
    """The clip's first 30 frames as OpenCV decodes them, RGB at THUMB size."""
    cap = cv2.VideoCapture(str(EXAMPLE_CLIP))
    thumbs = [cv2.cvtColor(cv2.resize(cap.read()[1], THUMB, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
              for _ in range(30)]
    cap.release()
    return np.array(thumbs, np.float32)


def shown_thumb(page) -> np.ndarray:
    """The video frame the browser shows now (a screenshot of the player without the drawing), RGB at THUMB size.
    A screenshot, because a page from file:// may not read a video's pixels back."""
    page.evaluate("document.getElementById('overlay').style.visibility = 'hidden'")
    png = page.locator("#video").screenshot()
    page.evaluate("document.getElementById('overlay').style.visibility = ''")
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(cv2.resize(image, THUMB, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB).astype(np.float32)


def wait_for_frame(page, row: int) -> None:
    page.wait_for_function(f"""document.body.dataset.drawnRow === '{row}' && !video.seeking
        && video.readyState >= 2""", timeout=10_000)
    page.wait_for_timeout(150)  # the compositor presents the decoded frame


def overlay_pixels(page) -> np.ndarray:
    """The drawing canvas as (H, W, 4) RGBA, read through a lossless PNG."""
    url = page.evaluate("document.getElementById('overlay').toDataURL('image/png')")
    image = cv2.imdecode(np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)


def hex_rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])


def test_proxy_is_made_for_the_ms_mpeg4_clip(scene_report):
    assert scene_report.video_src.endswith("scene.proxy.mp4")
    assert scene_report.path.with_name("scene.proxy.mp4").stat().st_size > 100_000


def test_loads_without_console_errors_and_plays_h264(new_page, scene_report):
    tab = new_page()
    tab.open_report(scene_report.path)
    tab.page.wait_for_function("video.readyState >= 2", timeout=10_000)
    facts = tab.page.evaluate("[video.videoWidth, video.videoHeight, video.canPlayType('video/mp4; "
                              "codecs=\"avc1.64001f\"'), report.frames.time.length]")
    assert facts == [768, 576, "probably", 30]
    assert tab.page.locator(".tl-row").count() == len(SEEN)
    assert tab.page.locator(".person img").count() == len(SEEN)  # a crop of every track
    assert tab.errors == []


def test_skeleton_colour_at_keypoints_and_nowhere_else(new_page, scene_report):
    tab = new_page()
    tab.open_report(scene_report.path)
    tab.page.uncheck("#show-boxes")
    tab.page.uncheck("#show-ids")
    row = 8  # #1 and #3 are in the frame
    tab.page.evaluate(f"report.seekRow({row})")
    wait_for_frame(tab.page, row)
    pixels = overlay_pixels(tab.page)
    drawn = []
    for track in (1, 3):
        colour = hex_rgb(PALETTE[(track - 1) % len(PALETTE)])
        points = np.array(keypoints_of(box_of(track, row)))
        for j, (x, y, _) in enumerate(points):
            rgba = pixels[int(y), int(x)]
            if j == LOW_KEYPOINT:  # below the 0.3 threshold: not drawn, nor its links
                assert rgba[3] == 0, (track, j, rgba)
                continue
            assert rgba[3] == 255 and np.abs(rgba[:3].astype(int) - colour).max() <= 2, (track, j, rgba)
            drawn.append((x, y))
        drawn += [(points[a], points[b]) for a, b in COCO17.links if LOW_KEYPOINT not in (a, b)]
    far = far_from(drawn, margin=10)
    assert far.sum() > 100_000 and (pixels[..., 3][far] == 0).all()  # nothing drawn away from the skeletons
    assert tab.errors == []


def far_from(drawn, margin: int) -> np.ndarray:
    """Pixels further than about ``margin`` from every keypoint (x, y) and link ((x, y, s), (x, y, s)) in
    ``drawn`` (the near ones painted with OpenCV)."""
    near = np.zeros((576, WIDTH), np.uint8)
    for item in drawn:
        if isinstance(item[0], np.ndarray):
            a, b = (tuple(round(float(v)) for v in point[:2]) for point in item)
            cv2.line(near, a, b, 255, thickness=2 * margin + 1)
        else:
            cv2.circle(near, (round(float(item[0])), round(float(item[1]))), margin, 255, -1)
    return near == 0


def test_threshold_slider_hides_keypoints(new_page, scene_report):
    tab = new_page()
    tab.open_report(scene_report.path)
    tab.page.evaluate("report.seekRow(8)")
    wait_for_frame(tab.page, 8)
    assert overlay_pixels(tab.page)[..., 3].any()
    tab.page.fill("#threshold", "0.95")  # above every keypoint's 0.9: no skeleton; boxes and ids stay
    tab.page.uncheck("#show-boxes")
    tab.page.uncheck("#show-ids")
    assert not overlay_pixels(tab.page)[..., 3].any()


def test_track_row_click_seeks_to_its_first_frame(new_page, scene_report, clip_thumbs):
    tab = new_page()
    tab.open_report(scene_report.path)
    first = min(SEEN[2])
    tab.page.click('.tl-row[data-track="2"] .tl-label')
    wait_for_frame(tab.page, first)
    now = tab.page.evaluate("video.currentTime")
    assert first / FPS <= now < (first + 0.5) / FPS
    assert tab.page.evaluate("report.state.highlight") == 2
    assert tab.page.locator('.tl-row.on').get_attribute("data-track") == "2"
    shown = shown_thumb(tab.page)
    errors = [np.abs(shown - clip_thumbs[k]).mean() for k in range(len(clip_thumbs))]
    assert int(np.argmin(errors)) == first and errors[first] < 6, errors  # that frame decoded, not a neighbour
    assert tab.errors == []


def test_flag_click_seeks_and_follows(new_page, scene_report):
    tab = new_page()
    tab.open_report(scene_report.path)
    tab.page.click('#flags .flag[data-track="4"]')  # the short track
    wait_for_frame(tab.page, min(SEEN[4]))
    assert tab.page.evaluate("report.state.highlight") == 4
    assert tab.page.locator("#flags .flag").count() == 4  # one of each kind in the scene


def test_folder_index_links_resolve(tmp_path, new_page):
    out = folder_run(tmp_path)
    result = invoke("report", out, "--out", tmp_path / "report", "--no-video")
    assert result.exit_code == 0, result.output
    index = tmp_path / "report" / "index.html"
    assert (tmp_path / "report" / "a.html").is_file() and (tmp_path / "report" / "sub" / "b.html").is_file()
    tab = new_page()
    tab.page.goto(index.as_uri())
    links = tab.page.locator("table.summary a")
    assert links.count() == 2 and "empty file (0 bytes)" in tab.page.locator("tr.st-failed").inner_text()
    for name in ("in/a.avi", "in/sub/b.avi"):
        tab.page.goto(index.as_uri())
        tab.page.click(f"text={name}")
        tab.page.wait_for_function("document.body.dataset.ready === '1'", timeout=20_000)
        assert tab.page.evaluate("report.frames.time.length") == 30
    assert tab.errors == []


def test_run_with_report_on_the_bundled_clip(tmp_path, new_page):
    out = tmp_path / "clip.json"
    result = invoke("run", EXAMPLE_CLIP, "--out", out, "--max-frames", 8, "-q", "--pose", "yolo-crop",
                    "--detectors", "ssdlite", "--report")
    assert result.exit_code == 0, result.output
    page = tmp_path / "clip.html"
    assert f"wrote {page}" in result.output and "plays clip.proxy.mp4" in result.output
    tab = new_page()
    tab.open_report(page)
    tab.page.wait_for_function("video.readyState >= 2", timeout=10_000)
    facts = tab.page.evaluate("[report.frames.time.length, document.querySelectorAll('#timings .bar').length]")
    assert facts[0] == 8 and facts[1] >= 3  # decode, detect, pose, ... timed by the run
    assert tab.errors == []


def test_image_sequence_plays_as_an_h264_video(tmp_path, new_page, clip_frames):
    """A run on a folder of frames: the page plays an H.264 video made of the images, frame k at k / fps."""
    folder = tmp_path / "seq"
    folder.mkdir()
    names = [f"{k:06d}.jpg" for k in range(len(clip_frames))]
    for name, image in zip(names, clip_frames):
        cv2.imwrite(str(folder / name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    doc = tracks_doc(video=str(folder))
    doc["video"].update(kind="frames", frame_count=len(names))
    doc["frames"] = [dict(frame, name=name) for frame, name in zip(doc["frames"], names)]
    (tmp_path / "seq.json").write_text(json.dumps(doc))
    result = write_report(tmp_path / "seq.json", tmp_path / "seq.html")
    assert result.video_src == "seq.proxy.mp4"
    tab = new_page()
    tab.open_report(result.path)
    tab.page.evaluate("report.seekRow(5)")
    wait_for_frame(tab.page, 5)
    thumbs = [cv2.cvtColor(cv2.resize(f, THUMB, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB) for f in clip_frames]
    errors = [np.abs(shown_thumb(tab.page) - t.astype(np.float32)).mean() for t in thumbs]
    assert int(np.argmin(errors)) == 5 and errors[5] < 6, errors
    assert tab.errors == []
