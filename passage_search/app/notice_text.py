"""The corpus's notices as the page shows them: the support line as tel: links, the one-line banner, the
disclaimer in paragraphs, and the "nothing here" message. Every corpus text is escaped."""

from __future__ import annotations

import re
from collections.abc import Sequence

from passage_search.app.markdown import escape_markdown
from passage_search.ingest.notices import Notices


def tel_href(phone: str) -> str:
    """A ``tel:`` address for a phone number as the corpus writes it ("1-888-939-3333" -> "tel:+18889393333").

    The notices find North American numbers (ten digits, perhaps after a 1), so the country code is +1.
    """
    digits = re.sub(r"\D", "", phone)
    if len(digits) == 10:
        digits = "1" + digits
    return f"tel:+{digits}"


def phone_links(phones: Sequence[str]) -> str:
    """The support line's numbers as Markdown links a phone can call, each shown as the corpus writes it."""
    return ", ".join(f"[{escape_markdown(phone)}]({tel_href(phone)})" for phone in phones)


def banner(notices: Notices) -> str:
    """The one-line banner at the top of every page (Markdown; "" when the corpus has neither): that this is
    not medical advice (the whole disclaimer is in the footer) and the support line, as a link to call."""
    parts = ["Not medical advice"] if notices.disclaimer else []
    if notices.phones:
        parts.append("Support line " + phone_links(notices.phones[:1]))
    return " · ".join(parts)


_RULE = re.compile(r"[\s|·•–—-]+")


def disclaimer_paragraphs(notices: Notices) -> list[str]:
    """The disclaimer's paragraphs for the footer, without the lines made only of phone numbers, copyright
    and separators (the publisher's "1-888-939-3333 | | © 2024 …"): the footer gives those once, formatted."""
    kept = []
    for paragraph in re.split(r"\n\s*\n", notices.disclaimer.strip()):
        lines = [line for line in paragraph.split("\n") if _RULE.sub("", _strip_notices(line, notices))]
        if lines:
            kept.append("\n".join(lines))
    return kept


def _strip_notices(line: str, notices: Notices) -> str:
    for found in (*notices.phones, *notices.copyright):
        line = line.replace(found, "")
    return line


def nothing_here(label: str, subject: str, phones: Sequence[str], *, filtered: bool = False) -> str:
    """What the page says when nothing answers (Markdown): the label, what the pages do cover, what to try,
    and the support line to call."""
    call = f" Or call the support line: {phone_links(phones)}." if phones else ""
    narrower = " within the chosen filters" if filtered else ""
    return (
        f"**{escape_markdown(label)}{narrower}.** These pages cover {escape_markdown(subject)}. "
        f"Try saying it another way, or browse the topics below.{call}"
    )


# "Search instead for …" puts ``?exact=1`` in the address beside ``?q=…``: the words are searched as typed, also
# from a shared link. It holds for that question only: the first question searched after it is repaired again.
