"""Dependencies declared once and used by every route."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from workbench.config import Settings
from workbench.storage.models import DEFAULT_ORGANIZATION_ID


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_organization_id() -> uuid.UUID:
    # Until API keys land every caller acts for the default organization; routes already scope by it.
    return DEFAULT_ORGANIZATION_ID


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
OrganizationDep = Annotated[uuid.UUID, Depends(get_organization_id)]
