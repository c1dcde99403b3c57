"""render_component_html: code hidden, result JSON dropped, untrusted markup never live."""

from __future__ import annotations

import base64

import pytest
from bs4 import BeautifulSoup
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from workbench.rendering.html import MISSING_ALT, clean_untrusted_html, in_page_links_only, render_component_html
from workbench.results import RESULT_MIME

# A 1x1 PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
    )
).decode()


def _notebook(*cells: NotebookNode) -> NotebookNode:
    return new_notebook(cells=list(cells), metadata={
        "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
    })


def _display(data: dict) -> NotebookNode:
    return new_output("display_data", data=data)


def _assert_inert(html: str) -> None:
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None
    assert soup.find(["iframe", "object", "embed", "svg"]) is None
    for element in soup.find_all(True):
        for attr, value in element.attrs.items():
            assert not attr.lower().startswith("on"), (element.name, attr)
            if isinstance(value, str):
                assert not value.strip().lower().startswith("javascript:")


@pytest.fixture(scope="module")
def hostile_html() -> str:
    nb = _notebook(
        new_markdown_cell("Cell <script>alert('md-cell')</script> [x](javascript:alert(1))"),
        new_code_cell("secret_code_marker = 1", outputs=[
            _display({
                "text/html": "<b>answer</b><script>alert(1)</script><img src=x onerror=alert(1)>"
                             "<a href='javascript:alert(2)' onclick='alert(3)'>link</a>"
                             "<svg onload=alert(4)></svg><iframe src='https://evil.example'></iframe>",
                "text/plain": "html",
            }),
            _display({"text/markdown": "**md** <script>alert('md-output')</script>", "text/plain": "md"}),
            new_output("stream", name="stdout", text="<script>alert('stream')</script>\n"),
            _display({"application/javascript": "alert('js-output')", "text/plain": "js"}),
        ]),
    )
    return render_component_html(nb)


def test_no_live_script_or_handlers(hostile_html: str) -> None:
    _assert_inert(hostile_html)
    assert "<script" not in hostile_html.lower()
    assert "alert('js-output')" not in hostile_html


def test_hostile_text_survives_as_text_and_hostile_markup_goes(hostile_html: str) -> None:
    text = BeautifulSoup(hostile_html, "html.parser").get_text()
    # printed text is text: a reader sees what the answer said
    assert "<script>alert('stream')</script>" in text
    assert "answer" in text and "md" in text and "link" in text
    # markup a cell produced is sanitised by nh3: scripts go with their content, other disallowed tags are
    # unwrapped (their text stays)
    assert "alert('md-output')" not in hostile_html and "alert(1)" not in hostile_html
    assert "evil.example" not in hostile_html


def test_code_source_is_hidden(hostile_html: str) -> None:
    assert "secret_code_marker" not in hostile_html


def test_result_output_removed() -> None:
    nb = _notebook(new_code_cell("emit_result(...)", outputs=[
        new_output("stream", name="stdout", text="visible line\n"),
        _display({RESULT_MIME: {"response_count": 987654321}, "text/plain": "Workbench result with keys: x"}),
    ]))
    html = render_component_html(nb)
    assert "visible line" in html
    assert "987654321" not in html and "Workbench result" not in html
    assert len(nb.cells[0].outputs) == 2  # the caller's notebook is untouched


def test_images_embedded_as_data_uris() -> None:
    nb = _notebook(new_code_cell("plot()", outputs=[_display({"image/png": PNG, "text/plain": "<Figure>"})]))
    img = BeautifulSoup(render_component_html(nb), "html.parser").find("img")
    assert img is not None and img["src"].startswith("data:image/png;base64,")
    assert img["alt"] == MISSING_ALT  # as nbconvert says it of an image without a description
    described = _display({"image/png": PNG, "text/plain": "<Figure>"})
    described.metadata = {"image/png": {"alt": "Ratings by plan"}}  # as workbench.notebook.show_figure gives it
    page = BeautifulSoup(render_component_html(_notebook(new_code_cell("plot()", outputs=[described]))),
                         "html.parser")
    assert page.find("img").get("alt") == "Ratings by plan"


def test_tables_and_markdown_stay_readable() -> None:
    nb = _notebook(
        new_markdown_cell("## Results\n\nSome **bold** text."),
        new_code_cell("df", outputs=[new_output("execute_result", execution_count=1, data={
            "text/html": "<table class='dataframe'><thead><tr><th>q</th></tr></thead>"
                         "<tbody><tr><td>42</td></tr></tbody></table>",
            "text/plain": "df",
        })]),
    )
    soup = BeautifulSoup(render_component_html(nb), "html.parser")
    assert soup.find("h2").get_text() == "Results"
    assert soup.find("th").get_text() == "q" and soup.find("td").get_text() == "42"


def test_error_output_renders_without_ansi_codes() -> None:
    nb = _notebook(new_code_cell("1/0", outputs=[new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero",
        traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by zero <b>"],
    )]))
    html = render_component_html(nb)
    assert "\x1b" not in html and "[0;31m" not in html
    text = BeautifulSoup(html, "html.parser").get_text()
    assert "ZeroDivisionError: division by zero <b>" in text


def test_remote_images_and_data_links_dropped() -> None:
    cleaned = clean_untrusted_html("<img src='https://tracker.example/p.png'><a href='data:text/html,x'>y</a>")
    assert "tracker.example" not in cleaned and "data:text/html" not in cleaned


def test_dataframe_style_blocks_are_dropped_not_shown_as_text() -> None:
    import pandas as pd

    frame = pd.DataFrame({"answer": ['<script>alert("x")</script>', "fine"]})
    nb = new_notebook(metadata={"kernelspec": {"name": "workbench", "display_name": "W", "language": "python"}})
    cell = new_code_cell("frame")
    cell.outputs = [new_output("execute_result", data={"text/html": frame._repr_html_(), "text/plain": "frame"},
                               execution_count=1)]
    nb.cells = [cell]
    html = render_component_html(nb)
    assert "<table" in html and "<td>fine</td>" in html
    assert "dataframe tbody" not in html and "&lt;style" not in html
    assert "&lt;script&gt;" in html and "<script" not in html


def _frame_output(frame: object) -> NotebookNode:
    return _display({"text/html": frame._repr_html_(), "text/plain": repr(frame)})  # type: ignore[attr-defined]


def test_readers_see_no_analyst_cells_no_repeated_title_and_no_index_column() -> None:
    import pandas as pd

    quote = "The fit was perfect but the fabric pilled after two washes, which is disappointing."
    default = pd.DataFrame({"answer": [quote, "short"], "score": [0.1, -0.4]})
    named = pd.DataFrame({"n": [3, 4]}, index=pd.Index(["Free", "Pro"], name="plan"))
    with pd.option_context("display.max_colwidth", 200):  # as the notebooks set it
        outputs = [_frame_output(default), _frame_output(named)]
    analyst = new_markdown_cell("To run it yourself, open this notebook in JupyterLab.")
    analyst.metadata["tags"] = ["analyst"]
    nb = _notebook(
        new_markdown_cell("# Sentiment\n\nHow positive the answers are."),
        analyst,
        new_code_cell("display(df)", outputs=outputs),
    )
    html = render_component_html(nb)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("h1") is None and "How positive the answers are." in soup.get_text()
    assert "To run it yourself" not in html
    first, second = soup.find_all("table")
    # the default 0, 1 index is gone from body and header; the named index stays
    assert [th.get_text(strip=True) for th in first.find_all("th")] == ["answer", "score"]
    assert [c.get_text(strip=True) for c in first.find("tbody").find("tr").find_all(["th", "td"])] == [quote, "0.1"]
    assert "Free" in [th.get_text(strip=True) for th in second.find_all("th")]
    long_cell = first.find("td", string=quote)
    assert long_cell is not None and "text-align:left" in long_cell.get("style", "").replace(" ", "")
    assert first.find("td", string="short").get("style") is None
    assert first.find("thead").find("tr").get("style") is None  # pandas' right-aligned header row


def test_the_opening_text_becomes_a_folded_method_note() -> None:
    nb = _notebook(new_markdown_cell("# Sentiment\n\nHow the **scores** are made."),
                   new_code_cell("x", outputs=[new_output("stream", name="stdout", text="figures\n")]),
                   new_markdown_cell("## Later text"))
    soup = BeautifulSoup(render_component_html(nb), "html.parser")
    [note] = soup.find_all("details", class_="method")
    assert note.find("summary").get_text() == "About this section"
    assert "How the scores are made." in note.get_text() and note.find("strong") is not None
    assert "Later text" not in note.get_text() and "figures" not in note.get_text()
    # a section that opens with output has no note
    plain = render_component_html(_notebook(new_code_cell("x", outputs=[new_output("stream", name="stdout",
                                                                                    text="only\n")])))
    assert "<details" not in plain


def test_links_keep_in_page_anchors_only() -> None:
    cleaned = clean_untrusted_html(
        "<a href='#component-themes'>in page</a><a href='http://127.0.0.1:9/x'>web</a>"
        "<a href='https://evil.example/'>tls</a><a href='//evil.example/x'>scheme-relative</a>"
        "<a href='/reports'>site</a><a href='mailto:a@example.com'>mail</a><a href='JaVaScRiPt:alert(1)'>js</a>"
        "<a href=' #x'>spaced</a>"
    )
    soup = BeautifulSoup(cleaned, "html.parser")
    assert [a.get("href") for a in soup.find_all("a")] == ["#component-themes", None, None, None, None, None, None,
                                                          None]
    assert soup.get_text() == "in pagewebtlsscheme-relativesitemailjsspaced"  # the text stays


def test_markdown_links_in_outputs_and_cells_link_nowhere() -> None:
    nb = _notebook(
        new_markdown_cell("See [docs](http://127.0.0.1:9/docs), <http://127.0.0.1:9/auto> and "
                          "http://127.0.0.1:9/bare; [above](#results)."),
        new_code_cell("show()", outputs=[_display({
            "text/markdown": "[x](http://127.0.0.1:9/x) ![i](http://127.0.0.1:9/i.png) www.evil.example",
            "text/plain": "md",
        })]),
    )
    soup = BeautifulSoup(render_component_html(nb), "html.parser")
    assert [a.get("href") for a in soup.find_all("a") if a.get("href")] == ["#results"]
    assert soup.find("img") is None
    text = soup.get_text()
    assert "docs" in text and "http://127.0.0.1:9/bare" in text


def test_the_second_net_drops_link_targets_a_template_might_add() -> None:
    html = in_page_links_only('<a href="#top">up</a><a href="https://evil.example">out</a><area href="/x">')
    soup = BeautifulSoup(html, "html.parser")
    assert [a.get("href") for a in soup.find_all(["a", "area"])] == ["#top", None, None]
    assert soup.get_text() == "upout"


def test_the_reader_exporter_is_nbconverts_html_exporter_without_its_own_parse() -> None:
    """`_ReaderExporter` replays HTMLExporter.from_notebook_node up to the BeautifulSoup pass nbconvert makes over
    its result; that pass (alt texts for images, tab stops for JupyterLab cells) is what `render_component_html`
    does in its own parse. If a new nbconvert changes its exporter, this says so."""
    import pandas as pd
    from nbconvert import HTMLExporter

    from workbench.rendering.html import EXPORTER_SETTINGS, _ReaderExporter

    frame = pd.DataFrame({"answer": ["fine", "<b>bold</b>"], "score": [1, 2]})
    nb = _notebook(
        new_markdown_cell("# Title\n\nSome *text* and a [link](#x)."),
        new_code_cell("frame", outputs=[_frame_output(frame)]),
        new_code_cell("plot()", outputs=[_display({"image/png": PNG, "text/plain": "<Figure>"})]),
        new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="1\n")]),
    )
    settings = {"template_name": "basic", "optimistic_validation": True, **EXPORTER_SETTINGS}
    ours, _ = _ReaderExporter(**settings).from_notebook_node(nb)
    theirs, _ = HTMLExporter(**settings).from_notebook_node(nb)
    soup = BeautifulSoup(ours, "html.parser")
    for image in soup.find_all("img", alt=False):
        image["alt"] = MISSING_ALT
    assert str(soup) == theirs and MISSING_ALT in theirs
