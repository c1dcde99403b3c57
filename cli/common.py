"""What every CLI command shares: the consoles, the error exit, database sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from workbench.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` as an error and return the exit to raise (a message, never a traceback)."""
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)  # messages quote user data
    return typer.Exit(code)


def sessions_for(settings: Settings) -> sessionmaker[Session]:
    from workbench.storage.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.effective_database_url))
