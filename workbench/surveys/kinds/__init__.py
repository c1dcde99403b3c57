"""The registry of question kinds: one module per kind, registered here once.

A kind says which definition fields it accepts and checks them, how an answer normalises and validates, how a
CSV cell parses, and how a stored answer is read for analysis (`QuestionKind`). The schema, the validation and
the importers ask this registry; the summaries and charts are registered per kind in `workbench.analysis`.
Adding a kind is a module here, one `register` line below, its summary in `analysis/stats.py` and its chart in
`analysis/charts.py`.
"""

from __future__ import annotations

from typing import Any

from workbench.surveys.kinds.base import KIND_FIELDS, ImportOptions, QuestionKind

_KINDS: dict[str, QuestionKind] = {}
# Old type names kept working: the name and the definition fields it stands for.
_ALIASES: dict[str, dict[str, Any]] = {}


class UnknownKindError(KeyError):
    """No kind has this name."""


def register(kind: QuestionKind) -> QuestionKind:
    """Add `kind`; a name belongs to one kind.

    Raises:
        ValueError: The name is taken.
    """
    if kind.name in _KINDS or kind.name in _ALIASES:
        raise ValueError(f"question kind {kind.name!r} is already registered")
    _KINDS[kind.name] = kind
    return kind


def register_alias(name: str, fields: dict[str, Any]) -> None:
    """Accept type `name` as shorthand for `fields` (which include the real `type`)."""
    if name in _KINDS or name in _ALIASES:
        raise ValueError(f"question kind {name!r} is already registered")
    _ALIASES[name] = fields


def get(name: str) -> QuestionKind:
    """The kind called `name`.

    Raises:
        UnknownKindError: No kind has this name.
    """
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownKindError(name) from None


def names() -> list[str]:
    """Registered kind names, in registration order (aliases are not kinds)."""
    return list(_KINDS)


def aliases() -> list[str]:
    """Accepted old type names."""
    return list(_ALIASES)


def expand_alias(question: dict[str, Any]) -> dict[str, Any]:
    """A question definition whose `type` is an alias, rewritten as the kind it stands for; others unchanged.

    Raises:
        ValueError: The definition also sets a field the alias fixes (a `rating` with its own `max`).
    """
    qtype = question.get("type")
    fields = _ALIASES.get(qtype) if isinstance(qtype, str) else None
    if fields is None:
        return question
    clash = [f for f in fields if f != "type" and question.get(f) is not None]
    if clash:
        raise ValueError(f"type {question['type']!r} is a {fields['type']} with fixed {', '.join(fields)}; "
                         f"use type {fields['type']!r} to set {', '.join(repr(c) for c in clash)}")
    return {**question, **fields}


def _register_builtins() -> None:
    from workbench.surveys.kinds import choice, date, nps, numeric, ordinal, scale, text

    for kind in (nps.Nps(), scale.Scale(), ordinal.Ordinal(), numeric.Numeric(), choice.SingleChoice(),
                 choice.MultiChoice(), text.Text(), date.Date()):
        register(kind)
    register_alias("rating", scale.RATING_ALIAS)


__all__ = ["KIND_FIELDS", "ImportOptions", "QuestionKind", "UnknownKindError", "aliases", "expand_alias", "get",
           "names", "register", "register_alias"]


_register_builtins()
