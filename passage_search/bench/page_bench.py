"""Page figures in the real browser: start to healthy, a cold shared link, Enter to the first result card."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from passage_search.bench.common import REPO, free_port, percentiles, ratio, stop
from passage_search.bench.common import questions as question_set
from passage_search.errors import PassageSearchError
from passage_search.search.confidence import LABELS, NONE

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
# Enter keydown (or, for a shared link, the page's navigation start), then the first moment this question's
# result is drawn: its caption (which quotes the question, marked with a unique suffix) followed by a result
# card ("Source: ...") or, when nothing answers, the message saying so. Only this run's elements count:
# Streamlit keeps the previous run's on screen, marked data-stale, until each is replaced. textContent, not
# innerText, so that watching forces no layout on each of the page's many mutations.
_DRAWN = """(marker) => {
  if (!document.body || !document.body.textContent.includes(marker)) return false;
  let asked = false;
  for (const el of document.querySelectorAll('[data-testid="stElementContainer"][data-stale="false"]')) {
    const text = el.textContent;
    if (text.includes(marker)) asked = true;
    else if (asked && (text.includes('Source:') || text.includes(NOTHING))) return true;
  }
  return false;
}""".replace("NOTHING", json.dumps(LABELS[NONE]))
_ARM = """(marker) => {
  window.__t0 = null; window.__t1 = null;
  const drawn = DRAWN;
  const box = document.querySelector('input[aria-label="Your question"]');
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter') window.__t0 = performance.now(); }, {once: true});
  const obs = new MutationObserver(() => {
    if (window.__t0 !== null && window.__t1 === null && drawn(marker)) {
      window.__t1 = performance.now(); obs.disconnect();
    }
  });
  obs.observe(document.body, {childList: true, subtree: true, characterData: true, attributeFilter: ['data-stale']});
}""".replace("DRAWN", _DRAWN)
# The same watch, installed before a shared link's page loads.
_WATCH = """window.__t1 = null;
new MutationObserver((_, obs) => {
  if (window.__t1 === null && (DRAWN)(MARKER)) { window.__t1 = performance.now(); obs.disconnect(); }
}).observe(document, {childList: true, subtree: true, characterData: true, attributeFilter: ['data-stale']});"""
_WATCH = _WATCH.replace("DRAWN", _DRAWN)

# The baseline for Enter -> first card: the same search behind the smallest page a newcomer would write.
_BASELINE_PAGE = """import os

import streamlit as st

from passage_search.search.searcher import Searcher


@st.cache_resource
def searcher() -> Searcher:
    return Searcher(os.environ["PASSAGE_SEARCH_INDEX"])


question = st.text_input("Your question")
if question:
    result = searcher().search(question, k=5)
    st.caption(f"Searched “{question}”")
    for hit in result:
        with st.container(border=True):
            st.markdown(f"**{hit.rank}.** {hit.passage.breadcrumb}")
            st.markdown(hit.passage.text)
            st.caption(f"Source: {hit.passage.source_line}")
"""


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    """Poll Streamlit's health endpoint until it answers "ok"; fail if the server exits first.

    ``timeout`` is only an upper bound: the launcher loads the index and warms the model before the server
    answers, which took up to a minute for MedQuAD with both cores busy.
    """
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
        time.sleep(0.02)
    raise RuntimeError(f"{url} not healthy after {timeout} s")


@contextmanager
def streamlit_server(
    index: Path, *, log: IO[str] | None = None, env: dict[str, str] | None = None, warm: bool = True,
    pid: list[int] | None = None, script: Path = REPO / "search_app.py",
) -> Iterator[str]:
    """The page served on a free port of 127.0.0.1 for ``index``: yields its URL once healthy, then stops it.

    ``env``: more environment variables for the page (e.g. PASSAGE_SEARCH_FEEDBACK). ``warm``: start it as
    scripts/start.sh does (``passage_search.app.launch``: index and model loaded before the server answers);
    False: plain ``streamlit run``, which loads them when the first visitor comes. ``pid``: the server's process
    id is appended to it. ``script``: another page (the benchmark's baseline).
    """
    port = free_port()
    env = {**os.environ, **(env or {}), "PASSAGE_SEARCH_INDEX": str(index)}
    command = ["-m", "passage_search.app.launch"] if warm else ["-m", "streamlit", "run"]
    if env.get(_UNSHARED) == "1":  # the baseline of run_rebuilds: each generation loads its own model
        command = ["-c", _UNSHARED_LAUNCH]
    proc = subprocess.Popen(
        [sys.executable, *command, str(script), "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true"],
        cwd=REPO, env=env, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    if pid is not None:
        pid.append(proc.pid)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc)


def run_page(index: Path, questions: list[str], *, runs: int = 20, warm: bool = True) -> dict[str, Any]:
    """Start the page on ``index`` and open a shared link (``?q=``) in a fresh browser context as soon as the
    server is healthy; then ``runs`` questions typed and sent with Enter. Then the same questions on the baseline
    page (``_BASELINE_PAGE``: a search box and cards, as a newcomer would write it), and searched without a
    page (``Searcher.search`` in this process, k = 5 as on the page)."""
    if not CHROMIUM.exists():
        return {"skipped": f"{CHROMIUM} is missing (apt-get install chromium)"}
    from playwright.sync_api import sync_playwright

    asked = [f"{questions[i % len(questions)]} ({i})" for i in range(runs)]
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="page-baseline-") as tmp:
        # The browser is running before the server starts, as a visitor's is: only the server is timed.
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            started = time.perf_counter()
            with streamlit_server(index, warm=warm) as url:
                healthy_at, healthy_s = time.time(), time.perf_counter() - started
                page = browser.new_context().new_page()  # a fresh context: no cookie, cache or session
                page.add_init_script(_WATCH.replace("MARKER", json.dumps("(link)”")))
                page.goto(f"{url}?q={urllib.parse.quote(questions[0] + ' (link)')}")
                page.wait_for_function("window.__t1 !== null", timeout=300_000)
                opened_at, card_at = (t / 1000 for t in page.evaluate("[performance.timeOrigin, window.__t1]"))
                card_at += opened_at
                times = _enter_times(page, asked)
            baseline = Path(tmp) / "baseline_page.py"
            baseline.write_text(_BASELINE_PAGE, "utf-8")
            with streamlit_server(index, warm=False, script=baseline) as url:
                page = browser.new_context().new_page()
                page.goto(url)
                _enter_times(page, [f"{questions[0]} (warm-up)"], marker="(warm-up)”")  # loads its searcher
                baseline_times = _enter_times(page, asked)
        finally:
            browser.close()
    search_ms = search_only(index, asked)
    enter, plain, alone = percentiles(times), percentiles(baseline_times), percentiles(search_ms)
    return {
        "launch": "python -m passage_search.app.launch" if warm else "streamlit run",
        "start_to_healthy_s": round(healthy_s, 2),
        "healthy_to_first_card_s": round(card_at - healthy_at, 2),
        "healthy_to_navigation_s": round(opened_at - healthy_at, 2),  # the browser opening the link: not the server
        "start_to_first_card_s": round(healthy_s + card_at - healthy_at, 2),
        "enter_to_first_card_ms": {**enter, "runs": runs},
        "baseline_page_enter_to_first_card_ms": {**plain, "runs": runs},
        "search_only_ms": {**alone, "runs": runs},
        "ratio_enter_to_search_p50": ratio(enter["p50"], alone["p50"]),
        "ratio_enter_to_baseline_page_p50": ratio(enter["p50"], plain["p50"]),
    }


def _enter_times(page: Any, asked: list[str], *, marker: str | None = None) -> list[float]:
    """Milliseconds from Enter to the first result card, for each question typed into the page's box."""
    from playwright.sync_api import expect

    box = page.get_by_label("Your question")
    expect(box).to_be_visible(timeout=300_000)
    times = []
    for i, question in enumerate(asked):
        box.fill(question)
        page.evaluate(_ARM, marker or f"({i})”")
        box.press("Enter")
        page.wait_for_function("window.__t1 !== null", timeout=300_000)
        times.append(page.evaluate("window.__t1 - window.__t0"))
    return times


def search_only(index: Path, questions: list[str], k: int = 5) -> list[float]:
    """Milliseconds of each question searched as the page searches it (hybrid, k = 5), the model warm."""
    from passage_search.app.serving import serving_searcher

    searcher = serving_searcher(index)
    times = []
    for question in questions:
        start = time.perf_counter()
        searcher.search(question, k=k)
        times.append((time.perf_counter() - start) * 1000)
    return times


# The page as it was before models were shared: every generation loads its own (run_rebuilds' baseline).
_UNSHARED = "PASSAGE_SEARCH_BENCH_UNSHARED"
_UNSHARED_LAUNCH = (
    "import sys; from passage_search.app import launch, serving; "
    "serving.shared_embedder = lambda key: None; sys.exit(launch.main())"
)


def run_rebuilds(index: Path, corpus: Path, workdir: Path, *, rebuilds: int = 8, shared: bool = True) -> dict[str, Any]:
    """The page's resident memory as its index is rebuilt ``rebuilds`` times, one document changed each time,
    with a question asked after each rebuild so that the page opens the new generation.

    ``index`` and ``corpus`` (a BEIR corpus.jsonl, the one the index was built from) are copied into ``workdir``
    first. ``shared``: False starts the page with every generation loading its own model, as before.
    """
    import shutil

    from playwright.sync_api import sync_playwright

    from passage_search.index.manifest import resolve

    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(index, workdir / "index", symlinks=True)
    docs = workdir / "corpus.jsonl"
    shutil.copy(corpus, docs)
    lines = docs.read_text("utf-8").splitlines(keepends=True)
    rss_mb: list[float] = []
    pid: list[int] = []
    generations: list[str] = []
    env = {_UNSHARED: "0" if shared else "1"}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            with streamlit_server(workdir / "index", env=env, pid=pid) as url:
                page = browser.new_context().new_page()
                page.goto(url)
                box = page.get_by_label("Your question")
                for i in range(rebuilds + 1):
                    if i:
                        row = (i * 7) % len(lines)  # a different document each time
                        record = json.loads(lines[row])
                        record["text"] += f" Edited for rebuild {i}."
                        lines[row] = json.dumps(record, ensure_ascii=False) + "\n"
                        docs.write_text("".join(lines), "utf-8")
                        subprocess.run([sys.executable, str(REPO / "build_index.py"), "--corpus", str(docs), "--out",
                                        str(workdir / "index")], check=True, stdout=subprocess.DEVNULL)
                    generations.append(resolve(workdir / "index").name)
                    box.fill(f"what are the symptoms ({i})")
                    page.evaluate(_ARM, f"({i})”")
                    box.press("Enter")
                    page.wait_for_function("window.__t1 !== null", timeout=300_000)
                    rss_mb.append(round(_rss_kb(pid[0]) / 1024, 1))
        finally:
            browser.close()
    return {"shared_model": shared, "rebuilds": rebuilds, "generations": len(set(generations)), "rss_mb": rss_mb,
            "growth_mb": round(rss_mb[-1] - rss_mb[0], 1)}


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def main(argv: list[str] | None = None) -> int:
    """The page part alone, on an index already built (``python -m passage_search.bench --only page`` builds)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m passage_search.bench.page_bench", description=main.__doc__)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--plain", action="store_true", help="start with plain `streamlit run` (no warm-up at start)")
    ap.add_argument("--rebuilds", type=int, default=0,
                    help="instead: the page's RSS over this many rebuilds of a copy of --index from --corpus")
    ap.add_argument("--corpus", type=Path, help="the BEIR corpus.jsonl --index was built from (with --rebuilds)")
    ap.add_argument("--unshared", action="store_true", help="with --rebuilds: each generation loads its own model")
    ap.add_argument("--workdir", type=Path, default=Path("bench-out") / "page-rebuilds")
    args = ap.parse_args(argv)
    from passage_search.index.store import load_index
    try:  # an index the page would refuse fails here in one sentence, not after minutes of waiting for a card
        load_index(args.index)
    except PassageSearchError as exc:
        sys.exit(f"page_bench: {exc}")
    if args.rebuilds:
        if args.corpus is None:
            ap.error("--rebuilds needs --corpus")
        report = run_rebuilds(args.index, args.corpus, args.workdir, rebuilds=args.rebuilds, shared=not args.unshared)
    else:
        report = run_page(args.index, question_set(args.questions), runs=args.runs, warm=not args.plain)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
