"""HTML: h1-h6 in document order, and every text the page shows under them, parsed by BeautifulSoup.

A heading's anchor (its ``id``, an ``id`` or ``<a name>`` inside it, or the ``id`` of the element it opens,
such as ``<section id="surgery"><h2>Surgery</h2>``) gives the ``url`` of the sections under it.

A paragraph is a block element (``<p>``, ``<li>``, a table cell...) or the text that sits directly in a
container (``<div>``, ``<section>``, ``<body>``) between blocks: pages built of ``<div>``s lose nothing.
Script, style, navigation, controls and the page's own header and footer are not text of the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from passage_search.ingest.section import Section, anchored, section_url

if TYPE_CHECKING:
    from bs4 import Tag

HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
# Each is one paragraph, whatever it holds (a <p> inside an <li> is not a second one).
BLOCKS = ["p", "li", "pre", "blockquote", "td", "th", "dt", "dd", "figcaption", "caption"]
# Their start and end end a paragraph of loose text; any other element (<span>, <a>, <b>...) runs on in it.
BREAKS = set(
    "address article aside body center details dialog div dl fieldset figure form hgroup hr html legend main "
    "menu ol search section summary table tbody tfoot thead tr ul".split()
)
# Never text of the page: code, navigation and controls.
DROPPED = ["script", "style", "noscript", "template", "nav", "button", "select", "svg", "iframe", "object"]
# A <header> or <footer> inside one of these belongs to it (an article's title and byline); any other is the
# page's banner or footer (the HTML landmark rule), dropped like navigation.
SECTIONING = {"article", "aside", "main", "nav", "section"}
NOT_SHOWN = {"head", "title"}  # the <title> is read apart, as the title of last resort


def parse_html(text: str, *, doc_id: str, source: str, title: str = "", publisher: str = "", url: str = ""
               ) -> list[Section]:
    from bs4 import BeautifulSoup  # imported here: only HTML corpora pay for it

    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(DROPPED):
        tag.decompose()
    page_parts = [t for t in soup(["header", "footer"]) if not any(p.name in SECTIONING for p in t.parents)]
    for tag in page_parts:
        if not tag.decomposed:  # not already gone with a page part around it
            tag.decompose()
    items = _items(soup)
    h1 = next((it[1] for it in items if isinstance(it, tuple) and it[0] == 1 and it[1]), "")
    page_title = " ".join(soup.title.get_text().split()) if soup.title else ""
    title = title or h1 or page_title or doc_id
    sections = []
    for path, anchor, body in anchored(items, title):
        paragraphs = [p for p in body if p]
        if paragraphs:
            sections.append(Section(doc_id, title, path, "\n\n".join(paragraphs), source, publisher,
                                    section_url(url, anchor)))
    return sections


def _anchor(heading: Tag) -> str:
    """Where the page's address can point at ``heading`` ("" if nowhere): its own id, an id or name inside it
    (``<h2><a id="surgery"></a>Surgery</h2>``), or the id of the nearest element around it that it opens."""
    own = heading.get("id")
    if isinstance(own, str) and own.strip():
        return own.strip()
    inner = heading.find(id=True) or heading.find("a", attrs={"name": True})
    if inner is not None:
        value = inner.get("id") or inner.get("name")
        if isinstance(value, str) and value.strip():
            return value.strip()
    for parent in heading.parents:
        found = parent.get("id")
        if isinstance(found, str) and found.strip():
            # Only if the heading is the element's first: the anchor leads to this heading, not one before it.
            return found.strip() if parent.find(HEADINGS) is heading else ""
    return ""


def _items(root: Tag) -> list[tuple[int, str, str] | str]:
    """Headings as (level, text, anchor) and paragraphs as text, in document order (a loop, not recursion: pages
    nest deeper than Python's stack)."""
    from bs4 import CData, NavigableString, Tag

    items: list[tuple[int, str, str] | str] = []
    loose: list[str] = []  # text outside any block since the last break

    def add(content: str) -> None:
        content = " ".join(content.split())
        if content:
            items.append(content)

    def flush() -> None:
        add("".join(loose))
        loose.clear()

    stack = [(iter(root.children), True)]
    while stack:
        children, breaks = stack[-1]
        node = next(children, None)
        if node is None:
            stack.pop()
            if breaks:
                flush()
        elif isinstance(node, Tag):
            if node.name in HEADINGS:
                flush()
                items.append((int(node.name[1]), " ".join(node.get_text(" ").split()), _anchor(node)))
            elif node.name in BLOCKS:
                flush()
                add(node.get_text(" "))
            elif node.name == "br":
                loose.append(" ")
            elif node.name not in NOT_SHOWN:
                if node.name in BREAKS:
                    flush()
                stack.append((iter(node.children), node.name in BREAKS))
        elif type(node) in (NavigableString, CData):  # not comments, doctypes or processing instructions
            loose.append(str(node))
    return items
