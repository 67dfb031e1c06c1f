"""How fast the app answers in a real browser: a fresh server's first visit, later visits, a model switch,
and several sessions opening the page at once.

Each round starts `creditlens app` on a free port and drives Debian's headless Chromium (Playwright):

- first visit: seconds from the page request until the title and the model picker show, and until the first
  figure has loaded (the default model's explanation of the first sample);
- later visit: a new browser session on the same server, to its first figure;
- model switch: picking the text model until its coloured tokens show, then the image model again until its
  figure shows;
- under load: `--sessions` new browser sessions opened at once (after one warm session), each timed to its
  first figure.

Usage:
    python benchmarks/bench_app.py [--rounds 3] [--sessions 8]
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

import numpy as np

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
CONTENT = "h1:has-text('creditlens')"
PICKER = "[data-testid=stSelectbox] input[aria-label='Zoo model']"
FIGURE = "[data-testid=stImage] img"
TOKENS = "[data-testid=stHtml] span.token"
TIMEOUT_MS = 180_000
LOADED_FIGURE = (
    "() => { const img = document.querySelector('[data-testid=stImage] img');"
    " return img && img.complete && img.naturalWidth > 0; }"
)


def start_server() -> tuple[subprocess.Popen, str]:
    """`creditlens app` on a free port, once it answers its health check."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "creditlens.app.cli", "app", "--port", str(port)]
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


def loaded_figure(page) -> None:
    page.wait_for_function(LOADED_FIGURE, timeout=TIMEOUT_MS)


def visit(browser, url: str) -> tuple[float, float, object]:
    """(seconds to the page content, seconds to the first figure, the open context)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(CONTENT, timeout=TIMEOUT_MS)
    page.wait_for_selector(PICKER, timeout=TIMEOUT_MS)
    content = time.perf_counter() - start
    loaded_figure(page)
    return content, time.perf_counter() - start, context


def switch_model(page, name: str, ready: str) -> float:
    page.get_by_role("combobox", name="Zoo model").click()
    option = page.locator("[role=option]", has_text=name)
    option.wait_for(timeout=TIMEOUT_MS)
    start = time.perf_counter()
    option.click()
    if ready == FIGURE:
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=stHtml] span.token')"
            " && document.querySelector('[data-testid=stImage] img')?.complete",
            timeout=TIMEOUT_MS,
        )
    else:
        page.wait_for_selector(ready, timeout=TIMEOUT_MS)
    return time.perf_counter() - start


def under_load(url: str, sessions: int) -> list[float]:
    """Seconds to the first figure for each of `sessions` browser sessions (one browser) opened at once."""
    import asyncio

    from playwright.async_api import async_playwright

    async def one(browser) -> float:
        context = await browser.new_context(viewport={"width": 1400, "height": 1200})
        page = await context.new_page()
        start = time.perf_counter()
        await page.goto(url)
        await page.wait_for_function(LOADED_FIGURE, timeout=TIMEOUT_MS)
        seconds = time.perf_counter() - start
        if await page.locator("[data-testid=stException]").count():
            raise RuntimeError("an exception on the page")
        await context.close()
        return seconds

    async def all_at_once() -> list[float]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            await one(browser)  # one warm session first
            seconds = await asyncio.gather(*(one(browser) for _ in range(sessions)))
            await browser.close()
            return list(seconds)

    return asyncio.run(all_at_once())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers to time (default 3)")
    parser.add_argument("--sessions", type=int, default=8, help="simultaneous sessions (default 8)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from playwright.sync_api import sync_playwright

    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        process, url = start_server()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                content, figure, context = visit(browser, url)
                results.setdefault("first visit: page content", []).append(content)
                results.setdefault("first visit: first explanation", []).append(figure)
                page = context.pages[0]
                results.setdefault("first switch to the text model", []).append(
                    switch_model(page, "rotten-tomatoes-minilm", TOKENS)
                )
                results.setdefault("switch back to the image model", []).append(
                    switch_model(page, "fashion-mnist-vit", FIGURE)
                )
                context.close()
                _, later, context = visit(browser, url)
                results.setdefault("later visit: first explanation", []).append(later)
                context.close()
                browser.close()
            if args.sessions:
                loaded = under_load(url, args.sessions)
                results.setdefault(f"{args.sessions} sessions at once: each's first figure", []).extend(
                    loaded
                )
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"creditlens app in headless Chromium ({os.cpu_count()} CPUs), {args.rounds} fresh servers")
    for name, values in results.items():
        print(f"{name:45s} median {np.median(values):5.2f} s, max {max(values):5.2f} s")


if __name__ == "__main__":
    main()
