"""Record text is data: the one place that makes it safe for each output.

Titles, abstracts, authors, categories, dates, URLs, quoted sentences and evidence all come from
ingested files. Wherever they are rendered they go through one of these:

- :func:`html_text` for HTML (it also neutralises Markdown, because the chat renders its messages as
  Markdown before HTML);
- :func:`markdown_escape` for Markdown;
- :func:`plain` for a terminal (no control characters, so an abstract can't send escape sequences);
- :func:`safe_url` before a URL becomes a link: only absolute http(s) URLs do.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# One pass: HTML's special characters as entities, and the characters Markdown (and the chat's
# Markdown extensions: tables, strikethrough, $$ maths, e-mail autolinks) acts on as numeric
# character references, which both read as plain text.
_HTML_TABLE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
    | {c: f"&#{ord(c)};" for c in "\\`*_[](){}!#|~$@"}
)
# Markdown punctuation that can start a link, an image, emphasis, code, a table cell,
# strikethrough or maths anywhere in a line; backslash-escaped.
_MD_INLINE = re.compile(r"([\\`*_\[\]{}()!|~$#@])")  # '@': no GFM e-mail autolink (a mailto: link)
# at the start of a line, these make a list item, a heading or a block quote
_MD_LINE_START = re.compile(r"^(\d+)([.)])|^([-+=>])")
# characters that never belong in a URL we turn into a link (quotes and brackets could leave an
# HTML attribute or a Markdown autolink; whitespace and controls could hide where it points)
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f\"'<>`\\]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Longer URLs are never links (browsers and servers cap them around here; none of ours is close).
MAX_URL_CHARS = 2048


def html_text(text: object) -> str:
    """Text for HTML (element content or a quoted attribute) that no HTML or Markdown reads as markup."""
    return str(text).translate(_HTML_TABLE)


def markdown_escape(text: object) -> str:
    """Text for Markdown that can't make a link, an image, emphasis, a heading, a list or raw HTML.

    Whitespace runs (newlines too) become one space, so the text never starts a line of its own;
    ``&``, ``<`` and ``>`` become entities (no raw HTML, no ``<autolink>``); the rest of Markdown's
    punctuation is backslash-escaped. A Markdown viewer shows the text exactly as it was.
    """
    flat = " ".join(str(text).split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _MD_INLINE.sub(r"\\\1", flat)
    return _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", flat, count=1)


def plain(text: object) -> str:
    """Text for a terminal: without control characters (newlines and tabs stay)."""
    return _CONTROLS.sub("", str(text))


def safe_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL that is safe to put in a link, else None.

    Record URLs come from ingested files: ``javascript:``, ``data:``, relative paths and anything
    with quotes, brackets, spaces or control characters are never made into links."""
    if not url:
        return None
    url = url.strip()
    if not url or len(url) > MAX_URL_CHARS or _URL_FORBIDDEN.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
