"""The snapshot's Parquet form: written beside snapshot.json, read back equal to the JSON, column by column."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import os
import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench import notebook
from workbench.analysis.columns import answers_column, record_column
from workbench.analysis.stats import basic_stats
from workbench.components import SNAPSHOT_PARAMETER, components
from workbench.notebook import (
    EXTRA_COLUMN,
    ORDER_COLUMN,
    load_snapshot,
    needed_questions,
    parquet_json_sha256,
    responses_frame,
    write_snapshot_parquet,
)
from workbench.reports import steps
from workbench.storage import surveys as survey_store
from workbench.surveys import columnar as columnar_module
from workbench.surveys.columnar import ResponseColumns
from workbench.surveys.schema import Snapshot

SAMPLE = Path(__file__).resolve().parents[2] / "notebooks" / "data" / "sample_survey.json"

QUESTIONS: list[dict[str, Any]] = [
    {"key": "nps", "type": "nps", "text": "Recommend?"},
    {"key": "rating", "type": "rating", "text": "Rate us"},
    {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["Free", "Pro", "Émoji 🚀"]},
    {"key": "tools", "type": "multi_choice", "text": "Tools?", "options": ["x", "y", "z"]},
    {"key": "why_pro", "type": "text", "text": "Why Pro?", "required_if": {"question": "plan", "in": ["Pro"]}},
    {"key": "comment", "type": "text", "text": "Comment"},
    {"key": "seats", "type": "numeric", "text": "Seats"},
    {"key": "since", "type": "date", "text": "Customer since"},
    {"key": "started_at", "type": "text", "text": "A question keyed like a record column"},
    {"key": "level", "type": "ordinal", "text": "Level", "options": ["low", "mid", "high"]},
]

HOSTILE_TEXT = 'x</script><script>alert("x")</script>\n\t"quoted" \\ back\u2028slash \x00 NUL 👍🏽 Ünïcödé'


def write_inputs(session: Any, report: Any, spec: Any, work_dir: Path) -> Any:
    """What a component run writes before its first cell: the upstream results, then the linked snapshot."""
    inputs = steps._upstream_inputs(session, report, spec, work_dir)
    return dataclasses.replace(inputs, snapshot_sha256=steps._link_snapshot(session, report.id, work_dir))


def _document(snapshot: Snapshot, rows_at_once: int = 2) -> survey_store.SnapshotJson:
    """The snapshot's JSON as a worker writes it: a slice of `rows_at_once` responses at a time."""
    responses = snapshot.responses
    return survey_store.snapshot_json(snapshot.survey.model_dump(mode="json"), (
        responses[start:start + rows_at_once] for start in range(0, len(responses), rows_at_once)))


def _write(tmp_path: Path, data: dict[str, Any], name: str = "snapshot") -> tuple[Path, bytes]:
    """Write snapshot.json as the pipeline does (from a validated snapshot) and its Parquet sibling."""
    folder = tmp_path / name
    folder.mkdir()
    json_bytes = Snapshot.model_validate(data).model_dump_json().encode()
    path = folder / "snapshot.json"
    path.write_bytes(json_bytes)
    write_snapshot_parquet(json_bytes, folder / "snapshot.parquet")
    return path, json_bytes


def _json_path(path: Path, questions: Any = None) -> Snapshot:
    """What load_snapshot gives without the Parquet sibling."""
    alone = path.parent / "json-only"
    alone.mkdir(exist_ok=True)
    (alone / path.name).write_bytes(path.read_bytes())
    return load_snapshot(alone / path.name, questions)


def _assert_same(parquet: Snapshot, expected: Snapshot) -> None:
    assert parquet == expected
    # Key order, time zones and types too: the serialised forms are byte for byte the same.
    assert parquet.model_dump_json() == expected.model_dump_json()
    for a, b in zip(parquet.responses, expected.responses, strict=True):
        assert list(a.answers) == list(b.answers)
        assert {k: type(v) for k, v in a.answers.items()} == {k: type(v) for k, v in b.answers.items()}
        assert a.model_fields_set == b.model_fields_set
        for field in ("started_at", "completed_at"):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None) == (y is None)
            if x is not None:
                assert (x.isoformat(), x.utcoffset(), type(x.tzinfo)) == (y.isoformat(), y.utcoffset(), type(y.tzinfo))


def _hostile() -> dict[str, Any]:
    responses: list[dict[str, Any]] = [
        {"respondent_id": "r1", "started_at": "2026-03-02T07:00:00Z", "completed_at": "2026-03-02T07:05:30.123456Z",
         "answers": {"nps": 10, "rating": 5, "plan": "Pro", "tools": ["x", "y"], "why_pro": "SSO",
                     "comment": HOSTILE_TEXT, "seats": 12, "since": "2024-05-01", "started_at": "collides",
                     "level": "high"}},
        # numbers as strings, a CSV-style multi-choice, unknown options, an int as text
        {"respondent_id": None, "started_at": "2026-03-02T09:00:00+02:00", "completed_at": None,
         "answers": {"nps": "9", "rating": "4.0", "plan": "pro", "tools": "y|x|nope", "comment": 42,
                     "seats": 3.5, "level": "mid"}},
        # mixed types everywhere, a present null, booleans, nested values, huge and negative numbers
        {"respondent_id": "r3", "started_at": None, "completed_at": "2026-03-03T00:00:00-05:30",
         "answers": {"nps": 7.0, "rating": True, "plan": None, "tools": ["z", "z", "x"], "comment": {"a": [1, None]},
                     "seats": 10**30, "since": "03/02/2026", "level": ["low"]}},
        {"respondent_id": "", "started_at": "2026-03-04T12:00:00", "completed_at": "2026-03-04T12:01:00",
         "answers": {"nps": -0.0, "tools": [], "comment": "", "seats": -(2**63), "level": None}},
        # answers in another order than the questions, and keys that are no question
        {"respondent_id": "r5", "started_at": "2026-03-05T00:00:00.5Z", "completed_at": None,
         "answers": {"comment": "  ", "unknown_key": {"deep": ["list", 1.5]}, "nps": 0, "plan": "Free",
                     "answers.x": 1}},
        {"respondent_id": "r6", "answers": {}},
        {"respondent_id": "r7", "started_at": "2026-03-06T00:00:00Z",
         "answers": {"nps": 1e308, "seats": 2**63, "tools": ["x", 1, None], "plan": "Émoji 🚀"}},
    ]
    return {"survey": {"id": "hostile", "title": "Hostile <b>survey</b>", "questions": QUESTIONS,
                       "segments": ["plan"]}, "responses": responses}


def test_the_sample_reads_back_equal_to_its_json(tmp_path: Path) -> None:
    path, _ = _write(tmp_path, Snapshot.model_validate_json(SAMPLE.read_bytes()).model_dump(mode="json"))
    _assert_same(load_snapshot(path), _json_path(path))
    assert basic_stats(load_snapshot(path)) == basic_stats(_json_path(path))


def test_hostile_and_mixed_answers_round_trip_exactly(tmp_path: Path) -> None:
    path, _ = _write(tmp_path, _hostile())
    _assert_same(load_snapshot(path), _json_path(path))
    meta = {q["key"]: q["encoding"] for q in notebook.json.loads(
        pq.read_schema(path.with_suffix(".parquet")).metadata[notebook.META_KEY])["questions"]}
    # typed where every answer given has one JSON type, JSON text where they are mixed
    assert meta["why_pro"] == "string" and meta["nps"] == "json" and meta["comment"] == "json"
    names = pq.read_schema(path.with_suffix(".parquet")).names
    assert {"respondent_id", "started_at", "completed_at", "answers.started_at", EXTRA_COLUMN, ORDER_COLUMN} <= set(
        names)


@pytest.mark.parametrize("rows_at_once", [1, 2, 3, 100])
def test_written_a_slice_at_a_time_it_is_the_same_table(tmp_path: Path, rows_at_once: int) -> None:
    """With the spans of the slices a worker wrote, the responses are parsed a slice at a time; the table is the
    one the whole document gives, also where a question's answers change type from one slice to the next (ints,
    then a float; ints in range, then one out of it; lists of strings, then one with a number)."""
    data = _hostile()
    data["responses"] += [{"respondent_id": f"t{i}", "answers": {"rating": i, "seats": i, "tools": ["x"]}}
                          for i in range(4)]
    data["responses"] += [{"respondent_id": "late", "answers": {"rating": 2.5, "seats": 2**64, "tools": [3]}}]
    snapshot = Snapshot.model_validate(data)
    document = _document(snapshot, rows_at_once)
    assert document.data == snapshot.model_dump_json().encode()
    assert len(document.spans) == -(-len(snapshot.responses) // rows_at_once)
    whole, sliced = notebook.snapshot_table(document.data), notebook.snapshot_table(document.data, document.spans)
    assert sliced.schema.equals(whole.schema, check_metadata=True)
    assert sliced.combine_chunks().equals(whole.combine_chunks())
    for name in ("rating", "seats", "tools"):
        assert sliced.column(name).to_pylist() == whole.column(name).to_pylist()
    folder = tmp_path / "sliced"
    folder.mkdir()
    (folder / "snapshot.json").write_bytes(document.data)
    write_snapshot_parquet(document.data, folder / "snapshot.parquet", spans=document.spans)
    _assert_same(load_snapshot(folder / "snapshot.json"), _json_path(folder / "snapshot.json"))


def test_typed_columns(tmp_path: Path) -> None:
    data = {"survey": {"id": "t", "title": "T", "questions": QUESTIONS}, "responses": [
        {"respondent_id": f"r{i}", "started_at": "2026-03-02T07:00:00Z",
         "answers": {"nps": i % 11, **({"plan": "Pro"} if i % 2 else {}), "tools": ["x", "z"][: i % 3],
                     **({"why_pro": "because"} if i % 2 else {}), "comment": f"text {i} ✓", "seats": i + 0.25}}
        for i in range(50)
    ]}
    path, _ = _write(tmp_path, data)
    schema = pq.read_schema(path.with_suffix(".parquet"))
    assert str(schema.field("nps").type) == "int64"
    assert str(schema.field("seats").type) == "double"
    assert pa.types.is_list(schema.field("tools").type)
    assert pa.types.is_large_string(schema.field("tools").type.value_type)
    assert str(schema.field("comment").type) == "large_string"
    assert EXTRA_COLUMN not in schema.names and ORDER_COLUMN not in schema.names
    _assert_same(load_snapshot(path), _json_path(path))


def test_no_responses(tmp_path: Path) -> None:
    path, _ = _write(tmp_path, {"survey": {"id": "e", "title": "Empty", "questions": QUESTIONS}, "responses": []})
    loaded = load_snapshot(path)
    assert loaded.responses == [] and loaded == _json_path(path)
    assert load_snapshot(path, questions=["nps"]) == _json_path(path, ["nps"])


def test_unanswered_questions_and_missing_times(tmp_path: Path) -> None:
    path, _ = _write(tmp_path, {"survey": {"id": "m", "title": "M", "questions": QUESTIONS}, "responses": [
        {"answers": {}}, {"respondent_id": "b", "answers": {"comment": "only this"}}, {"answers": {}},
    ]})
    loaded = load_snapshot(path)
    _assert_same(loaded, _json_path(path))
    assert [r.answers for r in loaded.responses] == [{}, {"comment": "only this"}, {}]
    assert all(r.started_at is None and r.completed_at is None for r in loaded.responses)


def test_questions_reads_only_their_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _write(tmp_path, _hostile())
    read: list[list[str]] = []
    original = pq.ParquetFile.read

    def spy(self: pq.ParquetFile, columns: list[str] | None = None, **kwargs: Any) -> Any:
        read.append(list(columns or []))
        return original(self, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read", spy)
    loaded = load_snapshot(path, questions=["why_pro", "comment"])
    # why_pro is asked only on the plan's answer: plan comes along
    assert set(read[0]) == {"respondent_id", "started_at", "completed_at", "why_pro", "comment", "plan",
                            ORDER_COLUMN}
    assert all(set(r.answers) <= {"why_pro", "comment", "plan"} for r in loaded.responses)
    _assert_same(loaded, _json_path(path, ["why_pro", "comment"]))
    # a function of the survey; a lone key; the key colliding with a record column; an extra (non-question) key
    assert load_snapshot(path, questions=lambda survey: [q.key for q in survey.questions if q.type == "nps"]) \
        == _json_path(path, ["nps"])
    assert load_snapshot(path, questions="comment") == _json_path(path, ["comment"])
    _assert_same(load_snapshot(path, questions=["started_at", "unknown_key"]),
                 _json_path(path, ["started_at", "unknown_key"]))
    assert [r.answers for r in load_snapshot(path, questions=[]).responses] == [{}] * 7
    assert load_snapshot(path, questions=["no_such_key"]) == _json_path(path, ["no_such_key"])


def test_needed_questions_follow_conditions_transitively() -> None:
    survey = Snapshot.model_validate({"survey": {"id": "c", "title": "C", "questions": [
        {"key": "a", "type": "single_choice", "text": "A", "options": ["y", "n"]},
        {"key": "b", "type": "single_choice", "text": "B", "options": ["y", "n"],
         "required_if": {"question": "a", "in": ["y"]}},
        {"key": "c", "type": "text", "text": "C", "required_if": {"question": "b", "in": ["y"]}},
        {"key": "d", "type": "text", "text": "D"},
    ]}, "responses": []}).survey
    assert needed_questions(survey, ["c"]) == {"a", "b", "c"}
    assert needed_questions(survey, "d") == {"d"}
    assert needed_questions(survey, lambda s: ["b", "nope"]) == {"a", "b", "nope"}


def test_a_parquet_path_is_read_directly_and_json_alone_as_before(tmp_path: Path) -> None:
    path, json_bytes = _write(tmp_path, _hostile())
    assert load_snapshot(path.with_suffix(".parquet")) == Snapshot.model_validate_json(json_bytes)
    alone = _json_path(path)
    assert alone == Snapshot.model_validate_json(json_bytes)
    assert parquet_json_sha256(path.with_suffix(".parquet")) == hashlib.sha256(json_bytes).hexdigest()
    assert parquet_json_sha256(path) is None  # not a Parquet file


def test_a_sibling_of_other_data_is_not_read(tmp_path: Path) -> None:
    path, _ = _write(tmp_path, _hostile())
    changed = Snapshot.model_validate(_hostile() | {"responses": []})
    path.write_bytes(changed.model_dump_json().encode())  # the JSON was replaced after the Parquet was written
    assert load_snapshot(path) == changed


def test_an_identical_sibling_is_linked_not_written_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, json_bytes = _write(tmp_path, _hostile())
    first = path.with_suffix(".parquet")
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setattr(notebook, "snapshot_table", lambda _: pytest.fail("written again"))
    write_snapshot_parquet(json_bytes, other / "snapshot.parquet", reuse=[first])
    assert os.path.samefile(first, other / "snapshot.parquet")
    monkeypatch.undo()
    # a sibling of another snapshot is not reused
    changed = json_bytes.replace(b"Hostile", b"Changed")
    write_snapshot_parquet(changed, other / "snapshot.parquet", reuse=[first])
    assert not os.path.samefile(first, other / "snapshot.parquet")
    assert load_snapshot(other / "snapshot.parquet").survey.title.startswith("Changed")
    assert not [p for p in other.iterdir() if p.name.endswith(".partial")]


def test_write_inputs_writes_the_parquet_beside_the_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = Snapshot.model_validate(_hostile())
    monkeypatch.setattr(steps.report_store, "load_snapshot_document",
                        lambda session, report_id: _document(snapshot))
    monkeypatch.setattr(steps.report_store, "component_results", lambda session, report_id, names: {})
    report = SimpleNamespace(id=uuid.uuid4(), parameters={})
    sibling, work_dir = tmp_path / "segments", tmp_path / "sentiment"
    sibling.mkdir()
    work_dir.mkdir()
    write_inputs(None, report, components.get("segments"), sibling)
    inputs = write_inputs(None, report, components.get("sentiment"), work_dir)
    json_bytes = (work_dir / "snapshot.json").read_bytes()
    # the provenance hash stays the JSON's
    assert inputs.snapshot_sha256 == hashlib.sha256(json_bytes).hexdigest()
    assert inputs.parameters[SNAPSHOT_PARAMETER] == str(work_dir / "snapshot.json")
    assert os.path.samefile(work_dir / "snapshot.parquet", sibling / "snapshot.parquet")  # written once
    assert load_snapshot(work_dir / "snapshot.json") == Snapshot.model_validate_json(json_bytes)


def test_write_inputs_survives_a_failing_parquet_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = Snapshot.model_validate(_hostile())
    monkeypatch.setattr(steps.report_store, "load_snapshot_document",
                        lambda session, report_id: _document(snapshot))
    monkeypatch.setattr(steps.report_store, "component_results", lambda session, report_id, names: {})

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(notebook, "write_snapshot_parquet", broken)
    report = SimpleNamespace(id=uuid.uuid4(), parameters={})
    work_dir = tmp_path / "sentiment"
    work_dir.mkdir()
    inputs = write_inputs(None, report, components.get("sentiment"), work_dir)
    assert not (work_dir / "snapshot.parquet").exists() and not (tmp_path / "snapshot.parquet").exists()
    assert load_snapshot(inputs.parameters[SNAPSHOT_PARAMETER]) == snapshot


def _old_responses_frame(snapshot: Snapshot) -> pd.DataFrame:
    """responses_frame as it was: one dict per response."""
    keys = [q.key for q in snapshot.survey.questions]
    rows = [{"respondent_id": r.respondent_id, "started_at": r.started_at, "completed_at": r.completed_at,
             **{k: r.answers.get(k) for k in keys}} for r in snapshot.responses]
    frame = pd.DataFrame(rows, columns=["respondent_id", "started_at", "completed_at", *keys])
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    frame["completed_at"] = pd.to_datetime(frame["completed_at"], utc=True)
    frame.insert(3, "completed", frame["completed_at"].notna())
    return frame


def test_responses_frame_is_unchanged() -> None:
    sample = load_snapshot(SAMPLE)
    pd.testing.assert_frame_equal(responses_frame(sample), _old_responses_frame(sample))
    # aware times only: pandas reads a frame's times as one zone; no question keyed like a record column (the
    # frame would have two such columns, before and now)
    hostile = _hostile()
    hostile["survey"]["questions"] = [q for q in QUESTIONS if q["key"] != "started_at"]
    for r in hostile["responses"]:
        for field in ("started_at", "completed_at"):
            if r.get(field) and not (r[field].endswith("Z") or r[field][-6] in "+-"):
                r[field] = None
    snapshot = Snapshot.model_validate(hostile)
    pd.testing.assert_frame_equal(responses_frame(snapshot), _old_responses_frame(snapshot))
    empty = snapshot.model_copy(update={"responses": []})
    pd.testing.assert_frame_equal(responses_frame(empty), _old_responses_frame(empty))


def test_a_large_snapshot_is_kept_out_of_the_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _write(tmp_path, _hostile())
    gc.unfreeze()
    try:
        load_snapshot(path)
        assert gc.get_freeze_count() == 0  # small: left alone
        monkeypatch.setattr(notebook, "LARGE_ROWS", 5)
        loaded = load_snapshot(path)
        assert gc.get_freeze_count() > 0
        assert loaded == _json_path(path) and gc.isenabled()
    finally:
        gc.unfreeze()


def test_components_running_side_by_side_load_the_snapshot_once(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Four components of one report start at once on a worker: one loads and writes the snapshot, the others
    link it; a component starting after they ended links it too; when the report ends its folder is gone."""
    import threading

    snapshot = Snapshot.model_validate(_hostile())
    loads = []

    def load(session: Any, report_id: uuid.UUID) -> survey_store.SnapshotJson:
        loads.append(report_id)
        return _document(snapshot)

    monkeypatch.setattr(steps.report_store, "load_snapshot_document", load)
    monkeypatch.setattr(steps.report_store, "component_results", lambda session, report_id, names: {})
    report = SimpleNamespace(id=uuid.uuid4(), parameters={})
    names = ["basic_stats", "sentiment", "themes", "segments"]
    report_dir = tmp_path / "work" / str(report.id)  # the data folder is tmp_path
    dirs = [report_dir / name for name in names]
    found: dict[str, Any] = {}

    def run(name: str, work_dir: Path) -> None:
        work_dir.mkdir(parents=True)  # as run_component makes it
        found[name] = write_inputs(None, report, components.get(name), work_dir)

    threads = [threading.Thread(target=run, args=(n, d)) for n, d in zip(names, dirs, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [report.id]  # once, not once per component
    assert len({i.snapshot_sha256 for i in found.values()}) == 1
    for work_dir in dirs[1:]:
        assert os.path.samefile(work_dir / "snapshot.json", dirs[0] / "snapshot.json")
        assert os.path.samefile(work_dir / "snapshot.parquet", dirs[0] / "snapshot.parquet")
    assert not os.access(dirs[0] / "snapshot.json", os.W_OK) or os.geteuid() == 0  # read-only (root ignores it)
    assert load_snapshot(dirs[2] / "snapshot.json") == snapshot
    for work_dir in dirs:  # what run_component does as each finishes
        shutil.rmtree(work_dir)
        steps._forget_lock(report.id, report_dir)
    assert (report_dir / "snapshot.sha256").exists()
    # a component starting after the others ended (as summary does) links the same files: not loaded again
    run("segments", report_dir / "later")
    assert loads == [report.id] and os.path.samefile(report_dir / "later" / "snapshot.json",
                                                      report_dir / "snapshot.json")
    # the report ends while a component's folder is still there (a cancelled one ending): the files stay
    assert not steps.release_report_files(tmp_path, report.id) and (report_dir / "snapshot.json").exists()
    shutil.rmtree(report_dir / "later")
    assert steps.release_report_files(tmp_path, report.id) and not report_dir.exists()
    # a component starting after that (a rerun) writes it again
    run("basic_stats", dirs[0])
    assert loads == [report.id, report.id] and (report_dir / "snapshot.sha256").exists()


@pytest.mark.parametrize("questions", [None, ["comment", "why_pro"], ["nps", "unknown_key"], []])
def test_columns_read_as_the_records_do(tmp_path: Path, questions: Any) -> None:
    """The analyses read a Parquet snapshot by column (no record built): each column is what the records of the
    JSON give, for every question, for keys that are no question, and for questions not read."""
    path, _ = _write(tmp_path, _hostile())
    columnar, expected = load_snapshot(path, questions), _json_path(path, questions)
    assert isinstance(columnar.responses, ResponseColumns)
    assert not isinstance(expected.responses, ResponseColumns)
    for key in [q["key"] for q in QUESTIONS] + ["unknown_key", "answers.x", "absent_everywhere"]:
        assert answers_column(columnar, key) == answers_column(expected, key) == [
            r.answers.get(key) for r in expected.responses]
    for name in ("respondent_id", "started_at", "completed_at"):
        assert record_column(columnar, name) == record_column(expected, name) == [
            getattr(r, name) for r in expected.responses]
    with pytest.raises(KeyError):
        record_column(expected, "answers")


def test_response_columns_behave_as_a_list_of_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _ = _write(tmp_path, _hostile())
    monkeypatch.setattr(columnar_module, "RECORDS_AT_ONCE", 3)  # iteration crosses steps
    responses, expected = load_snapshot(path).responses, _json_path(path).responses
    assert len(responses) == len(expected) == 7 and list(responses) == expected
    assert responses == expected and responses != expected[:-1] and responses != "other"
    for index in (0, 3, 6, -1, -7):
        assert responses[index] == expected[index]
    for index in (7, -8):
        with pytest.raises(IndexError):
            responses[index]
    for part in (slice(1, 5), slice(None, None, 2), slice(5, 2), slice(-3, None), slice(None, None, -1)):
        assert responses[part] == expected[part]
    assert [list(r.answers) for r in responses] == [list(r.answers) for r in expected]  # the JSON's key order
    assert repr(responses) == "<ResponseColumns: 7 responses>"


def test_the_analyses_give_the_same_results_by_column(tmp_path: Path) -> None:
    from workbench.analysis.segment_report import questions_used, segment_report
    from workbench.analysis.sentiment import text_answers
    from workbench.analysis.themes import main_scale, themes_for_question

    data = Snapshot.model_validate_json(SAMPLE.read_bytes()).model_dump(mode="json")
    path, _ = _write(tmp_path, data)
    columnar, expected = load_snapshot(path), _json_path(path)
    assert isinstance(columnar.responses, ResponseColumns)
    assert basic_stats(columnar) == basic_stats(expected)
    subset = load_snapshot(path, questions_used)
    assert segment_report(subset, []) == segment_report(_json_path(path, questions_used), [])
    for question in columnar.survey.questions:
        assert text_answers(columnar, question.key) == text_answers(expected, question.key)
    assert main_scale(columnar) == main_scale(expected)
    assert themes_for_question(columnar, "improve", mentions=True) == themes_for_question(
        expected, "improve", mentions=True)
    pd.testing.assert_frame_equal(responses_frame(columnar), responses_frame(expected))
    pd.testing.assert_frame_equal(responses_frame(columnar, questions=()), responses_frame(expected)[
        ["respondent_id", "started_at", "completed_at", "completed"]])
    pd.testing.assert_frame_equal(responses_frame(columnar, questions="nps"), responses_frame(expected)[
        ["respondent_id", "started_at", "completed_at", "completed", "nps"]])
