"""Fixtures for the in-process API tests: the app on SQLite with Temporal unreachable (or stubbed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from api.temporal import TemporalGateway
from tests.conftest import AUTH
from tests.integration.api_support import UNREACHABLE_TEMPORAL
from workbench.config import Settings
from workbench.storage.db import make_engine, make_sessionmaker


class FailingTemporalClient:
    """Stands in for a Temporal client whose workflow start fails (the server went away after connecting)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(args)
        raise RuntimeError("temporal went away")


@pytest.fixture
def offline_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"temporal_address": UNREACHABLE_TEMPORAL})


@pytest.fixture
def client(offline_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(offline_settings), headers=AUTH) as client:
        yield client


@pytest.fixture
def temporal_stub(client: TestClient, offline_settings: Settings) -> FailingTemporalClient:
    """Route the app's Temporal gateway to a stub, so request validation is tested apart from Temporal."""
    stub = FailingTemporalClient()
    client.app.state.temporal = TemporalGateway(offline_settings, client=stub)  # type: ignore[attr-defined]
    return stub


@pytest.fixture
def db(offline_settings: Settings) -> Iterator[sessionmaker[Session]]:
    """The app's database, for arranging and checking rows directly."""
    engine = make_engine(offline_settings.effective_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()
