"""The README's screenshots of a report page, taken in headless Chromium (Debian's package, driven by Playwright):
the player at a chosen frame with one track followed, and the timeline, plots and contact sheet below it.

    posetrack run examples/vtest.avi --out runs/vtest.json --report --profile
    python tools/report_screenshots.py runs/vtest.html --frame 236 --track 2 --out docs/

Writes ``report.png`` and ``report-tracks.png`` in ``--out``.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

# The flags Debian's chromium needs on a machine with a closed network (see tests/report/test_browser.py).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("page", type=Path, help="a report page (posetrack report / run --report)")
    parser.add_argument("--frame", type=int, default=0, help="the frame (row) the player shows")
    parser.add_argument("--track", type=int, default=None, help="the track id to follow (click its timeline row)")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise SystemExit("no chromium binary: apt-get install chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 940})
        page.goto(args.page.resolve().as_uri())
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=30_000)
        if args.track is not None:
            page.click(f".tl-row[data-track='{args.track}']")
        page.evaluate(f"(() => {{ const s = document.getElementById('scrub'); s.value = {args.frame}; "
                      "s.dispatchEvent(new Event('input')); })()")
        page.wait_for_function(f"document.body.dataset.drawnRow === '{args.frame}' && !video.seeking "
                               "&& video.readyState >= 2", timeout=10_000)
        page.evaluate("window.scrollTo(0, 0)")  # clicking a timeline row scrolled to the player
        page.wait_for_timeout(300)  # the compositor presents the decoded frame
        args.out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out / "report.png"))
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.evaluate("window.scrollTo(0, document.getElementById('timeline').getBoundingClientRect().top - 60)")
        page.screenshot(path=str(args.out / "report-tracks.png"))
        browser.close()
    print(f"wrote {args.out / 'report.png'} and {args.out / 'report-tracks.png'}")


if __name__ == "__main__":
    main()
