"""Executed notebook -> sanitized HTML fragment for embedding in the report page.

Notebook outputs can carry survey answers, which are untrusted: every piece of HTML or Markdown that comes
from an output or a cell goes through `clean_untrusted_html`, and a last pass removes anything active that
a template change might let through. Links keep only in-page `#anchor` targets: a report links nowhere else.
(Survey text is also escaped for Markdown before a notebook displays it: `workbench.rendering.markdown`.)
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

import nh3
from bs4 import BeautifulSoup, NavigableString, Tag
from nbconvert import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode

from workbench.results import RESULT_MIME

# nbconvert's own `clean_html` allows so few tags that DataFrame tables and Markdown headings/paragraphs
# come out as escaped text; this list keeps readable document markup and nothing that can run or load.
_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "details",
    "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
_COMMON_ATTRS = frozenset({"class", "id", "title", "lang", "dir", "style"})
_TAG_ATTRS = {
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "table": {"border"},
    "ol": {"start"},
}
_ATTRIBUTES = {"*": set(_COMMON_ATTRS), **{tag: set(names) for tag, names in _TAG_ATTRS.items()}}
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,", re.IGNORECASE)
# Inline styles keep layout and emphasis only: nothing that loads (url()) or positions over the page.
_CSS_PROPERTIES = frozenset({
    "background-color", "border", "border-bottom", "border-collapse", "border-color", "border-left",
    "border-right", "border-style", "border-top", "border-width", "color", "font-size", "font-style",
    "font-weight", "height", "margin", "margin-bottom", "margin-left", "margin-right", "margin-top", "max-width",
    "min-width", "padding", "padding-bottom", "padding-left", "padding-right", "padding-top", "text-align",
    "text-decoration", "vertical-align", "white-space", "width", "word-break",
})
_ACTIVE_TAGS = ("script", "iframe", "frame", "object", "embed", "base", "meta", "link", "form", "svg", "math")
_URL_ATTRS = ("href", "src", "action", "formaction", "xlink:href")


def _in_page(href: str) -> bool:
    # "#section" only: a link to another page, site or scheme (http:, //host, /path, mailto:, data:, javascript:)
    # is nothing a report's reader needs, and in the PDF it would be a live link annotation.
    return href.startswith("#")


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    """nh3's per-attribute check after its allowlists: None drops the attribute."""
    if tag == "img" and name == "src":
        # Only inline images: a remote src would make the browser (or the PDF renderer) fetch a URL.
        return value if _DATA_IMAGE.match(value) else None
    if tag == "a" and name == "href":
        return value if _in_page(value) else None
    return value


def clean_untrusted_html(html: Any) -> str:
    """Sanitize HTML from a notebook cell or output with nh3: disallowed tags are removed (their text stays,
    as text), scripts and style blocks go with their content, and attributes, URLs and inline CSS are
    allowlisted: links keep in-page `#anchor` targets only, images inline `data:` ones. Nothing in the result can
    run, load or link away."""
    text = html.decode() if isinstance(html, bytes) else str(html)
    return nh3.clean(
        text,
        tags=set(_TAGS),
        # pandas puts a <style scoped> block before every DataFrame: dropped with its content, not shown.
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        url_schemes={"data"},  # inline images; links are in-page (`_in_page`)
        strip_comments=True,
        link_rel="noopener noreferrer",
        filter_style_properties=set(_CSS_PROPERTIES),
    )


def strip_active_content(html: str) -> str:
    """Remove script-capable elements, event handlers and javascript: URLs from a finished document."""
    soup = BeautifulSoup(html, features="html.parser")
    _strip_active(soup)
    return str(soup)


def _strip_active(soup: BeautifulSoup) -> None:
    for element in soup.find_all(_ACTIVE_TAGS):
        element.decompose()
    for element in soup.find_all("img"):
        if not element.get("src"):
            element.decompose()  # its src was unsafe and removed; a broken image says nothing useful
    for element in soup.find_all(True):
        for attr in list(element.attrs):
            value = element.attrs[attr]
            lowered = attr.lower()
            if lowered.startswith("on") or lowered == "srcdoc":
                del element.attrs[attr]
            elif lowered in _URL_ATTRS and isinstance(value, str):
                if re.sub(r"[\s\x00-\x1f]", "", value).lower().startswith(("javascript:", "vbscript:")):
                    del element.attrs[attr]


ANALYST_TAG = "analyst"  # cells for people running the notebook, not for readers of the report
LONG_TEXT = 40  # characters: a table cell this long is prose (a quote), left-aligned and wrapped


def _reader_tables(soup: BeautifulSoup) -> None:
    """Pandas tables as a reader wants them: no 0, 1, 2 ... index column (a default RangeIndex carries nothing),
    no right-aligned header, long text cells left-aligned and wrapped. On the whole sanitized document, where
    the tables keep pandas' `dataframe` class and header style."""
    for table in soup.find_all("table", class_="dataframe"):
        body = table.find("tbody")
        rows = body.find_all("tr", recursive=False) if body else []
        first = [row.find(["th", "td"], recursive=False) for row in rows]
        if rows and all(c is not None and c.name == "th" and c.get_text(strip=True) == str(i)
                        for i, c in enumerate(first)):
            for cell in first:
                _remove(cell)  # type: ignore[arg-type]
            head = table.find("thead")
            for row in head.find_all("tr") if head else []:
                corner = row.find(["th", "td"], recursive=False)
                if corner is not None:
                    _remove(corner)
        for head in table.find_all("thead", recursive=False):
            for row in head.find_all("tr", style=True):
                del row["style"]
        for cell in table.find_all("td"):
            if len(cell.get_text()) > LONG_TEXT:
                cell["style"] = "text-align:left;white-space:normal;word-break:break-word"


def _remove(element: Tag) -> None:
    """Remove an element with the line break before it (as if it had never been in the source)."""
    before = element.previous_sibling
    if isinstance(before, NavigableString) and not before.strip():
        before.extract()
    element.decompose()


def _without_title(source: str) -> str:
    """A markdown cell without its leading `# Title` line: the report heads each section with the title."""
    lines = source.lstrip().split("\n")
    if lines and lines[0].startswith("# "):
        return "\n".join(lines[1:]).lstrip("\n")
    return source


class ReaderView(Preprocessor):
    """What readers see of an executed notebook: no result JSON output, no cells tagged `analyst`, no repeated
    `# Title` (pandas tables lose their index column after the export: `_reader_tables`)."""

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> Any:
        nb.cells = [c for c in nb.cells if ANALYST_TAG not in c.get("metadata", {}).get("tags", [])]
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict[str, Any], index: int) -> Any:
        if cell.get("cell_type") == "markdown":
            cell.source = _without_title(cell.source)
        elif cell.get("cell_type") == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if RESULT_MIME not in o.get("data", {})]
        return cell, resources


# Settings shared with the PDF exporter: hide code, sanitize untrusted output, use our allowlist.
EXPORTER_SETTINGS: dict[str, Any] = {
    "exclude_input": True,
    "exclude_input_prompt": True,
    "exclude_output_prompt": True,
    "exclude_anchor_links": True,
    "sanitize_html": True,
    # Not `embed_images`: it inlines files named by Markdown image links, and an answer in a Markdown
    # output could name a local file. Output images (png/jpeg) are always inlined as data: URIs anyway.
    "embed_images": False,
    "filters": {"clean_html": clean_untrusted_html},
}

_lock = threading.Lock()
MISSING_ALT = "No description has been provided for this image"  # nbconvert's words for an image without one


class _ReaderExporter(HTMLExporter):
    """nbconvert's HTML exporter without its own parse and serialisation of the result, which only adds alt texts
    to images (`render_component_html` does that in its one pass) and tab stops to JupyterLab's cells (the basic
    template has none): about a third of the rendering's time."""

    def from_notebook_node(  # type: ignore[override]
        self, nb: NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        # HTMLExporter.from_notebook_node up to its BeautifulSoup pass.
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self))
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                 resources=resources)
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        return TemplateExporter.from_notebook_node(self, nb, resources, **kw)


@lru_cache(maxsize=1)
def _exporter() -> HTMLExporter:
    # Building an exporter loads templates and CSS (slow); one per process is enough.
    # Validated once after all preprocessors, not after each of them (a dozen schema checks per component).
    exporter = _ReaderExporter(template_name="basic", optimistic_validation=True, **EXPORTER_SETTINGS)
    exporter.register_preprocessor(ReaderView, enabled=True)
    return exporter


def render_component_html(nb: NotebookNode) -> str:
    """Render an executed component notebook as a sanitized HTML fragment (no code, no result JSON).

    Args:
        nb: The executed notebook; it is not modified.

    Returns:
        A body fragment without `<script>` elements or event-handler attributes.
    """
    # The exporter registers per-call filters on shared state, so calls are serialised.
    with _lock:
        body, _ = _exporter().from_notebook_node(nb)
    # One parse for all the passes (parsing and serialising are most of the rendering's time).
    soup = BeautifulSoup(body, "html.parser")
    _strip_active(soup)
    for image in soup.find_all("img", alt=False):
        image["alt"] = MISSING_ALT
    _in_page_links(soup)
    _method_note(soup)
    _reader_tables(soup)
    return str(soup)


def in_page_links_only(html: str) -> str:
    """Drop every link target but an in-page `#anchor` from a component's HTML (the link's text stays): a second
    net behind `clean_untrusted_html` for links the exporter's template might add."""
    if "href" not in html:
        return html
    soup = BeautifulSoup(html, "html.parser")
    _in_page_links(soup)
    return str(soup)


def _in_page_links(soup: BeautifulSoup) -> None:
    for element in soup.find_all(href=True):
        if not _in_page(str(element["href"])):
            del element["href"]


METHOD_NOTE = '<details class="method">'


def method_note(html: str) -> str:
    """Fold the section's opening text (the notebook's first markdown cell: what it computes and how to read it)
    into a collapsible "About this section" note, so the figures come first; the PDF prints it open."""
    soup = BeautifulSoup(html, "html.parser")
    return str(soup) if _method_note(soup) else html


def _method_note(soup: BeautifulSoup) -> bool:
    """`method_note` on a parsed document; False when the section does not open with text (left as it is)."""
    first = soup.find(class_="text_cell_render")
    cell = first.find_parent(class_="cell") if first is not None else None
    if first is None or cell is None or cell.find_previous_sibling(class_="cell") is not None:
        return False
    details = soup.new_tag("details", attrs={"class": "method"})
    summary = soup.new_tag("summary")
    summary.string = "About this section"
    details.append(summary)
    for child in list(first.children):
        details.append(child.extract())
    first.append(details)
    return True
