"""Regenerates the README's screenshot: serves the Space (app.py) on 127.0.0.1, types a review into the page in
headless Chromium (Debian's package at /usr/bin/chromium, driven by Playwright), submits it and saves the page.

    python spaces/ckb-demo/screenshot.py --bundle ckb-quickstart
"""

from __future__ import annotations

import os
import tempfile

from app import EXAMPLES, argument_parser, serve_locally

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright, user_data_dir: str, executable_path: str = "/usr/bin/chromium"):
    """A headless Chromium context from Debian's package (Playwright's own browser download is not used)."""
    return playwright.chromium.launch_persistent_context(
        user_data_dir, executable_path=executable_path, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900})


def classify_in_page(page, text: str, timeout_ms: int = 60_000) -> None:
    """Types `text` into the page's review box, presses Classify and waits for the table and the attention plot."""
    page.locator("#review textarea").fill(text)
    page.locator("#classify").click()
    page.locator("#probabilities table").wait_for(timeout=timeout_ms)
    page.locator("#attention img").first.wait_for(timeout=timeout_ms)


def take_screenshot(bundle_path: str | None, out: str, text: str = EXAMPLES[0], port: int = 0) -> str:
    """Launches the app on 127.0.0.1, types `text`, submits and saves a full-page screenshot to `out`."""
    from playwright.sync_api import sync_playwright

    with serve_locally(bundle_path, port) as url, tempfile.TemporaryDirectory() as profile, \
            sync_playwright() as p:
        context = launch_chromium(p, profile)
        try:
            page = context.new_page()
            page.goto(url, wait_until="networkidle")
            classify_in_page(page, text)
            page.wait_for_timeout(500)  # let the page settle before the shot
            page.screenshot(path=out, full_page=True)
        finally:
            context.close()
    return out


def main(argv=None):
    parser = argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(HERE, "screenshot.png"), metavar="PNG",
                        help="where to save the screenshot (default: screenshot.png next to this script)")
    parser.add_argument("--text", default=EXAMPLES[0], help="the review typed in")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    args = parser.parse_args(argv)
    print(take_screenshot(args.bundle, args.out, args.text, args.port))


if __name__ == "__main__":
    main()
