"""Author text (survey titles, question texts, options, labels) and answers made safe to show in a notebook:
as Markdown (`md_text`, `md_code`) and in matplotlib text (`mpl_text`).

`html.escape` alone is not enough in Markdown: `[x](http://evil.example)`, `<http://evil.example>`, a bare
`http://evil.example/x` or `www.evil.example` (the `url` plugin of nbconvert's mistune, GFM autolinks in
JupyterLab's marked) become live links, `**bold**` becomes bold, and a line break can start a heading, a list
or a code block. `md_text` encodes every ASCII punctuation character as a character reference: CommonMark
never reads a reference as syntax, no autolink rule matches across one, and the reader sees the same characters.

Kept light: notebooks import it in the kernel (standard library only).
"""

from __future__ import annotations

import re
import string

__all__ = ["md_code", "md_text", "mpl_text"]

_TABLE: dict[int, str | None] = {ord(c): f"&#{ord(c)};" for c in string.punctuation}
_TABLE.update({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;"})
# `$` and `\` open math: mistune's math plugin never sees them (references), but JupyterLab typesets the rendered
# page with MathJax, which reads `$...$` and `\(...\)` from the page's text. MathJax does not pair delimiters
# across elements, so each sits in a span of its own.
_TABLE.update({ord("$"): "<span>&#36;</span>", ord("\\"): "<span>&#92;</span>"})
# Line breaks would end the heading or paragraph the text sits in and let it start a block: one space each.
_TABLE.update({ord(c): " " for c in "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029"})
# Other control characters are invisible (or garbage) and dropped; so are the explicit bidirectional controls
# (embeddings, overrides, isolates: U+202A-U+202E, U+2066-U+2069), which would let a text display reversed and
# reorder the report's text around it ("Trojan Source"). Right-to-left text needs none of them to display.
_TABLE.update({c: None for c in [*range(0x00, 0x09), *range(0x0E, 0x1C), *range(0x7F, 0x85), *range(0x86, 0xA0)]})
_BIDI_CONTROLS: dict[int, str | None] = {c: None for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
_TABLE.update(_BIDI_CONTROLS)
_EDGE_SPACES = re.compile(r"^ +| +$")


def md_text(value: object) -> str:
    """`value` as text to put in Markdown: it renders as exactly its characters (HTML escaped, no link, image,
    emphasis, code, math, heading, list or table), on one line.

    Line breaks and tabs become spaces (a Markdown line of its own could start a block); spaces at either end
    become references (four would start a code block); control characters and explicit bidirectional controls
    are dropped. Not for use inside a code span (`` `...` ``), where references show as typed: use `md_code`.
    """
    text = str(value).translate(_TABLE)
    return _EDGE_SPACES.sub(lambda m: "&#32;" * len(m.group()), text)


def md_code(value: object) -> str:
    """`value` in code style, as safely as `md_text` (an HTML `<code>` element: a Markdown code span would show
    the references as typed)."""
    return f"<code>{md_text(value)}</code>"


def mpl_text(value: object) -> str:
    """`value` as literal matplotlib text (title, label, tick label, legend): an even number of `$` would start
    mathtext, which draws `$x^2$` as a formula and raises on some input. Each `$` is escaped (`\\$`), which
    matplotlib draws as `$` (a `\\$` already in the text stays `\\$`). Explicit bidirectional controls are
    dropped as in `md_text`: matplotlib lays text out bidirectionally, so an override would reverse the rest of
    a label (`(n=30)` after an option)."""
    return str(value).translate(_BIDI_CONTROLS).replace("$", r"\$")
