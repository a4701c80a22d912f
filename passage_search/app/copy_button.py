"""A one-click Copy button for a result card: a small Streamlit component (``st.components.v2``, no iframe).

The button is a real ``<button>``, so Tab reaches it and Enter or Space presses it; one press puts the text on
the clipboard and says "Copied" beside it (a live region, so a screen reader says it too) until another card's
button is pressed. Copying runs in the browser and never reruns the page.

The markup, style and script below are constants written here. The text to copy reaches the browser only as
the component's JSON data and only ever goes to the clipboard: it is never put into the page as HTML.
"""

from __future__ import annotations

from functools import cache
from typing import Any

# What the button says before and after a press; the tests look for these words.
LABEL = "Copy"
COPIED = "Copied"
FAILED = "Could not copy: select the text and copy it"

_HTML = """<div class="ps-copy">
  <button type="button" class="ps-copy-button"><svg class="ps-copy-icon" aria-hidden="true" viewBox="0 -960 960 960">
    <path d="M360-240q-33 0-56.5-23.5T280-320v-480q0-33 23.5-56.5T360-880h360q33 0 56.5 23.5T800-800v480q0 33-23.5
    56.5T720-240H360Zm0-80h360v-480H360v480ZM200-80q-33 0-56.5-23.5T120-160v-560h80v560h440v80H200Z"/>
  </svg>Copy</button>
  <span class="ps-copy-status" role="status" aria-live="polite"></span>
</div>"""

# Sizes and colours follow the page's theme (Streamlit's CSS variables), with a 44 px touch target.
_CSS = """
.ps-copy { display: inline-flex; align-items: center; gap: 0.5rem; }
.ps-copy-button {
  display: inline-flex; align-items: center; gap: 0.375rem;
  min-height: 44px; min-width: 44px; padding: 0 0.875rem;
  font: inherit; font-size: 0.875rem; line-height: 1.2; color: var(--st-text-color, #0e1117);
  background: var(--st-background-color, #ffffff);
  border: 1px solid var(--st-border-color, rgba(49, 51, 63, 0.3)); border-radius: 0.5rem; cursor: pointer;
}
.ps-copy-button:hover { border-color: var(--st-primary-color, #0b6279); color: var(--st-primary-color, #0b6279); }
.ps-copy-button:focus-visible { outline: 2px solid var(--st-primary-color, #0b6279); outline-offset: 2px; }
.ps-copy-icon { width: 1.125rem; height: 1.125rem; fill: currentColor; }
.ps-copy-status { font-size: 0.875rem; font-weight: 600; color: var(--st-primary-color, #0b6279); }
.ps-copy-status:empty { display: none; }
"""

# Clipboard API first; where the page is not a secure context (plain http to another machine) the browser
# has none, so a hidden textarea and execCommand('copy') stand in. Pressing one card's button clears the
# "Copied" of the others, so only the text now on the clipboard says so.
_JS = """
export default function ({ data, parentElement }) {
  const root = parentElement.querySelector('.ps-copy');
  const button = root.querySelector('button');
  const status = root.querySelector('[role="status"]');
  button.setAttribute('aria-label', data.label);
  const copied = () => {
    window.dispatchEvent(new CustomEvent('passage-search-copied', { detail: root }));
    status.textContent = data.copied;
  };
  const fallback = () => {
    const area = document.createElement('textarea');
    area.value = data.text;
    area.setAttribute('readonly', '');
    area.style.position = 'fixed';
    area.style.opacity = '0';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    button.focus();
    return ok;
  };
  button.onclick = async () => {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(data.text);
        copied();
        return;
      }
    } catch (error) { /* no permission: try the fallback below */ }
    if (fallback()) { copied(); } else { status.textContent = data.failed; }
  };
  const others = (event) => { if (event.detail !== root) { status.textContent = ''; } };
  window.addEventListener('passage-search-copied', others);
  return () => window.removeEventListener('passage-search-copied', others);
}
"""


@cache
def _component() -> Any:
    """Registered once per process: registering the same name again logs a warning."""
    import streamlit as st

    return st.components.v2.component("passage_search.copy", html=_HTML, css=_CSS, js=_JS, isolate_styles=False)


def copy_button(text: str, *, key: str, label: str = LABEL) -> None:
    """A Copy button that puts ``text`` on the clipboard. ``label``: its accessible name (say which card)."""
    _component()(key=key, data={"text": text, "label": label, "copied": COPIED, "failed": FAILED}, width="content")
