"""What keeps the page private and its text inert: the server settings, and no raw HTML anywhere."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest
from conftest import REPO, live_markup, strip_own_markup
from hypothesis import given, settings
from hypothesis.strategies import text

# ---- the server: this machine only, XSRF on, nothing sent home -----------------------------------------------


def streamlit_config() -> dict:
    return tomllib.loads((REPO / ".streamlit" / "config.toml").read_text("utf-8"))


def test_the_page_listens_on_this_machine_only():
    assert streamlit_config()["server"]["address"] == "127.0.0.1"


def test_xsrf_protection_is_not_turned_off():
    # Streamlit's default is on; the config may say so, but must not turn it off.
    assert streamlit_config().get("server", {}).get("enableXsrfProtection", True) is True


def test_usage_statistics_are_not_sent():
    # Streamlit's default is on, so the config has to say false.
    assert streamlit_config()["browser"]["gatherUsageStats"] is False


def flag_values(script: str, flag: str) -> list[str]:
    """Every value given to a streamlit option in a shell script, as ``--flag value``, ``--flag=value`` or the
    STREAMLIT_* environment variable."""
    env = "STREAMLIT_" + re.sub(r"([a-z])([A-Z])", r"\1_\2", flag.removeprefix("--")).replace(".", "_").upper()
    pattern = rf"(?:{re.escape(flag)}[ =]|{env}=)[\"']?([^\"'\s]+)"
    return re.findall(pattern, script, flags=re.IGNORECASE)


@pytest.mark.parametrize("script", sorted((REPO / "scripts").glob("*.sh")), ids=lambda p: p.name)
def test_scripts_do_not_open_the_page_to_the_network(script: Path):
    text = script.read_text("utf-8")
    assert "0.0.0.0" not in text
    assert set(flag_values(text, "--server.address")) <= {"127.0.0.1"}
    assert "false" not in {v.lower() for v in flag_values(text, "--server.enableXsrfProtection")}
    assert "true" not in {v.lower() for v in flag_values(text, "--browser.gatherUsageStats")}


def test_start_script_pins_the_address():
    assert flag_values((REPO / "scripts" / "start.sh").read_text("utf-8"), "--server.address") == ["127.0.0.1"]


def test_flag_values_sees_every_spelling():
    script = (
        "streamlit run app.py --server.address 0.0.0.0\n"
        "streamlit run app.py --server.address=10.0.0.1\n"
        "STREAMLIT_SERVER_ADDRESS='::' streamlit run app.py\n"
        "STREAMLIT_SERVER_ENABLE_XSRF_PROTECTION=false streamlit run app.py\n"
    )
    assert flag_values(script, "--server.address") == ["0.0.0.0", "10.0.0.1", "::"]
    assert flag_values(script, "--server.enableXsrfProtection") == ["false"]


# ---- no raw HTML: every text the page shows goes through Markdown, escaped -----------------------------------

SOURCES = [
    REPO / "search_app.py",
    *sorted((REPO / "pages").glob("*.py")),
    *sorted((REPO / "passage_search").glob("*.py")),
]
# Calls that put HTML into the page as written.
RAW_HTML = {"st.html", "streamlit.html", "components.html", "components.v1.html", "stc.html", "html"}


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    return ""


def fixed_markup(tree: ast.Module) -> set[str]:
    """Module-level names bound once to a plain string literal: markup written in our code, never data."""
    bound: dict[str, int] = {}
    literal: set[str] = set()
    for node in ast.walk(tree):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, (ast.AnnAssign, ast.AugAssign))
            else []
        )
        for target in targets:
            if isinstance(target, ast.Name):
                bound[target.id] = bound.get(target.id, 0) + 1
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                literal.add(node.targets[0].id)
    return {name for name in literal if bound.get(name) == 1}


def raw_html_calls(source: str, filename: str = "<test>") -> list[str]:
    """Each call in ``source`` that renders HTML unescaped, as "line: what".

    A raw-HTML call is allowed only with a module-level constant string as its whole body (the page's
    focus script): data can never reach it.
    """
    tree = ast.parse(source, filename)
    constants = fixed_markup(tree)
    # `html` alone counts only where it was imported from streamlit (from streamlit.components.v1 import html).
    html_imported = any(
        isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("streamlit")
        and any(alias.name == "html" for alias in node.names)
        for node in ast.walk(tree)
    )
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = dotted(node.func)
        is_html = name.endswith((".components.html", ".components.v1.html")) or name in RAW_HTML
        fixed = len(node.args) == 1 and isinstance(node.args[0], ast.Name) and node.args[0].id in constants
        if is_html and (name != "html" or html_imported) and not fixed:
            found.append(f"{node.lineno}: {name}(")
        for keyword in node.keywords:
            unsafe = keyword.arg == "unsafe_allow_html"
            if unsafe and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                found.append(f"{node.lineno}: unsafe_allow_html")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_raw_html_reaches_the_page(path: Path):
    assert raw_html_calls(path.read_text("utf-8"), str(path)) == []


def test_the_raw_html_guard_catches_each_form():
    source = """
import streamlit as st
import streamlit.components.v1 as components
from streamlit.components.v1 import html
st.markdown(text, unsafe_allow_html=True)
st.caption(text, unsafe_allow_html=flag)
st.html(text)
components.html(text)
st.components.v1.html(text)
html(text)
st.markdown(text, unsafe_allow_html=False)
"""
    assert raw_html_calls(source) == [
        "5: unsafe_allow_html",
        "6: unsafe_allow_html",
        "7: st.html(",
        "8: components.html(",
        "9: st.components.v1.html(",
        "10: html(",
    ]
    assert raw_html_calls("import html\nhtml.escape(text)\n") == []


def test_the_guard_lets_only_a_fixed_script_through():
    source = """
import streamlit as st
SCRIPT = "<script>focus()</script>"
OTHER = "<b>"
OTHER = text
st.html(SCRIPT, unsafe_allow_javascript=True)
st.html(SCRIPT + text)
st.html(OTHER)
st.html(f"{SCRIPT}")
"""
    assert raw_html_calls(source) == ["7: st.html(", "8: st.html(", "9: st.html("]


# ---- text from a question or the corpus stays text: what Streamlit's Markdown would otherwise make of it ------

# What Streamlit's Markdown (1.67, frontend StreamlitMarkdown.*.js) does to text *after* parsing it, where a
# backslash escape no longer counts: GFM's bare-address links (mdast-util-gfm-autolink-literal), remark-emoji,
# the Material icon and Streamlit-logo plugins (":material/" is first rewritten to ":material_" in the source)
# and the typographic arrows and dashes. JavaScript's \w is ASCII, hence re.ASCII.
REWRITES = {
    "address link": re.compile(r"(?:https?://|www(?=\.))[-.\w]", re.IGNORECASE | re.ASCII),
    "e-mail link": re.compile(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+", re.ASCII),
    "emoji, icon or logo": re.compile(r":\+1:|:-1:|:[\w-]+:", re.ASCII),
    "arrow, dash or sign": re.compile(r"(?:^|\s)(?:<->|->|<-|--|>=|<=|~=)(?:\s|$)"),
}


def streamlit_rewrites(markdown: str) -> list[str]:
    """The rewrites Streamlit would apply to ``markdown`` after parsing it (empty: it reads as written).

    The parsed text is ``markdown`` with its backslash escapes resolved; the page's own marks are taken out.
    """
    parsed = re.sub(r"\\(.)", r"\1", strip_own_markup(markdown)).replace(":material/", ":material_")
    return [f"{name}: {m.group()!r}" for name, rx in REWRITES.items() for m in rx.finditer(parsed)]


HOSTILE_TEXTS = [
    "## Radiation ![p](http://host/pixel.png)",
    "Your session expired, log in at https://evil.example/login",
    "HTTPS://EVIL.EXAMPLE www.evil.example WWW.Evil.Example <https://evil.example/x> http://[::1]/",
    "write to help@evil.example or mailto:help@evil.example",
    "[click](https://evil.example) [r][1]\n\n[1]: https://evil.example",
    ":red[x] :blue-background[y] :red-badge[z] :smile: :+1: :-1: :material/star: :streamlit: :small[s] :help[h]",
    "<img src=x onerror=alert(1)> <script>alert(2)</script> <b>bold</b> &lt;b&gt; &amp;",
    "$x^2$ $$y$$ \\(z\\) **bold** _it_ ~~gone~~ `code` # heading\n> quote\n- item\n1. item\n---",
    "a -> b <- c <-> d -- e >= f <= g ~= h",
    "Note: 9:30 at 1-800-555-0100 © 2024",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_escaped_text_is_inert_and_reads_as_written(text):
    from passage_search.app.markdown import WORD_JOINER, escape_markdown

    md = escape_markdown(text)
    assert live_markup(md) == [], md
    assert streamlit_rewrites(md) == [], md
    read = re.sub(r"\\(.)", r"\1", md).replace("  \n", "\n").replace(WORD_JOINER, "")
    assert read == text


def test_the_rewrite_check_sees_each_rewrite_of_plain_text():
    assert [r.split(":")[0] for r in streamlit_rewrites("see https://a.example, www.b.example or c@d.example")] == [
        "address link",
        "address link",
        "e-mail link",
    ]
    assert streamlit_rewrites(":smile: :material/star:") == [
        "emoji, icon or logo: ':smile:'",
        "emoji, icon or logo: ':material_star:'",
    ]
    assert streamlit_rewrites("a -> b") == ["arrow, dash or sign: ' -> '"]
    assert streamlit_rewrites("Treatment of :orange-background[**sarcoma**]") == []  # the page's own mark


@settings(max_examples=300, deadline=None)
@given(text(alphabet="htpsw:/.@-<>=~+_[]()!#*`$&\\ \nxHW1", max_size=80))
def test_no_text_escapes_into_markup(value):
    from passage_search.app.markdown import WORD_JOINER, escape_markdown

    md = escape_markdown(value)
    assert live_markup(md) == [] and streamlit_rewrites(md) == [], md
    assert re.sub(r"\\(.)", r"\1", md).replace("  \n", "\n").replace(WORD_JOINER, "") == value


@settings(max_examples=200, deadline=None)
@given(text(alphabet="htpsw:/.@-<>wxcancer ", max_size=60))
def test_marking_words_never_joins_a_rewrite_back_together(value):
    from passage_search.analysis import load_vocabulary
    from passage_search.app.markdown import escape_markdown, highlight_markdown

    md = highlight_markdown(value, ["cancer", "www", "http", "x"], load_vocabulary())
    assert streamlit_rewrites(md) == [], md
    assert strip_own_markup(md) == escape_markdown(value)


def test_the_browser_cuts_a_paste_where_the_server_does():
    from passage_search.app.page import FOCUS_SCRIPT, QUESTION_CHARS

    assert f"const LIMIT = {QUESTION_CHARS};" in FOCUS_SCRIPT
