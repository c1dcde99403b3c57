"""The component contract on the real kernel, without Temporal: parameters reach the notebook as literal data,
upstream results arrive as files, secrets only through the kernel's environment, provenance is recorded."""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pandas
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from tests.conftest import AUTH, SAMPLE_PATH
from workbench.components import ComponentSpec, components
from workbench.config import REPO_ROOT, Settings
from workbench.reports import steps
from workbench.reports.request import create_report_run
from workbench.runner import NotebookError
from workbench.statuses import ComponentStatus, ReportStatus
from workbench.storage import reports as report_store
from workbench.storage import surveys as survey_store
from workbench.storage.db import make_engine, make_sessionmaker, transaction
from workbench.storage.models import DEFAULT_ORGANIZATION_ID
from workbench.surveys.imports import parse_responses, read_survey_file

SECRET = "sk-test-not-for-notebooks-123"
HOSTILE = ("a \"quote\", a 'quote', '''triple''', \"\"\"triple\"\"\"\nline two\\n {braces} #hash\n"
           "__import__('os')._exit(3)")


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.effective_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def survey_id(sessions: sessionmaker[Session]) -> uuid.UUID:
    definition, raw = read_survey_file(SAMPLE_PATH)
    with transaction(sessions) as session:
        survey = survey_store.create_survey(session, organization_id=DEFAULT_ORGANIZATION_ID, definition=definition)
        survey_store.add_responses(session, survey_id=survey.id,
                                   records=parse_responses(definition, raw[:150], fmt="json"))
        return survey.id


def new_report(sessions: sessionmaker[Session], settings: Settings, survey_id: uuid.UUID, names: list[str],
               parameters: dict[str, Any] | None = None) -> uuid.UUID:
    with transaction(sessions) as session:
        report = create_report_run(session, organization_id=DEFAULT_ORGANIZATION_ID, survey_id=survey_id,
                                   component_names=names, parameters=parameters, notebooks_dir=settings.notebooks_dir)
        report_id = report.id
    steps.prepare_report(sessions, report_id)
    return report_id


def run_all(sessions: sessionmaker[Session], settings: Settings, report_id: uuid.UUID) -> None:
    with sessions() as session:
        names = list(report_store.load_report(session, report_id=report_id).component_names)  # type: ignore[union-attr]
    for name in names:
        steps.execute_component(sessions, settings, report_id, name)


class EchoResult(BaseModel):
    label: str
    env_keys: list[str]
    secret: str | None


@pytest.fixture
def probe(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A copy of the notebooks with a `probe` component that echoes its parameter and what its kernel sees."""
    folder = tmp_path / "notebooks"
    shutil.copytree(REPO_ROOT / "notebooks", folder)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "workbench", "display_name": "Workbench",
                                                           "language": "python"}})
    params = nbformat.v4.new_code_cell('snapshot_path: str = "data/sample_survey.json"  # the snapshot\n'
                                       'label: str = "default"  # echoed back')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import os\nfrom workbench.notebook import emit_result\n"
        "emit_result({'label': label, 'env_keys': sorted(k for k in os.environ if k.startswith('WORKBENCH_')),\n"
        "             'secret': os.environ.get('WORKBENCH_OPENAI_API_KEY')})")]
    nbformat.write(nb, folder / "probe.ipynb")
    components.register(ComponentSpec(name="probe", title="Probe", notebook="probe.ipynb", result_model=EchoResult,
                                      secrets=("openai_api_key",)))
    try:
        yield settings.model_copy(update={"notebooks_dir": folder, "openai_api_key": SecretStr(SECRET)})
    finally:
        components.unregister("probe")


def test_a_string_parameter_stays_literal_data(
    probe: Settings, sessions: sessionmaker[Session], survey_id: uuid.UUID
) -> None:
    report_id = new_report(sessions, probe, survey_id, ["probe"], {"probe": {"label": HOSTILE}})
    steps.execute_component(sessions, probe, report_id, "probe")
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="probe")
        assert row is not None and row.status == ComponentStatus.COMPLETED
        assert row.result["label"] == HOSTILE  # type: ignore[index]
        assert row.provenance["parameters"] == {"label": HOSTILE}  # type: ignore[index]


def test_secrets_reach_the_kernel_environment_only(
    probe: Settings, sessions: sessionmaker[Session], survey_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", "postgresql://user:password@db/app")  # worker configuration
    report_id = new_report(sessions, probe, survey_id, ["probe"])
    steps.execute_component(sessions, probe, report_id, "probe")
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="probe", with_documents=True)
        assert row is not None and row.result is not None
        # the declared secret, the model's settings and where its cache and token ledger live (the report's
        # database and ids), the embedding cache's location; none of the worker's other configuration
        assert row.result["secret"] == SECRET
        assert row.result["env_keys"] == [
            "WORKBENCH_COMPONENT", "WORKBENCH_DATABASE_URL", "WORKBENCH_EMBEDDING_CACHE", "WORKBENCH_OPENAI_API_KEY",
            "WORKBENCH_OPENAI_BASE_URL", "WORKBENCH_OPENAI_BATCH_SIZE", "WORKBENCH_OPENAI_MAX_RETRIES",
            "WORKBENCH_OPENAI_MODEL", "WORKBENCH_OPENAI_TIMEOUT_SECONDS", "WORKBENCH_OPENAI_TOKEN_BUDGET",
            "WORKBENCH_REPORT_ID"]
        # the stored, downloadable notebook carries the parameters, never the secret
        injected = next(c for c in nbformat.reads(row.notebook, as_version=4).cells
                        if "injected-parameters" in c.metadata.get("tags", []))
        assert SECRET not in injected.source and "openai" not in injected.source
        assert SECRET not in str(row.provenance)


def test_a_component_without_the_secret_gets_none(
    probe: Settings, sessions: sessionmaker[Session], survey_id: uuid.UUID
) -> None:
    settings = probe.model_copy(update={"openai_api_key": None})
    report_id = new_report(sessions, settings, survey_id, ["probe"])
    steps.execute_component(sessions, settings, report_id, "probe")
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="probe")
        assert row is not None and row.result == {"label": "default", "env_keys": ["WORKBENCH_EMBEDDING_CACHE"],
                                                  "secret": None}


def test_parameters_upstream_results_and_provenance(
    settings: Settings, sessions: sessionmaker[Session], survey_id: uuid.UUID
) -> None:
    report_id = new_report(sessions, settings, survey_id, ["themes", "visualizations"],
                           {"themes": {"n_themes": 3, "examples": 1}})
    run_all(sessions, settings, report_id)
    assert steps.finish_report(sessions, report_id) is ReportStatus.COMPLETED
    with sessions() as session:
        rows = {r.component_type: r for r in report_store.component_documents(session, report_id=report_id)}
    assert list(rows) == ["basic_stats", "themes", "visualizations"]
    themes = rows["themes"]
    assert all(len(q["themes"]) <= 3 for q in themes.result["questions"].values())  # type: ignore[index]
    assert all(len(t["examples"]) <= 1 for q in themes.result["questions"].values()  # type: ignore[index]
               for t in q["themes"])
    prov = themes.provenance or {}
    assert prov["parameters"] == {"n_themes": 3, "top_keywords": 6, "examples": 1, "segment_by": []}
    notebook = REPO_ROOT / "notebooks" / "themes.ipynb"
    assert prov["notebook"]["sha256"] == hashlib.sha256(notebook.read_bytes()).hexdigest()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    assert prov["notebook"]["git_commit"] == head and isinstance(prov["notebook"]["git_modified"], bool)
    assert prov["kernel"]["name"] == "workbench" and prov["kernel"]["python"] == platform.python_version()
    assert prov["kernel"]["packages"]["pandas"] == pandas.__version__
    snapshot = prov["input"]["snapshot_sha256"]
    assert len(snapshot) == 64 and rows["basic_stats"].provenance["input"]["snapshot_sha256"] == snapshot  # type: ignore[index]
    # visualizations drew from the stored basic_stats result, whose hash it records
    viz = rows["visualizations"]
    assert set(viz.provenance["input"]["upstream_sha256"]) == {"basic_stats"}  # type: ignore[index]
    assert viz.result["chart_count"] == len(viz.result["charts"]) > 0  # type: ignore[index]
    # the report JSON shows it
    with TestClient(create_app(settings), headers=AUTH) as client:
        body = client.get(f"/api/v1/reports/{report_id}").json()
    shown = {c["name"]: c for c in body["components"]}
    assert shown["themes"]["provenance"]["parameters"]["n_themes"] == 3
    assert body["parameters"] == {"themes": {"n_themes": 3, "examples": 1}}


def test_a_component_whose_upstream_has_no_result_is_refused_not_run_on_missing_input(
    settings: Settings, sessions: sessionmaker[Session], survey_id: uuid.UUID
) -> None:
    report_id = new_report(sessions, settings, survey_id, ["visualizations"])
    with pytest.raises(steps.InvalidReport, match="needs the results of basic_stats"):
        steps.execute_component(sessions, settings, report_id, "visualizations")
    steps.skip_component(sessions, report_id, "visualizations", "skipped: needs basic_stats, which did not complete")
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="visualizations")
        assert row is not None and row.status == ComponentStatus.SKIPPED and row.result is None


def test_a_result_that_breaks_its_schema_fails_the_component_naming_the_field(
    probe: Settings, sessions: sessionmaker[Session], survey_id: uuid.UUID
) -> None:
    nb = nbformat.read(probe.notebooks_dir / "probe.ipynb", as_version=4)
    nb.cells[1].source = "from workbench.notebook import emit_result\nemit_result({'label': 42, 'env_keys': []})"
    nbformat.write(nb, probe.notebooks_dir / "probe.ipynb")
    report_id = new_report(sessions, probe, survey_id, ["probe"])
    with pytest.raises(NotebookError, match="label: Input should be a valid string"):
        steps.execute_component(sessions, probe, report_id, "probe")
    with sessions() as session:
        row = report_store.get_component(session, report_id=report_id, name="probe", with_documents=True)
        assert row is not None and row.status == ComponentStatus.FAILED and row.notebook is not None
        assert "label" in row.error["message"]  # type: ignore[index]
