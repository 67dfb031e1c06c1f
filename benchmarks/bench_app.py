"""How fast the app answers in a real browser: a fresh server's first visit, later visits, model switches,
and several sessions opening the page at once.

Each round starts `creditlens app` on a free port and, once it answers its health check, drives Debian's
headless Chromium (Playwright):

- server start: seconds from `creditlens app` until its health check answers (it imports, loads the bundled
  models and explains their first samples first);
- first visit: seconds from the page request until the title and the model picker show, and until the first
  credit figure has loaded (the default model's explanation of the first sample);
- model switches: picking the text model until its coloured words show, then the image model again until its
  figure shows;
- later visit: a new browser session on the same server, to its first figure;
- under load: `--sessions` new browser sessions requested at once (after the visits above), each timed to
  its first figure; and the same for a baseline Streamlit page holding only a title, a picker and an image,
  which shows what any Streamlit page costs with the browser on the same cores.

Page timings are taken inside each page (`performance.now()`, from the page's request), so sessions that load
at once are timed independently of the order this script looks at them.

Usage:
    python benchmarks/bench_app.py [--rounds 3] [--sessions 8] [--screenshot docs/app.png]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
# A credit figure; the user's image and what the model saw, above the prediction, have captions.
FIGURE = "[data-testid=stImage]:not(:has([data-testid=stImageCaption])) img"
WORDS = "[data-testid=stHtml] span.token"
IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
TIMEOUT_MS = 180_000
# Marks, in milliseconds since the page's request, when the title and model picker show and when the first
# figure has loaded.
MARK_TIMES = """(() => {
  const mark = () => {
    if (!window.__contentAt && document.querySelector("h1")
        && document.querySelector("input[aria-label='Zoo model']")) window.__contentAt = performance.now();
    const img = document.querySelector("FIGURE");
    if (!window.__figureAt && img && img.complete && img.naturalWidth > 0) window.__figureAt = performance.now();
    if (!window.__figureAt) setTimeout(mark, 20);
  };
  mark();
})();""".replace("FIGURE", FIGURE)


# The baseline: a Streamlit page with only a title, a model picker and an image, served with the same
# options, so the sessions-at-once figure can be read against what any Streamlit page costs here.
MINIMAL_PAGE = """import numpy as np
import streamlit as st

st.title("creditlens")
st.selectbox("Zoo model", ["fashion-mnist-vit", "rotten-tomatoes-minilm"])
st.image(np.full((280, 280), 128, dtype=np.uint8))
"""


def start_server(minimal: bool = False) -> tuple[subprocess.Popen, str]:
    """`creditlens app` (or, `minimal`, the baseline page) on a free port, once it answers its health check."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "creditlens.app.cli", "app", "--port", str(port)]
    if minimal:
        from creditlens.app.commands_app import app_command

        script = Path(tempfile.mkdtemp()) / "minimal_page.py"
        script.write_text(MINIMAL_PAGE)
        # The app's own Streamlit options, with `streamlit run` on the baseline script instead of `serve`.
        command = [sys.executable, "-m", "streamlit", "run", str(script), *app_command("127.0.0.1", port)[3:]]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir()
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return process, url
        except OSError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"the app did not answer {url} within 120 s")


def open_page(browser, url: str):
    """A new browser session requesting the app: (context, page)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    context.add_init_script(MARK_TIMES)
    page = context.new_page()
    page.goto(url, wait_until="commit")
    return context, page


def marks(page) -> tuple[float, float]:
    """(seconds to the title and model picker, seconds to the first figure) since the page's request."""
    page.wait_for_function("() => window.__figureAt", timeout=TIMEOUT_MS)
    content, figure = page.evaluate("() => [window.__contentAt, window.__figureAt]")
    return content / 1000, figure / 1000


def at_once(browser, url: str, sessions: int) -> list[float]:
    """Seconds to the first figure of each of `sessions` browser sessions requested at once."""
    opened = [open_page(browser, url) for _ in range(sessions)]
    seconds = [marks(page)[1] for _, page in opened]
    for context, _ in opened:
        context.close()
    return seconds


def switch_model(page, name: str, ready: str) -> float:
    """Seconds from picking model `name` until `ready` (a script returning true) holds."""
    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
    page.get_by_role("combobox", name="Zoo model").click()
    option = page.locator("[role=option]", has_text=name)
    option.wait_for(timeout=TIMEOUT_MS)
    start = time.perf_counter()
    option.click()
    page.wait_for_function(ready, timeout=TIMEOUT_MS)
    return time.perf_counter() - start


WORDS_SHOWN = f"() => !!document.querySelector('{WORDS}')"
FIGURE_SHOWN = (
    f"() => !document.querySelector('{WORDS}') && document.querySelector('{FIGURE}')?.complete === true"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers to time (default 3)")
    parser.add_argument("--sessions", type=int, default=8, help="simultaneous sessions (default 8)")
    parser.add_argument("--screenshot", help="save the first visit's page (1400 x 1200) as this PNG")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {}

    def add(name: str, *values: float) -> None:
        results.setdefault(name, []).extend(values)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for round_ in range(args.rounds):
            started = time.perf_counter()
            process, url = start_server()
            add("server start: until it answers", time.perf_counter() - started)
            try:
                context, page = open_page(browser, url)
                content, figure = marks(page)
                add("first visit: title and model picker", content)
                add("first visit: first explanation", figure)
                if args.screenshot and round_ == 0:
                    page.wait_for_selector(IDLE, timeout=TIMEOUT_MS)
                    page.screenshot(path=args.screenshot)
                add(
                    "first switch to the text model",
                    switch_model(page, "rotten-tomatoes-minilm", WORDS_SHOWN),
                )
                add("switch back to the image model", switch_model(page, "fashion-mnist-vit", FIGURE_SHOWN))
                add(
                    "later switch to the text model",
                    switch_model(page, "rotten-tomatoes-minilm", WORDS_SHOWN),
                )
                context.close()
                context, page = open_page(browser, url)
                add("later visit: first explanation", marks(page)[1])
                context.close()
                if args.sessions:
                    add(
                        f"{args.sessions} sessions at once: each one's first figure",
                        *at_once(browser, url, args.sessions),
                    )
            finally:
                process.terminate()
                process.wait(timeout=30)
            if args.sessions:
                process, url = start_server(minimal=True)
                try:
                    context, page = open_page(browser, url)  # one warm session first, as above
                    marks(page)
                    context.close()
                    add(
                        f"baseline page, {args.sessions} sessions at once: each one's image",
                        *at_once(browser, url, args.sessions),
                    )
                finally:
                    process.terminate()
                    process.wait(timeout=30)
        browser.close()
    print(f"creditlens app in headless Chromium ({os.cpu_count()} CPUs), {args.rounds} fresh servers")
    for name, values in results.items():
        print(f"{name:48s} median {np.median(values):5.2f} s, max {max(values):5.2f} s  (n = {len(values)})")


if __name__ == "__main__":
    main()
