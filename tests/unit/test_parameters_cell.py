"""The parameters cell's descriptions: a parameter's own comment, or the comment-only lines right above it."""

from __future__ import annotations

from workbench.components.parameters import parse_parameters_cell

CELL = '''snapshot_path: str = "data/x.json"  # the snapshot
# which engine scores the answers:
# minilm or vader
engine: str = "minilm"
top_n: int = 3  # answers quoted
segment_by: list[str] = []
'''


def test_descriptions_come_from_the_line_or_the_comment_block_above() -> None:
    described = {p.name: p.description for p in parse_parameters_cell(CELL).parameters}
    assert described == {
        "snapshot_path": "the snapshot",
        "engine": "which engine scores the answers: minilm or vader",  # not the snapshot's comment
        "top_n": "answers quoted",
        "segment_by": "",  # the line above has code: its comment belongs to top_n
    }
