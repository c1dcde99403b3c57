"""`workbench admin`: organizations and API keys, for the operator (acts on the database directly)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cli.common import console, fail, sessions_for
from workbench.access import Role
from workbench.config import get_settings

app = typer.Typer(help="Organizations and API keys (the operator's commands; they use the database directly).",
                  no_args_is_help=True)

OrgOption = Annotated[str, typer.Option("--org", help="Organization slug")]


def _organization(session, slug: str, create: bool = False, name: str | None = None):  # type: ignore[no-untyped-def]
    from workbench.storage import access as store

    org = store.get_organization(session, slug=slug)
    if org is None and create:
        org = store.create_organization(session, slug=slug, name=name or slug)
    if org is None:
        raise fail(f"no organization with the slug {slug!r} (workbench admin create-org {slug})")
    return org


@app.command("create-key")
def create_key(
    user: Annotated[str, typer.Option(help="The user the key belongs to (made if new)")] = "admin",
    role: Annotated[Role, typer.Option(help="viewer: read; analyst: also import, generate, share; admin: all")]
    = Role.ADMIN,
    org: OrgOption = "default",
    name: Annotated[str, typer.Option(help="What the key is for")] = "",
) -> None:
    """Make an API key and print it (shown this once; only its hash is stored)."""
    from workbench.storage import access as store

    with sessions_for(get_settings())() as session:
        organization = _organization(session, org)
        created = store.create_key(session, organization_id=organization.id, user_name=user, role=role,
                                   name=name or f"made by workbench admin for {user}")
        store.record(session, organization_id=organization.id, actor="workbench admin (CLI)", action="key.create",
                     object_type="key", object_id=str(created.key.id))
        session.commit()
    console.print(f"{role.value} key for {user} in {org} (shown once, keep it secret):", highlight=False)
    print(created.text)


@app.command("keys")
def list_keys(org: OrgOption = "default") -> None:
    """List an organization's keys (prefixes, never secrets)."""
    from workbench.storage import access as store

    with sessions_for(get_settings())() as session:
        organization = _organization(session, org)
        table = Table("prefix", "user", "role", "name", "created", "last used", "revoked")
        for key in store.list_keys(session, organization_id=organization.id):
            table.add_row(f"wb_{key.prefix}", key.user.name, key.role, key.name, f"{key.created_at:%Y-%m-%d %H:%M}",
                          f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "",
                          f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "")
    console.print(table)


@app.command("revoke-key")
def revoke_key(prefix: Annotated[str, typer.Argument(help="The key's prefix, e.g. wb_0a1b2c3d4e")],
               org: OrgOption = "default") -> None:
    """Revoke a key: it and the web sign-ins made with it stop working at once."""
    from workbench.storage import access as store

    with sessions_for(get_settings())() as session:
        organization = _organization(session, org)
        wanted = prefix.removeprefix("wb_")
        key = next((k for k in store.list_keys(session, organization_id=organization.id) if k.prefix == wanted), None)
        if key is None:
            raise fail(f"no key {prefix} in {org}")
        store.revoke_key(session, organization_id=organization.id, key_id=key.id)
        store.record(session, organization_id=organization.id, actor="workbench admin (CLI)", action="key.revoke",
                     object_type="key", object_id=str(key.id))
        session.commit()
    console.print(f"revoked {prefix}")


@app.command("create-org")
def create_org(slug: Annotated[str, typer.Argument(help="Short name, e.g. acme")],
               name: Annotated[str | None, typer.Option(help="Display name")] = None) -> None:
    """Make an organization (its data is invisible to every other organization)."""
    import re

    from workbench.storage import access as store

    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,99}", slug):
        raise fail("a slug is lowercase letters, digits and dashes (at most 100)")
    with sessions_for(get_settings())() as session:
        if store.get_organization(session, slug=slug) is not None:
            raise fail(f"organization {slug!r} exists already")
        store.create_organization(session, slug=slug, name=name or slug)
        session.commit()
    console.print(f"organization {slug} made; give it a key: workbench admin create-key --org {slug}")
