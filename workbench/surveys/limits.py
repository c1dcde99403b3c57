"""The bounds on what a survey and a response may hold, and on what a message about them may echo.

The one place that bounds a survey (docs/api.md, "Limits"); `workbench.surveys.schema` re-exports the constants.
Unbounded definitions let a 5 KB import produce a 50 MB error body and a chart take minutes to draw.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

MAX_TITLE_LENGTH = 300
MAX_DESCRIPTION_LENGTH = 10_000
MAX_QUESTIONS = 200
MAX_KEY_LENGTH = 63
MAX_QUESTION_TEXT_LENGTH = 2_000
MAX_OPTIONS = 1_000  # per choice or ordinal question, and per `required_if` value list
MAX_OPTION_LENGTH = 200  # an option, an ordinal or scale label
MAX_RESPONDENT_ID_LENGTH = 200
MAX_TEXT_LENGTH = 10_000  # a text answer
MAX_SCALE_SPAN = 100  # max - min of a scale question: one bar and one count per value
MAX_FORMAT_LENGTH = 50  # a date question's strptime format

QUESTION_KEY = re.compile(rf"[a-z][a-z0-9_]{{0,{MAX_KEY_LENGTH - 1}}}")  # fullmatch: `$` would let "key\n" in
MULTI_CHOICE_SEPARATOR = "|"  # the default; an import may declare another

# C0 control characters except tab, newline and CR, and unpaired surrogates: PostgreSQL text and JSONB cannot
# hold NUL (nor can any UTF-8 column hold a lone surrogate), and the rest only corrupt displays and exports.
FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")

# Error output is bounded whatever the input: a message never lists every option nor echoes a whole value, so
# an error body cannot grow with the survey (a 5 KB import once produced a 50 MB 422).
MAX_LISTED_OPTIONS = 3  # options named in a message; more are counted, not listed

_echo = reprlib.Repr()
_echo.maxstring = 40  # an echoed string keeps its start and end
_echo.maxother = 40
_echo.maxlist = _echo.maxtuple = _echo.maxset = _echo.maxdict = MAX_LISTED_OPTIONS
_echo.maxlevel = 2


def forbidden_character(value: str) -> str | None:
    """Why `value` cannot be stored (naming the first forbidden character and its position), or None."""
    match = FORBIDDEN_CHARACTERS.search(value)
    if match is None:
        return None
    kind = "an unpaired surrogate" if "\ud800" <= match.group() <= "\udfff" else "a control character"
    return f"must not contain {kind} (U+{ord(match.group()):04X} at position {match.start()})"


def echo(value: Any) -> str:
    """A short repr of a user-supplied value for a message: long strings and lists are cut, controls escaped."""
    return _echo.repr(value)


def describe_options(options: list[Any]) -> str:
    """The allowed options for a message: all of a short list, else the count and the first few."""
    if len(options) <= MAX_LISTED_OPTIONS:
        return echo(options)
    first = ", ".join(echo(o) for o in options[:MAX_LISTED_OPTIONS])
    return f"the {len(options)} options ({first}, ...)"
