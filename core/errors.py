"""Errors that carry one sentence a student can read, and the safe forms of untrusted text.

Text from a user (file names, zip entry names, checkpoint class names, CSV labels and column names,
link values) reaches three places, each with its own helper:
- a sentence quoting it: `shorten`, one line of at most SHOWN characters;
- Streamlit's Markdown (st.markdown, subheader, caption, error, warning, info): `escape_markdown`, so
  that it is shown as the characters it is, never as a link, an image, emphasis, HTML, maths or an icon;
- a chart's label: `escape_html`, since Plotly reads a few HTML tags (<a href>, <b>) in its text;
- a CSV download: `spreadsheet_safe`, so that no cell becomes a formula in a spreadsheet.
"""

from __future__ import annotations

import re

SHOWN = 40  # longest user text (a cell, a name, a link value) quoted in a message

# Characters that open a Markdown construct in Streamlit: emphasis, code, links and images, HTML and
# entities, headings, tables, strikethrough, maths, e-mail autolinks; a colon before a non-space opens
# directives (":red[...]"), icons and emoji (":material/x:", ":smile:") and "http://" autolinks, and the
# dot of "www." a web autolink. A backslash before any ASCII punctuation shows that character as it is.
_MARKDOWN = re.compile(r"[\\`*_\[\]<>#|~$&@]|:(?=\S)|(?<=[wW]{3})\.")
_SHORTCODE_END = re.compile(r"(\\:[\w+-]+):(?!\S)")  # the closing colon of ":smile:" before a space
_MARK_START = re.compile(r"^[-+=]")  # a list item or a heading's underline, at the start of a line
_NUMBER_START = re.compile(r"^(\d+)(?=[.)])")  # a numbered list item


class ConfigError(ValueError):
    """A setting that cannot work; its message is shown to the user as it is."""


def shorten(value: object, most: int = SHOWN) -> str:
    """User text for a message: one line, at most `most` characters, '…' where it was cut."""
    text = " ".join(str(value).split())
    return text if len(text) <= most else text[: most - 1] + "…"


def escape_markdown(text: object) -> str:
    """Text to show through Streamlit's Markdown exactly as written (whitespace runs become one space)."""
    line = " ".join(str(text).split())
    line = _SHORTCODE_END.sub(r"\1\\:", _MARKDOWN.sub(r"\\\g<0>", line))
    return _NUMBER_START.sub(r"\1\\", _MARK_START.sub(r"\\\g<0>", line))


def escape_html(text: object) -> str:
    """Text for a Plotly label, shown as written: & < > as entities, which Plotly shows as characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that no spreadsheet reads as a formula: text starting with = + - @, tab or CR gets a
    leading apostrophe (OWASP's advice); numbers and other text are unchanged."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
