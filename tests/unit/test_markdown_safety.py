"""md_text / md_code / mpl_text: author text and answers shown by a notebook render as exactly their characters,
checked against the Markdown renderer nbconvert uses (mistune, configured as `HTMLExporter` configures it) and
against matplotlib's mathtext."""

from __future__ import annotations

import io
import re
from functools import cache

import mistune
import nbformat
import pytest
from bs4 import BeautifulSoup
from matplotlib.figure import Figure
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_notebook, new_output

from workbench.config import REPO_ROOT
from workbench.rendering.html import EXPORTER_SETTINGS, render_component_html
from workbench.rendering.markdown import md_code, md_text, mpl_text

HOSTILE = [
    "[x](http://127.0.0.1:9/x)",
    "[x](javascript:alert(1))",
    "[x][ref]\n\n[ref]: http://127.0.0.1:9/ref",
    "![x](http://127.0.0.1:9/i.png)",
    "<http://127.0.0.1:9/autolink>",
    "<mailto:someone@example.com>",
    "http://127.0.0.1:9/bare https://evil.example/x?a=1&b=2 ftp://evil.example/f",
    "www.evil.example/path and evil.example",
    "someone@example.com",
    "<a href='http://127.0.0.1:9/a'>link</a> <img src=x onerror=alert(1)> <script>alert(1)</script>",
    "<svg onload=alert(1)><a xlink:href='javascript:alert(2)'>s</a></svg>",
    "<span style=\"background:url(http://127.0.0.1:9/css)\">css</span>",
    "<!-- comment --> &amp; &#91; &lt;b&gt; &copy;",
    "**bold** __bold__ *it* _it_ ~~gone~~ ==mark== ^sup^ ~sub~ ++ins++ >!spoiler!<",
    "`code` ``more code``",
    "line one\n# heading\n## heading\n- item\n* item\n+ item\n1. item\n2) item\n> quote",
    "para\n\n    indented code\n\n```\nfenced\n```\n~~~\nfenced\n~~~",
    "    starts indented",
    "Title\n=====\nSub\n---\n***\n___",
    "a | b\n--|--\n1 | 2",
    "- [ ] task\n- [x] done",
    "term\n: definition",
    "[^1] footnote\n\n[^1]: http://127.0.0.1:9/fn",
    "*[HTML]: Hyper Text",
    "[漢字]{かんじ}(http://127.0.0.1:9/ruby)",
    "$x^2$ and $$y$$ and \\(z\\) and \\[w\\] \\begin{equation}v\\end{equation}",
    "\\$ escaped \\*not\\* \\[x\\](http://127.0.0.1:9/esc)",
    "evil\u202e)x(]x[ gnp.exe\u202c and \u2066isolate\u2069",
    "tab\there\r\nCRLF\rCR\x0bVT\x0cFF\x85NEL\u2028LS\u2029PS",
    "bell\x07 escape\x1b[31m del\x7f c1\x90",
    "trailing spaces    ",
    "A" * 3000 + " [x](http://127.0.0.1:9/long)",
]
# What a reader sees: the same characters, whitespace runs as one space, invisible controls gone.
_DROPPED = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")
_BLOCKS = ["h1", "h2", "h3", "h4", "h5", "h6", "li", "pre", "table", "blockquote", "hr", "dl", "dt", "dd",
           "input", "sup", "section", "ruby", "abbr"]
_INLINE = ["a", "img", "code", "em", "strong", "del", "mark", "ins", "sub", "span", "svg", "script", "math"]


def _visible(text: str) -> str:
    return " ".join(_DROPPED.sub("", text).split())


@cache
def _exporter() -> HTMLExporter:
    return HTMLExporter(template_name="basic", **EXPORTER_SETTINGS)


def _nbconvert(markdown: str) -> str:
    """Markdown to HTML exactly as nbconvert renders a markdown output or cell, before any sanitizing."""
    return _exporter().markdown2html({}, markdown)


def _count(html: str, name: str) -> int:
    return len(BeautifulSoup(html, "html.parser").find_all(name))


def test_the_renderer_is_the_one_nbconvert_configures() -> None:
    # the cases below mean something only if the raw text would be live there
    raw = _nbconvert("[x](http://127.0.0.1:9/x) http://127.0.0.1:9/y <http://127.0.0.1:9/z> **b**\n# h")
    assert _count(raw, "a") == 3 and _count(raw, "strong") == 1
    assert 'href="http://127.0.0.1:9/y"' in raw  # bare URLs are linked (mistune's `url` plugin)
    assert "$x$" in _nbconvert("$x$")  # math is passed through for MathJax


@pytest.mark.parametrize("text", HOSTILE, ids=[f"case{i}" for i in range(len(HOSTILE))])
@pytest.mark.parametrize("context", ["heading", "strong", "paragraph", "list", "table"])
def test_escaped_text_renders_as_its_characters(text: str, context: str) -> None:
    safe = md_text(text)
    assert "\n" not in safe and "\r" not in safe
    # the context's markup, the element holding the text, and how many of each tag the context itself makes
    markdown, wrapper, index, own = {
        "heading": (f"## {safe}", "h2", 0, {"h2": 1}),
        "strong": (f"**{safe}**, n = 3", "strong", 0, {"strong": 1}),
        "paragraph": (f"Intro text\n\n{safe}\n\nAfter.", "p", 1, {}),
        "list": (f"1. {safe}\n2. second", "li", 0, {"li": 2}),
        "table": (f"| head |\n| --- |\n| {safe} |", "td", 0, {"table": 1}),
    }[context]
    html = _nbconvert(markdown)
    # nothing but the context's own markup: no link, image, emphasis, code, block, raw HTML
    own["span"] = len(re.findall(r"[$\\]", _DROPPED.sub("", text)))  # `$` and `\` each in a span (MathJax)
    for name in _BLOCKS + _INLINE:
        assert _count(html, name) == own.get(name, 0), (name, html[:500])
    element = BeautifulSoup(html, "html.parser").find_all(wrapper)[index]
    assert _visible(element.get_text()) == _visible(text)
    # no math for MathJax to find: `$` and `\` never share a text node with another delimiter
    assert not re.search(r"\$[^<]*\$|\\[(\[]", html)


@pytest.mark.parametrize("text", HOSTILE, ids=[f"case{i}" for i in range(len(HOSTILE))])
def test_every_mistune_plugin_still_sees_plain_text(text: str) -> None:
    everything = mistune.create_markdown(escape=False, plugins=[
        "strikethrough", "mark", "insert", "superscript", "subscript", "footnotes", "table", "url", "abbr",
        "def_list", "math", "ruby", "task_lists", "spoiler",
    ])
    html = str(everything(f"{md_text(text)}\n"))
    for name in _BLOCKS + _INLINE:
        assert _count(html, name) == (len(re.findall(r"[$\\]", _DROPPED.sub("", text))) if name == "span" else 0), \
            (name, html[:500])
    assert _visible(BeautifulSoup(html, "html.parser").get_text()) == _visible(text)


def test_plain_text_is_unchanged_apart_from_punctuation() -> None:
    assert md_text("Plan") == "Plan"
    assert md_text("Ça va, très bien 😀") == "Ça va&#44; très bien 😀"
    assert md_text("") == "" and md_text(None) == "None" and md_text(3.5) == "3&#46;5"
    assert md_text("a\nb") == "a b"
    assert md_text("  x  ") == "&#32;&#32;x&#32;&#32;"


def test_code_style_is_safe_too() -> None:
    html = _nbconvert(f"By {md_code('[x](http://127.0.0.1:9/x) `y`')}")
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("a") is None and len(soup.find_all("code")) == 1
    assert soup.find("code").get_text() == "[x](http://127.0.0.1:9/x) `y`"


def test_long_text_is_escaped_in_linear_time() -> None:
    text = "[x](http://a) " * 100_000
    assert len(md_text(text)) > len(text)


# --- through the whole renderer: a notebook's Markdown outputs -----------------------------------------------


def test_a_notebook_showing_escaped_text_has_no_link_and_reads_the_same() -> None:
    outputs = [new_output("display_data", data={"text/markdown": f"## {md_text(t)}\n\n**{md_text(t)}**",
                                                "text/plain": "md"}) for t in HOSTILE]
    nb = new_notebook(cells=[new_code_cell("show()", outputs=outputs)], metadata={
        "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}})
    html = render_component_html(nb)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("a") is None and soup.find("img") is None and soup.find("code") is None
    assert "127.0.0.1:9" in soup.get_text()
    headings = [_visible(h.get_text()) for h in soup.find_all("h2")]
    assert headings == [_visible(t) for t in HOSTILE]


# --- matplotlib ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["$x^2$", "price $5 and $6", r"\$ already", r"$\frac{$", "$$", "plain"])
def test_chart_text_is_never_mathtext(text: str) -> None:
    fig = Figure()
    label = fig.text(0, 0, mpl_text(text))
    assert label._preprocess_math(label.get_text()) == (text, False)  # drawn as typed, not as a formula
    fig.savefig(io.BytesIO(), format="png")  # no mathtext error either


def test_unescaped_dollars_would_be_mathtext() -> None:
    fig = Figure()
    label = fig.text(0, 0, r"$\frac{$")
    with pytest.raises(ValueError):
        fig.savefig(io.BytesIO(), format="png")
    assert label._preprocess_math("$x^2$")[1] is True


# --- the notebooks use it --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_escape_for_markdown_not_only_for_html(path: object) -> None:
    nb = nbformat.read(path, as_version=4)  # type: ignore[arg-type]
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "html.escape" not in code  # HTML escaping leaves Markdown links, autolinks and emphasis live
    if "Markdown(f" in code:
        assert "from workbench.rendering.markdown import" in code and "md_text(" in code


def test_chart_text_drops_bidirectional_overrides() -> None:
    # matplotlib lays text out bidirectionally: an override in an option would reverse the "(n=30)" after it
    assert mpl_text("Team \u202egnp.exe\u202c \u2067x\u2069 $5") == r"Team gnp.exe x \$5"
    assert mpl_text("مرحبا \u200f") == "مرحبا \u200f"  # right-to-left text and marks stay
