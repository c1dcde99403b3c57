"""Helpers for code running inside component notebooks: load the snapshot, emit the result.

The snapshot comes as `snapshot.json` (what analysts read, and the bundled sample's format) and, in a report run,
as `snapshot.parquet` beside it: the same data in columns, written once from the JSON (`write_snapshot_parquet`).
`load_snapshot` prefers the Parquet sibling and reads only the columns a notebook asks for; its responses then
stay columns (`workbench.surveys.columnar.ResponseColumns`), records made only for code that iterates them.

The Parquet layout (`SNAPSHOT_FORMAT` 1; schema metadata `workbench.snapshot` describes the rest):

* `respondent_id` (string) and `started_at`, `completed_at`: the timestamps as their ISO 8601 text in the JSON,
  parsed by the same (pydantic) parser on load, so time zones and offsets come back as the JSON path gives them.
* One column per question key (named `answers.<key>` when the key is one of the names above), typed where every
  answer given has one JSON type: `string`, `int64` (ints in range), `float64`, `list<string>` (multi-choice);
  otherwise (mixed types, booleans, objects, a present `null`) each answer is its JSON text (`json`). A null
  cell is an unanswered question (the key is absent from the response's answers).
* `__extra_answers__` (JSON object text) when some response answers keys that are not questions, and
  `__answer_order__` (dictionary-encoded JSON lists) when some response lists its answers in another order than
  the survey's questions: the loaded answers are then equal to the JSON's, key order included.
* Schema metadata `workbench.survey`: the survey definition as JSON (validated on load; it is small).
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pydantic_core

from workbench import collector
from workbench.analysis.columns import answers_column, record_column
from workbench.results import emit_result
from workbench.surveys.columnar import ABSENT, EXTRA_COLUMN, ORDER_COLUMN, RECORD_COLUMNS, ResponseColumns
from workbench.surveys.schema import Snapshot, SnapshotSurvey, SurveyDefinition

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["emit_result", "load_result", "load_snapshot", "needed_questions", "responses_frame", "show_figure",
           "write_snapshot_parquet"]

SNAPSHOT_FORMAT = 1
META_KEY = b"workbench.snapshot"
SURVEY_KEY = b"workbench.survey"
INT64_RANGE = (-(2**63), 2**63 - 1)
# From these sizes on a loaded snapshot is frozen out of the cyclic collector (`_kept_out_of_collections`).
LARGE_ROWS = 50_000
LARGE_JSON_BYTES = 16 * 2**20

# Which questions a notebook needs: keys, or a function of the survey returning them (it runs before the answers
# are read, so it can depend on the survey's declared segments).
Questions = Iterable[str] | Callable[[SurveyDefinition], Iterable[str]]

_SNAPSHOT_FIELDS = frozenset(Snapshot.model_fields)


def parquet_sibling(path: str | Path) -> Path:
    """Where the Parquet form of the snapshot file `path` lives: same folder and stem, `.parquet`."""
    return Path(path).with_suffix(".parquet")


def load_snapshot(path: str | Path, questions: Questions | None = None) -> Snapshot:
    """Read a snapshot file (the pipeline's input, or the bundled sample).

    With a `.parquet` sibling written from this very JSON (same stem, as a report run writes; its recorded sha256
    is checked), that is read instead: only the columns of `questions` and of the questions their skip logic
    (`required_if`) depends on, and without validating every response again (they were validated at import).
    Otherwise the JSON is read and validated.

    Args:
        path: The snapshot's JSON file (or its `.parquet` file).
        questions: Question keys whose answers are needed, or a function of the survey returning them; None: all.
            Answers to other questions are left out of the responses, whichever file is read, so a notebook
            behaves the same on the bundled sample as in a report run. Unknown keys are ignored.

    Returns:
        The snapshot; without `questions`, equal to `Snapshot.model_validate_json` of the JSON file.
    """
    path = Path(path)
    if path.suffix == ".parquet":
        return read_snapshot_parquet(path, questions)
    sibling = parquet_sibling(path)
    if sibling.is_file() and parquet_json_sha256(sibling) == _sha256(path):  # not one left from other data
        return read_snapshot_parquet(sibling, questions)
    with collector.paused(), _kept_out_of_collections(path.stat().st_size >= LARGE_JSON_BYTES):
        snapshot = Snapshot.model_validate_json(path.read_bytes())
        if questions is not None:
            wanted = needed_questions(snapshot.survey, questions)
            for record in snapshot.responses:
                answers = record.answers
                if any(k not in wanted for k in answers):
                    record.__dict__["answers"] = {k: v for k, v in answers.items() if k in wanted}
    return snapshot


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def needed_questions(survey: SurveyDefinition, questions: Questions) -> set[str]:
    """The keys of `questions` plus every question their `asked` conditions name (transitively)."""
    chosen = questions(survey) if callable(questions) else questions
    keys = {chosen} if isinstance(chosen, str) else set(chosen)  # a lone key, not its letters
    by_key = {q.key: q for q in survey.questions}
    pending = list(keys)
    while pending:
        question = by_key.get(pending.pop())
        condition = question.required_if if question is not None else None
        if condition is not None and condition.question not in keys:
            keys.add(condition.question)
            pending.append(condition.question)
    return keys


@contextmanager
def _kept_out_of_collections(large: bool) -> Iterator[None]:
    """A large snapshot is the kernel's long-lived data: the cyclic collector's full passes would walk its million
    objects again and again while the analyses run (a second each at 200,000 responses), so what is alive once it
    is loaded is frozen (`gc.freeze`), after collecting what was garbage before. Reference counting still frees it
    (responses hold no cycles); small snapshots (tests, the sample) leave the collector alone."""
    if large:
        gc.collect()
    yield
    if large:
        gc.freeze()


def load_result(path: str | Path) -> dict[str, Any]:
    """Read an upstream component's result (the pipeline passes its path as `<component>_result_path`)."""
    result = json.loads(Path(path).read_text())
    if not isinstance(result, dict):
        raise ValueError(f"{path} does not hold a component result (a JSON object)")
    return result


def responses_frame(snapshot: Snapshot, questions: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per response: `respondent_id`, `started_at`, `completed_at` (UTC, NaT if unfinished),
    `completed` (bool), then one column per question key (None where not answered; lists for multi-choice).

    `questions`: the question keys to make columns of, in survey order (None: every question; `()`: none, the
    response columns alone, which is all some notebooks need of a large survey).
    """
    chosen = None if questions is None else {questions} if isinstance(questions, str) else set(questions)
    keys = [q.key for q in snapshot.survey.questions if chosen is None or q.key in chosen]
    responses = snapshot.responses
    columns = {  # column by column: one dict per row would cost twice as much
        **{name: record_column(snapshot, name) for name in ("respondent_id", "started_at", "completed_at")},
        **{k: answers_column(snapshot, k) for k in keys},
    }
    names = ["respondent_id", "started_at", "completed_at", *keys]
    frame = pd.DataFrame(columns if responses else [], columns=names)  # no rows: object columns, as ever
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    frame["completed_at"] = pd.to_datetime(frame["completed_at"], utc=True)
    frame.insert(3, "completed", frame["completed_at"].notna())
    return frame


def show_figure(fig: Any, alt: str) -> None:
    """Display a matplotlib figure as a PNG with alternative text, then free it.

    A PNG shows the same in JupyterLab and in the pipeline whatever the backend (the kernel uses `agg`); the
    alt text describes the chart in the report page and to screen readers."""
    from IPython.display import Image, display
    from matplotlib import pyplot

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    pyplot.close(fig)  # a no-op for figures pyplot does not manage
    display(Image(data=buffer.getvalue(), format="png"), metadata={"image/png": {"alt": alt}})


# --- the Parquet form ---------------------------------------------------------------------------------------


def _answer_column(key: str) -> str:
    return f"answers.{key}" if key in RECORD_COLUMNS or key in (EXTRA_COLUMN, ORDER_COLUMN) else key


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class _Kinds:
    """What the answers to one question seen so far are, to choose its column's encoding."""

    __slots__ = ("types", "low", "high", "all_texts")

    def __init__(self) -> None:
        self.types: set[type] = set()
        self.low, self.high = 0, 0  # of the ints seen (0 is in range either way)
        self.all_texts = True  # every list holds only strings

    def see(self, values: list[Any]) -> None:
        present = [v for v in values if v is not ABSENT]
        if not present:
            return
        types = {type(v) for v in present}
        if int in types:
            ints = [v for v in present if type(v) is int]
            self.low, self.high = min(self.low, *ints), max(self.high, *ints)
        if list in types and self.all_texts:
            self.all_texts = all(type(x) is str for v in present if type(v) is list for x in v)
        self.types |= types

    @property
    def encoding(self) -> str:
        if self.types <= {str}:
            return "string"
        if self.types == {int} and INT64_RANGE[0] <= self.low and self.high <= INT64_RANGE[1]:
            return "int64"
        if self.types == {float}:
            return "float64"
        if self.types == {list} and self.all_texts:
            return "strings"
        return "json"


def _encode(encoding: str, values: list[Any]) -> pa.Array:
    """One question's answers (ABSENT where unanswered) as a column of `encoding` (what `_Kinds` chose)."""
    import pyarrow as pa

    if encoding == "json":
        return pa.array([None if v is ABSENT else _json_text(v) for v in values], pa.large_string())
    cells = [None if v is ABSENT else v for v in values]
    return pa.array(cells, {"string": pa.large_string(), "int64": pa.int64(), "float64": pa.float64(),
                            "strings": pa.list_(pa.large_string())}[encoding])


def snapshot_table(json_bytes: bytes, spans: Iterable[tuple[int, int]] | None = None) -> pa.Table:
    """The Parquet table of a snapshot JSON document (as `Snapshot.model_dump_json` writes it).

    With `spans` (where each slice of responses lies in the document, `SnapshotJson.spans`), the responses are
    parsed a slice at a time, twice (the first pass chooses each question's encoding, the second builds the
    columns), instead of all at once: parsed whole, a survey of 200,000 answers took several times the
    document's size as Python objects. The table is the same either way."""
    import pyarrow as pa

    ranges = list(spans or ())
    slices: Callable[[], Iterator[list[Any]]]
    if ranges:  # the document up to its first response, closed: the survey (parsed alone, it is small)
        survey = pydantic_core.from_json(json_bytes[:ranges[0][0]] + b"]}")["survey"]

        def slices() -> Iterator[list[Any]]:  # parsed afresh on each pass
            return (pydantic_core.from_json(b"[" + json_bytes[start:end] + b"]") for start, end in ranges)
    else:  # one slice: the whole document, parsed once for both passes
        data = pydantic_core.from_json(json_bytes)
        survey, whole = data["survey"], data["responses"]

        def slices() -> Iterator[list[Any]]:
            return iter([whole])
    keys = [q["key"] for q in survey["questions"]]
    known = set(keys)
    kinds = {key: _Kinds() for key in keys}
    rows = 0
    for responses in slices():
        rows += len(responses)
        answers = [r.get("answers") or {} for r in responses]
        for key in keys:
            kinds[key].see([row.get(key, ABSENT) for row in answers])
        del responses, answers
    encodings = {key: kinds[key].encoding for key in keys}

    chunks: dict[str, list[pa.Array]] = {name: [] for name in [*RECORD_COLUMNS, *map(_answer_column, keys)]}
    # Per distinct key sequence (few: one per answering pattern): is it in question order, and its extra keys.
    shapes: dict[tuple[str, ...], tuple[str | None, tuple[str, ...]]] = {}
    orders: list[str | None] = []
    extras: list[str | None] = []
    for responses in slices():
        for name in RECORD_COLUMNS:
            chunks[name].append(pa.array([r.get(name) for r in responses], pa.large_string()))
        answers = [r.get("answers") or {} for r in responses]
        del responses
        for row in answers:
            sequence = tuple(row)
            shape = shapes.get(sequence)
            if shape is None:
                extra = tuple(k for k in sequence if k not in known)
                canonical = tuple(k for k in keys if k in row) + extra
                shape = shapes[sequence] = (None if canonical == sequence else _json_text(list(sequence)), extra)
            orders.append(shape[0])
            extras.append(_json_text({k: row[k] for k in shape[1]}) if shape[1] else None)
        for key in keys:
            chunks[_answer_column(key)].append(_encode(encodings[key], [row.get(key, ABSENT) for row in answers]))
        del answers
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: pieces[0] if len(pieces) == 1 else pa.chunked_array(pieces) for name, pieces in chunks.items()}
    if any(e is not None for e in extras):
        columns[EXTRA_COLUMN] = pa.array(extras, pa.large_string())
    if any(o is not None for o in orders):
        columns[ORDER_COLUMN] = pa.array(orders, pa.large_string()).dictionary_encode()
    meta = {
        "format": SNAPSHOT_FORMAT,
        "rows": rows,
        "json_sha256": hashlib.sha256(json_bytes).hexdigest(),
        "questions": [{"key": k, "column": _answer_column(k), "encoding": encodings[k]} for k in keys],
        "extra_answers": EXTRA_COLUMN in columns,
        "answer_order": ORDER_COLUMN in columns,
    }
    schema = pa.schema([pa.field(name, array.type) for name, array in columns.items()],
                       metadata={META_KEY: _json_text(meta).encode(), SURVEY_KEY: _json_text(survey).encode()})
    return pa.Table.from_arrays(list(columns.values()), schema=schema)


def write_snapshot_parquet(json_bytes: bytes, path: str | Path, reuse: Iterable[str | Path] = (),
                           spans: Iterable[tuple[int, int]] | None = None) -> Path:
    """Write the Parquet form of a snapshot JSON document to `path` (atomically: a reader never sees half of it).

    `json_bytes` must be what `Snapshot.model_dump_json` wrote for a validated snapshot (the report's
    `snapshot.json`): the Parquet form is read back without validating the responses again. A file of `reuse`
    written from the same JSON (its recorded sha256 matches) is hard-linked instead, when the file system allows.
    `spans`: as for `snapshot_table`.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    digest = hashlib.sha256(json_bytes).hexdigest()
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        for candidate in reuse:
            if Path(candidate) != path and parquet_json_sha256(candidate) == digest:
                try:
                    os.link(candidate, partial)
                except OSError:
                    continue  # removed meanwhile, or another file system
                os.replace(partial, path)
                return path
        with collector.paused():
            table = snapshot_table(json_bytes, spans)
        pq.write_table(table, partial, compression="zstd")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def parquet_json_sha256(path: str | Path) -> str | None:
    """The sha256 of the JSON a snapshot Parquet file was written from (its footer only), or None."""
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
        return str(json.loads(metadata[META_KEY])["json_sha256"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def read_snapshot_parquet(path: str | Path, questions: Questions | None = None) -> Snapshot:
    """Read a snapshot's Parquet form (see the module docstring); `questions` as in `load_snapshot`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    metadata = file.schema_arrow.metadata or {}
    meta = json.loads(metadata[META_KEY])
    if meta.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"{path}: unknown snapshot format {meta.get('format')!r}")
    survey = SnapshotSurvey.model_validate_json(metadata[SURVEY_KEY])
    wanted = None if questions is None else needed_questions(survey, questions)
    stored = [q for q in meta["questions"] if wanted is None or q["key"] in wanted]
    columns = [*RECORD_COLUMNS, *(q["column"] for q in stored)]
    extra = meta["extra_answers"] and (wanted is None or bool(wanted - {q["key"] for q in meta["questions"]}))
    columns += [EXTRA_COLUMN] * extra + [ORDER_COLUMN] * meta["answer_order"]
    # One thread, then the pool's unused pages back: reading threads and decompression buffers held twice the
    # table's size in the allocator's arenas for the rest of the kernel's life.
    table = file.read(columns=columns, use_threads=False)
    pa.default_memory_pool().release_unused()
    with collector.paused(), _kept_out_of_collections(table.num_rows >= LARGE_ROWS):
        responses = ResponseColumns(table, stored, wanted)
    snapshot = Snapshot.__new__(Snapshot)
    object.__setattr__(snapshot, "__dict__", {"survey": survey, "responses": responses})
    object.__setattr__(snapshot, "__pydantic_fields_set__", set(_SNAPSHOT_FIELDS))
    object.__setattr__(snapshot, "__pydantic_extra__", None)
    object.__setattr__(snapshot, "__pydantic_private__", None)
    return snapshot
