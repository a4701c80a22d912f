"""Page figures in the real browser: app start, and Enter to the first result card."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from passage_search.bench.common import REPO, free_port, percentiles, stop

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# Timestamps taken inside the page, so Playwright's polling interval is not part of the figure: the
# Enter keydown, then the first moment a result card for this question is in the DOM.
_ARM = """(marker) => {
  window.__t0 = null; window.__t1 = null;
  const box = document.querySelector('input[aria-label="Your question"]');
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter') window.__t0 = performance.now(); }, {once: true});
  const seen = () => document.body.innerText.includes(marker) && document.body.innerText.includes('Source:');
  const obs = new MutationObserver(() => {
    if (window.__t0 !== null && window.__t1 === null && seen()) { window.__t1 = performance.now(); obs.disconnect(); }
  });
  obs.observe(document.body, {childList: true, subtree: true, characterData: true});
}"""


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Poll Streamlit's health endpoint until it answers "ok"; fail if the server exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not healthy after {timeout} s")


@contextmanager
def streamlit_server(
    index: Path, *, log: IO[str] | None = None, env: dict[str, str] | None = None
) -> Iterator[str]:
    """The page served on a free port of 127.0.0.1 for ``index``: yields its URL once healthy, then stops it.

    ``env``: more environment variables for the page (e.g. PASSAGE_SEARCH_FEEDBACK).
    """
    port = free_port()
    env = {**os.environ, **(env or {}), "PASSAGE_SEARCH_INDEX": str(index)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(REPO / "search_app.py"), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true"],
        cwd=REPO, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)


def run_page(index: Path, questions: list[str], *, runs: int = 20) -> dict[str, Any]:
    """Start the page on ``index``; time start-up, then ``runs`` questions typed and sent with Enter."""
    if not CHROMIUM.exists():
        return {"skipped": f"{CHROMIUM} is missing (apt-get install chromium)"}
    from playwright.sync_api import expect, sync_playwright

    started = time.perf_counter()
    with streamlit_server(index) as url:
        healthy_s = time.perf_counter() - started
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(url)
                box = page.get_by_label("Your question")
                expect(box).to_be_visible(timeout=180_000)
                ready_s = time.perf_counter() - started
                times = []
                for i in range(runs):
                    question = f"{questions[i % len(questions)]} ({i})"
                    marker = f"({i})”"
                    box.fill(question)
                    page.evaluate(_ARM, marker)
                    box.press("Enter")
                    page.wait_for_function("window.__t1 !== null", timeout=60_000)
                    times.append(page.evaluate("window.__t1 - window.__t0"))
            finally:
                browser.close()
    return {
        "start_to_healthy_s": round(healthy_s, 2),
        "start_to_ready_s": round(ready_s, 2),
        "enter_to_first_card_ms": {**percentiles(times), "runs": runs},
    }
