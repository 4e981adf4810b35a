"""Screenshots of reports' first screen in headless Chromium, for the README.

    .venv/bin/python scripts/screenshots.py RUN_DIR OUT.png [RUN_DIR OUT.png ...]

Renders each run directory's HTML report (``benchharness.report.render``) and photographs the
first 1280x900 pixels, the screen a reviewer sees on opening it. Needs playwright (the dev extra)
and Chromium (``apt-get install chromium``); it uses the system's, never downloads one.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from benchharness.report import render

VIEWPORT = {"width": 1280, "height": 900}


def screenshot(run_dir: Path, out: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        html = render([run_dir], Path(tmp) / "report.html")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(html.as_uri(), wait_until="load")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            browser.close()


def main(argv: list[str]) -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshots: no chromium on PATH (apt-get install chromium)", file=sys.stderr)
        return 2
    if not argv or len(argv) % 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    for run_dir, out in zip(argv[::2], argv[1::2]):
        screenshot(Path(run_dir), Path(out), chromium)
        print(f"{out}: first screen of {run_dir}'s report")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
