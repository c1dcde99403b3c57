"""A snapshot's responses kept as the columns of its Parquet form, records made only when asked for.

`ResponseColumns` is what `workbench.notebook.read_snapshot_parquet` puts in `Snapshot.responses`: a read-only
sequence of `ResponseRecord` that holds the Arrow table instead of one validated object (and answers dict) per
response, which cost about 1.5 KB a response (300 MB for 200,000, in each kernel) whatever a notebook read.
The analyses read it a column at a time (`answers`, `field`; `workbench.analysis.columns` uses them), so they
never build the records; code that iterates the responses gets records built a few thousand at a time, equal to
the ones the JSON gives. Only the three record fields are kept as Python objects (parsed once).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, overload

import pydantic_core
from pydantic import TypeAdapter

from workbench.surveys.schema import ResponseRecord

if TYPE_CHECKING:
    import pyarrow as pa

RECORD_COLUMNS = ("respondent_id", "started_at", "completed_at")
EXTRA_COLUMN = "__extra_answers__"
ORDER_COLUMN = "__answer_order__"
ENCODINGS = ("string", "int64", "float64", "strings", "json")
RECORDS_AT_ONCE = 4096  # records built per step of an iteration: bounded memory, few Arrow calls

_TIMES: TypeAdapter[list[datetime | None]] = TypeAdapter(list[datetime | None])
_RECORD_FIELDS = frozenset(ResponseRecord.model_fields)


class _Absent:
    """An unanswered question in a decoded column (None can be an answer of a `json` column)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT: Any = _Absent()


def decode_column(column: pa.ChunkedArray | pa.Array, encoding: str) -> list[Any]:
    """A question's column as Python answers, ABSENT where unanswered."""
    cells = column.to_pylist()
    if encoding == "json":
        present = [c for c in cells if c is not None]
        values = iter(pydantic_core.from_json("[" + ",".join(present) + "]") if present else [])
        return [ABSENT if c is None else next(values) for c in cells]
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown answer encoding {encoding!r}")
    if column.null_count:
        return [ABSENT if c is None else c for c in cells]
    return cells


def make_record(fields: dict[str, Any]) -> ResponseRecord:
    """What `ResponseRecord.model_construct` builds, without its per-call overhead (fields already valid)."""
    record = ResponseRecord.__new__(ResponseRecord)
    object.__setattr__(record, "__dict__", fields)
    object.__setattr__(record, "__pydantic_fields_set__", set(_RECORD_FIELDS))
    object.__setattr__(record, "__pydantic_extra__", None)
    object.__setattr__(record, "__pydantic_private__", None)
    return record


class ResponseColumns(Sequence[ResponseRecord]):
    """The responses of a snapshot as columns (see the module docstring).

    Args:
        table: The Parquet snapshot's columns read: the record columns, the stored questions' columns, and the
            extra-answers and answer-order columns when the file has them and they are needed.
        questions: The stored questions read, in survey order: `{"key", "column", "encoding"}` each.
        wanted: The answer keys a record carries (None: all), as `load_snapshot`'s `questions` chose them.
    """

    def __init__(self, table: pa.Table, questions: list[dict[str, str]], wanted: set[str] | None) -> None:
        self._table = table
        self._questions = {q["key"]: q for q in questions}
        self._wanted = wanted
        self._extra = EXTRA_COLUMN in table.column_names
        self._order = ORDER_COLUMN in table.column_names
        self._fields = {
            "respondent_id": table.column("respondent_id").to_pylist(),
            "started_at": _TIMES.validate_python(table.column("started_at").to_pylist()),
            "completed_at": _TIMES.validate_python(table.column("completed_at").to_pylist()),
        }

    def __len__(self) -> int:
        return int(self._table.num_rows)

    def field(self, name: str) -> list[Any]:
        """Every response's `respondent_id`, `started_at` or `completed_at` (the list kept: do not change it)."""
        return self._fields[name]

    def answers(self, key: str) -> list[Any]:
        """Every response's answer to `key`, None where not answered (`record.answers.get(key)` of each)."""
        question = self._questions.get(key)
        if question is not None:
            return [None if v is ABSENT else v for v in decode_column(self._table.column(question["column"]),
                                                                      question["encoding"])]
        if self._extra and (self._wanted is None or key in self._wanted):
            return [None if text is None else pydantic_core.from_json(text).get(key)
                    for text in self._table.column(EXTRA_COLUMN).to_pylist()]
        return [None] * len(self)

    def _records(self, start: int, stop: int) -> list[ResponseRecord]:
        table = self._table.slice(start, stop - start)
        keys = list(self._questions)
        values = [decode_column(table.column(q["column"]), q["encoding"]) for q in self._questions.values()]
        if keys:
            answers = [{k: v for k, v in zip(keys, row, strict=True) if v is not ABSENT}
                       for row in zip(*values, strict=True)]
        else:
            answers = [{} for _ in range(stop - start)]
        if self._extra:
            for row, text in zip(answers, table.column(EXTRA_COLUMN).to_pylist(), strict=True):
                if text is not None:
                    row.update((k, v) for k, v in pydantic_core.from_json(text).items()
                               if self._wanted is None or k in self._wanted)
        if self._order:
            for i, text in enumerate(table.column(ORDER_COLUMN).to_pylist()):
                if text is not None:
                    row = answers[i]
                    answers[i] = {k: row[k] for k in pydantic_core.from_json(text) if k in row}
        ids, started, completed = (self._fields[name][start:stop] for name in RECORD_COLUMNS)
        return [make_record({"respondent_id": i, "started_at": s, "completed_at": c, "answers": a})
                for i, s, c, a in zip(ids, started, completed, answers, strict=True)]

    def __iter__(self) -> Iterator[ResponseRecord]:
        for start in range(0, len(self), RECORDS_AT_ONCE):
            yield from self._records(start, min(len(self), start + RECORDS_AT_ONCE))

    @overload
    def __getitem__(self, index: int) -> ResponseRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[ResponseRecord]: ...

    def __getitem__(self, index: int | slice) -> ResponseRecord | list[ResponseRecord]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step == 1:
                return self._records(start, max(start, stop))
            return [self[i] for i in range(start, stop, step)]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError("response index out of range")
        return self._records(position, position + 1)[0]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ResponseColumns | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a sequence compared by content, as a list

    def __repr__(self) -> str:
        return f"<ResponseColumns: {len(self)} responses>"
