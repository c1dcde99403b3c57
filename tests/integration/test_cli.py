"""The `workbench` CLI: clear messages instead of tracebacks, nothing written on bad input."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.conftest import SAMPLE_PATH
from workbench.config import get_settings
from workbench.notebook import load_snapshot
from workbench.storage import reports
from workbench.storage import surveys as store
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.models import DEFAULT_ORGANIZATION_ID


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path) -> str:
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WORKBENCH_TEMPORAL_ADDRESS", "127.0.0.1:1")  # nothing listens there
    get_settings.cache_clear()
    yield sqlite_url
    get_settings.cache_clear()


def surveys(url: str) -> list:
    with make_sessionmaker(make_engine(url))() as session:
        return [(s.title, store.count_responses(session, survey_id=s.id)[0])
                for s in store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID)]


def test_imports_the_sample_snapshot_file(cli_env: str) -> None:
    result = CliRunner().invoke(app, ["survey", "import", str(SAMPLE_PATH)])
    assert result.exit_code == 0, result.output
    assert "2000 responses imported" in result.output
    assert surveys(cli_env) == [("Acme Cloud customer feedback 2026", 2000)]


def test_bad_responses_file_is_a_message_and_writes_nothing(cli_env: str, tmp_path: Path) -> None:
    definition = tmp_path / "survey.json"
    definition.write_text(json.dumps({"title": "T", "questions": [{"key": "nps", "type": "nps", "text": "?"}]}))
    responses = tmp_path / "responses.csv"
    responses.write_text("respondent_id,started_at,nps\nr1,2026-01-01T00:00:00Z,9\nr2,2026-01-01T00:00:00Z,11\n")
    result = CliRunner().invoke(app, ["survey", "import", str(definition), "--responses", str(responses)])
    assert result.exit_code == 2
    assert "row 3, field 'nps'" in result.output and "Traceback" not in result.output
    assert surveys(cli_env) == []


def test_report_for_an_unknown_survey_is_a_message(cli_env: str) -> None:
    result = CliRunner().invoke(app, ["report", "generate", str(uuid.uuid4())])
    assert result.exit_code == 2 and "not found" in result.output and "Traceback" not in result.output


def test_report_while_temporal_is_down_is_a_message_and_marks_the_report_failed(cli_env: str) -> None:
    CliRunner().invoke(app, ["survey", "import", str(SAMPLE_PATH)])
    with make_sessionmaker(make_engine(cli_env))() as session:
        [survey] = store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID)
    result = CliRunner().invoke(app, ["report", "generate", str(survey.id), "-c", "basic_stats"])
    assert result.exit_code == 2 and "is unreachable" in result.output
    with make_sessionmaker(make_engine(cli_env))() as session:
        [report] = reports.list_reports(session, organization_id=DEFAULT_ORGANIZATION_ID)
    assert report.status == "failed" and "could not start the report run" in report.error
    status = CliRunner().invoke(app, ["report", "status", str(report.id)])
    assert status.exit_code == 0 and "failed" in status.output


def test_cancel_and_rerun_answer_with_messages(cli_env: str) -> None:
    CliRunner().invoke(app, ["survey", "import", str(SAMPLE_PATH)])
    with make_sessionmaker(make_engine(cli_env))() as session:
        [survey] = store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID)
    CliRunner().invoke(app, ["report", "generate", str(survey.id), "-c", "basic_stats"])  # Temporal is down: failed
    with make_sessionmaker(make_engine(cli_env))() as session:
        [report] = reports.list_reports(session, organization_id=DEFAULT_ORGANIZATION_ID)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["report", *args])
        return result.exit_code, " ".join(result.output.split())  # rich wraps long lines

    code, out = run("cancel", str(report.id))
    assert code == 2 and "already finished (failed); nothing to cancel" in out
    code, out = run("rerun", str(report.id), "basic_stats")
    assert code == 2 and "never started" in out and "Traceback" not in out
    code, out = run("rerun", str(report.id), "astrology")
    assert code == 2 and "has no component 'astrology'" in out
    code, out = run("cancel", str(uuid.uuid4()))
    assert code == 2 and "not found" in out


def test_status_of_an_unknown_report_is_a_message(cli_env: str) -> None:
    result = CliRunner().invoke(app, ["report", "status", str(uuid.uuid4())])
    assert result.exit_code == 2 and "not found" in result.output


def test_export_writes_a_snapshot_a_notebook_can_load(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    CliRunner().invoke(app, ["survey", "import", str(SAMPLE_PATH)])
    with make_sessionmaker(make_engine(cli_env))() as session:
        [survey] = store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID)
    monkeypatch.chdir(tmp_path)  # the default output goes to the current directory

    result = CliRunner().invoke(app, ["survey", "export", str(survey.id)])
    assert result.exit_code == 0, result.output
    assert f"wrote 2000 responses to {survey.id}.json" in result.output
    exported = load_snapshot(tmp_path / f"{survey.id}.json")
    sample = load_snapshot(SAMPLE_PATH)
    assert exported.survey.id == str(survey.id)
    assert exported.survey.model_dump(exclude={"id"}) == sample.survey.model_dump(exclude={"id"})
    assert len(exported.responses) == len(sample.responses) == 2000
    # answers as imported: normalised on the way in, so compare them after the same import
    assert [r.answers for r in exported.responses] == [
        {k: v for k, v in r.answers.items() if not (isinstance(v, str) and not v.strip())} for r in sample.responses
    ]
    assert [(r.respondent_id, r.started_at, r.completed_at) for r in exported.responses] == [
        (r.respondent_id, r.started_at, r.completed_at) for r in sample.responses
    ]

    # an existing file is kept unless --force; --out picks another path
    again = CliRunner().invoke(app, ["survey", "export", str(survey.id)])
    assert again.exit_code == 2 and "exists" in again.output and "--force" in again.output
    assert CliRunner().invoke(app, ["survey", "export", str(survey.id), "--force"]).exit_code == 0
    out = tmp_path / "nb" / "snapshot.json"
    result = CliRunner().invoke(app, ["survey", "export", str(survey.id), "--out", str(out)])
    assert result.exit_code == 0 and str(out) in result.output.replace("\n", "")
    assert load_snapshot(out) == exported


def test_an_exported_snapshot_imports_again(cli_env: str, tmp_path: Path) -> None:
    definition = tmp_path / "survey.json"
    definition.write_text(json.dumps({"title": "T", "questions": [{"key": "nps", "type": "nps", "text": "?"}]}))
    CliRunner().invoke(app, ["survey", "import", str(definition)])
    with make_sessionmaker(make_engine(cli_env))() as session:
        [survey] = store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID)
    out = tmp_path / "empty.json"
    assert CliRunner().invoke(app, ["survey", "export", str(survey.id), "--out", str(out)]).exit_code == 0
    assert load_snapshot(out).responses == []
    result = CliRunner().invoke(app, ["survey", "import", str(out)])  # no responses is not an error
    assert result.exit_code == 0 and "0 responses imported" in result.output


def test_export_of_an_unknown_survey_is_a_message(cli_env: str, tmp_path: Path) -> None:
    unknown = uuid.uuid4()
    out = tmp_path / "x.json"
    result = CliRunner().invoke(app, ["survey", "export", str(unknown), "--out", str(out)])
    assert result.exit_code == 2
    assert f"survey {unknown} not found" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_responses_file_of_an_unknown_type_is_a_message(cli_env: str, tmp_path: Path) -> None:
    definition = tmp_path / "survey.json"
    definition.write_text(json.dumps({"title": "T", "questions": [{"key": "nps", "type": "nps", "text": "?"}]}))
    responses = tmp_path / "responses.xlsx"
    responses.write_bytes(b"PK")
    result = CliRunner().invoke(app, ["survey", "import", str(definition), "--responses", str(responses)])
    assert result.exit_code == 2 and "use a .json or .csv file" in result.output
    assert surveys(cli_env) == []


@pytest.mark.parametrize(("param", "message"), [
    ("themes.n_themes=oops", "parameters.themes.n_themes"),
    ("themes.n_themes=1", "greater than or equal to 2"),
    ("themes.colour=3", "parameters.themes.colour"),
    ("n_themes=8", "expected COMPONENT.NAME=VALUE"),
])
def test_bad_component_parameters_are_a_message_and_store_nothing(cli_env: str, param: str, message: str) -> None:
    CliRunner().invoke(app, ["survey", "import", str(SAMPLE_PATH)])
    with make_sessionmaker(make_engine(cli_env))() as session:
        [survey] = store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID)
    result = CliRunner().invoke(app, ["report", "generate", str(survey.id), "-p", param])
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    with make_sessionmaker(make_engine(cli_env))() as session:
        assert reports.list_reports(session, organization_id=DEFAULT_ORGANIZATION_ID) == []


def test_parameter_values_are_json_when_they_parse_and_text_otherwise() -> None:
    from cli.reports import parse_parameters

    assert parse_parameters(["themes.n_themes=8", "sentiment.engine=vader", "x.flag=true", "x.names=[\"a\"]",
                             "x.text=a=b"]) == {
        "themes": {"n_themes": 8}, "sentiment": {"engine": "vader"},
        "x": {"flag": True, "names": ["a"], "text": "a=b"},
    }


def test_messages_quoting_user_text_with_brackets_are_printed_as_they_are(cli_env: str, tmp_path: Path) -> None:
    survey = {"title": "Pricing [/x] survey", "questions": [
        {"key": "plan", "type": "single_choice", "text": "Plan?", "options": ["[/bold]", "Free"]}]}
    path = tmp_path / "survey.json"
    path.write_text(json.dumps({"survey": {"id": "s", **survey}, "responses": [
        {"started_at": "2026-01-01T00:00:00Z", "answers": {"plan": "[/nope]"}}]}))
    result = CliRunner().invoke(app, ["survey", "import", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "[/nope]" in result.output  # the rejected answer, printed literally


def test_a_csv_with_another_multi_choice_separator(cli_env: str, tmp_path: Path) -> None:
    survey = tmp_path / "survey.json"
    survey.write_text(json.dumps({"title": "Tools", "questions": [
        {"key": "tools", "type": "multi_choice", "text": "Which tools?", "options": ["Slack", "Jira", "Excel"]}]}))
    csv = tmp_path / "responses.csv"
    csv.write_text("respondent_id,tools\nr1,slack; JIRA\nr2,Excel\n")  # ";" and case as exported
    result = CliRunner().invoke(app, ["survey", "import", str(survey), "--responses", str(csv), "--separator", ";"])
    assert result.exit_code == 0, result.output
    with make_sessionmaker(make_engine(cli_env))() as session:
        [stored] = store.list_surveys(session, organization_id=DEFAULT_ORGANIZATION_ID)
        snapshot = store.build_snapshot(session, survey=stored)
    assert [r.answers["tools"] for r in snapshot.responses] == [["Slack", "Jira"], ["Excel"]]
    bad = CliRunner().invoke(app, ["survey", "import", str(survey), "--responses", str(csv), "--separator", '"'])
    assert bad.exit_code == 2 and "separator" in bad.output


# --- raw exports: infer, then import with --map (issue 7) --------------------------------------------------------

RAW_EXPORT = ('"Respondent ID","How likely are you to recommend us?","Which plan?","Why?","Why?","Submitted"\n'
              "a1,9,pro,fast,,03/02/2026 07:09\n"
              "a2,3,Free,,slow,03/02/2026 08:00\n"
              "a3,10,Pro,good,,03/03/2026 09:30\n"
              "a4,7,free,,,03/04/2026 10:45\n")


def test_infer_then_import_with_the_mapping(cli_env: str, tmp_path: Path) -> None:
    raw = tmp_path / "export.csv"
    raw.write_text(RAW_EXPORT)
    out = tmp_path / "export.mapping.json"
    result = CliRunner().invoke(app, ["survey", "infer", str(raw), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "proposed questions" in result.output and "nps" in result.output
    mapping = json.loads(out.read_text())
    assert mapping["columns"]["#4"] == "why" and mapping["columns"]["#5"] == "why_2"  # duplicate headers
    assert mapping["date_format"] == "%m/%d/%Y %H:%M"
    again = CliRunner().invoke(app, ["survey", "infer", str(raw), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output

    result = CliRunner().invoke(app, ["survey", "import", "--map", str(out), str(raw), "--progress"])
    assert result.exit_code == 0, result.output
    assert "4 responses imported" in result.output and "reading" in result.output and "storing" in result.output
    [(title, responses)] = surveys(cli_env)
    assert (title, responses) == ("Export", 4)


def test_import_with_a_map_reports_every_problem_and_writes_nothing(cli_env: str, tmp_path: Path) -> None:
    raw = tmp_path / "export.csv"
    raw.write_text(RAW_EXPORT)
    mapping = tmp_path / "m.json"
    CliRunner().invoke(app, ["survey", "infer", str(raw), "--out", str(mapping)])
    bad = tmp_path / "bad.csv"
    bad.write_text(RAW_EXPORT + "a1,11,Gold,,,yesterday\nextra,1\n")
    result = CliRunner().invoke(app, ["survey", "import", "--map", str(mapping), str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "row 6, field 'completed_at'" in result.output and "row 6, field 'likely_recommend_us'" in result.output
    assert "row 6, field 'respondent_id': 'a1' appears on rows 2 and 6" in result.output
    assert "row 7, field 'row'" in result.output and "nothing imported" in result.output
    assert surveys(cli_env) == []
    # the duplicate alone, kept last when asked
    dup = tmp_path / "dup.csv"
    dup.write_text(RAW_EXPORT + "a1,4,Pro,,,03/05/2026 10:00\n")
    assert CliRunner().invoke(app, ["survey", "import", "--map", str(mapping), str(dup)]).exit_code == 2
    result = CliRunner().invoke(app, ["survey", "import", "--map", str(mapping), str(dup), "--on-duplicate",
                                      "keep-last"])
    assert result.exit_code == 0, result.output
    assert surveys(cli_env) == [("Export", 4)]
    wrong = CliRunner().invoke(app, ["survey", "import", "--map", str(mapping), str(dup), "--on-duplicate", "first"])
    assert wrong.exit_code == 2 and "keep-last" in wrong.output


def test_a_broken_mapping_file_is_a_message(cli_env: str, tmp_path: Path) -> None:
    raw = tmp_path / "export.csv"
    raw.write_text(RAW_EXPORT)
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"columns": {"Which plan?": "Not A Key"}}))
    result = CliRunner().invoke(app, ["survey", "import", str(SAMPLE_PATH), "--responses", str(raw),
                                      "--map", str(mapping)])
    assert result.exit_code == 2 and "Traceback" not in result.output and "m.json.columns" in result.output
    mapping.write_text("{")
    result = CliRunner().invoke(app, ["survey", "import", "--map", str(mapping), str(raw)])
    assert result.exit_code == 2 and "not valid JSON" in result.output
    assert surveys(cli_env) == []


def test_api_workers_serve_one_port_from_several_processes_and_stop_together(sqlite_url: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import time

    import httpx
    import psutil

    from tests.conftest import venv_binary
    from tests.e2e.conftest import free_port

    port = free_port()
    env = {**os.environ, "WORKBENCH_DATABASE_URL": sqlite_url, "WORKBENCH_DATA_DIR": str(tmp_path / "data")}
    server = subprocess.Popen([venv_binary("workbench"), "api", "--port", str(port), "--workers", "2"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "the API did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert all(client.get("/health/live").status_code == 200 for _ in range(20))
        def processes() -> list[psutil.Process]:  # uvicorn spawns its workers through multiprocessing
            return [p for p in psutil.Process(server.pid).children() if "spawn_main" in " ".join(p.cmdline())]

        while len(workers := processes()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert len(workers) == 2
    finally:
        server.terminate()
        server.wait(30)
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in workers)
