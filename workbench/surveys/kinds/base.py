"""What every question kind provides: its definition fields, answer normalisation, CSV cells and tolerant reads.

A kind is a `QuestionKind` subclass registered once in `workbench.surveys.kinds`. Messages stay bounded: they
echo values with `echo` and name options with `describe_options` (never more than three).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from workbench.surveys.limits import MULTI_CHOICE_SEPARATOR, echo

if TYPE_CHECKING:
    from workbench.surveys.schema import Question

# Definition fields a kind may accept beyond key, type, text, required and required_if.
KIND_FIELDS = ("options", "min", "max", "labels", "format")


@dataclass(frozen=True)
class ImportOptions:
    """Settings declared per import, handed to every cell parser.

    Attributes:
        separator: What separates the options of a multi-choice CSV cell (default `|`).
    """

    separator: str = MULTI_CHOICE_SEPARATOR


class QuestionKind:
    """One question kind. Subclasses set `name` and `fields` and override what differs from the defaults.

    Conventions: `normalize` returns the stored form of an answer, or None when the value counts as not answered
    (a blank text, an empty list); it raises ValueError with a bounded message when the value is invalid.
    """

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]] = ()  # which of KIND_FIELDS the definition accepts

    # --- definition ---------------------------------------------------------------------------------------
    def check_field(self, field: str, value: Any, given: Mapping[str, Any]) -> Any:
        """Validate one kind field of a definition; `given` holds the fields validated before it.

        Returns:
            The value to keep (possibly normalised).

        Raises:
            ValueError: The field does not belong to this kind, or its value is invalid.
        """
        if field not in self.fields:
            if value is not None:
                raise ValueError(f"a {self.name} question takes no '{field}'")
            return None
        return self.field_value(field, value, given)

    def field_value(self, field: str, value: Any, given: Mapping[str, Any]) -> Any:
        """Validate a field this kind accepts (override per kind); by default any value is kept."""
        return value

    # --- answers ------------------------------------------------------------------------------------------
    def normalize(self, question: Question, value: Any) -> Any:
        """The stored form of an answer (None: not answered); raises ValueError saying why it is invalid."""
        raise NotImplementedError

    def parse_cell(self, question: Question, raw: str, options: ImportOptions) -> Any:
        """The answer a non-blank, stripped CSV cell stands for, before `normalize` (default: the text)."""
        return raw

    def import_problem(self, question: Question, options: ImportOptions) -> str | None:
        """Why this question cannot be imported with these import settings, or None."""
        return None

    def coerce(self, question: Question, raw: Any) -> Any:
        """A stored answer read leniently for analysis: its valid form, or None (never raises).

        Snapshots may hold answers that predate a rule (a "9" string, a `|`-joined multi-choice cell): a valid
        answer as JSON or as a CSV cell counts; anything else is ignored.
        """
        if raw is None:
            return None
        try:
            return self.normalize(question, raw)
        except (ValueError, TypeError):
            pass
        if isinstance(raw, str) and raw.strip():
            try:
                return self.normalize(question, self.parse_cell(question, raw.strip(), ImportOptions()))
            except (ValueError, TypeError):
                return None
        return None

    # --- conditions (`required_if`) -----------------------------------------------------------------------
    def condition_value(self, question: Question, value: Any) -> Any:
        """One `required_if` value checked as a possible answer to `question`; raises ValueError if not."""
        normalized = self.normalize(question, value)
        if normalized is None:
            raise ValueError("is not an answer")
        return normalized

    def matches(self, answer: Any, values: Sequence[Any]) -> bool:
        """Whether a stored answer is one of the `required_if` values."""
        return answer is not None and answer in values


# --- helpers shared by kinds ------------------------------------------------------------------------------

def is_number(value: Any) -> bool:
    """A JSON number (int or float, not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def finite(value: int | float) -> bool:
    """Finite as a float (a 400-digit int is not: statistics could not use it)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def whole_number(value: Any, low: int, high: int) -> int:
    """`value` as an int from `low` to `high`; integral floats (7.0) count. Raises ValueError otherwise."""
    if not is_number(value) or not finite(value) or value != int(value):
        raise ValueError(f"must be a whole number from {low} to {high}, got {echo(value)}")
    if not low <= value <= high:
        raise ValueError(f"must be from {low} to {high}, got {echo(value)}")
    return int(value)


def parse_whole_number(raw: str) -> int:
    """A CSV cell as a whole number: "4" or "4.0". Raises ValueError otherwise."""
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise ValueError(f"must be a whole number, got {echo(raw)}")
    return int(number)


def definition_number(field: str, value: Any, *, whole: bool) -> int | float:
    """A `min`/`max` definition value: a number (a whole number when `whole`). Raises ValueError otherwise."""
    if not is_number(value) or not finite(value):
        raise ValueError(f"'{field}' must be a finite number, got {echo(value)}")
    if whole:
        if value != int(value):
            raise ValueError(f"'{field}' must be a whole number, got {echo(value)}")
        return int(value)
    return value


_LOOKUPS: dict[int, tuple[list[str], dict[str, str]]] = {}


def option_lookup(options: list[str]) -> dict[str, str]:
    """Case-insensitive lookup of `options` (casefolded text -> option); options equal but for case are left
    out, since a cell could not say which one it means. Cached per options list: a 1,000-option question is
    looked up once per cell."""
    cached = _LOOKUPS.get(id(options))
    if cached is not None and cached[0] is options:
        return cached[1]
    folded: dict[str, str | None] = {}
    for option in options:
        key = option.strip().casefold()
        folded[key] = None if key in folded else option
    lookup = {k: v for k, v in folded.items() if v is not None}
    if len(_LOOKUPS) > 256:  # a bound, not an LRU: surveys are few and small
        _LOOKUPS.clear()
    _LOOKUPS[id(options)] = (options, lookup)
    return lookup


def match_option(options: list[str], raw: str) -> str:
    """The canonical option a cell names (exactly, else ignoring case and surrounding space), else `raw`."""
    if raw in options:
        return raw
    return option_lookup(options).get(raw.strip().casefold(), raw)


def check_options(kind: str, options: Any, *, at_least: int = 1) -> list[str]:
    """The shared rule for `options`: present, enough, distinct, non-blank, free of the default separator."""
    if not options or len(options) < at_least:
        need = "a non-empty 'options' list" if at_least <= 1 else f"an 'options' list of at least {at_least}"
        raise ValueError(f"a {kind} question needs {need}")
    if len(set(options)) != len(options):
        raise ValueError("'options' must be distinct")
    if any(not o.strip() or MULTI_CHOICE_SEPARATOR in o for o in options):
        raise ValueError(f"options must be non-blank and must not contain '{MULTI_CHOICE_SEPARATOR}'")
    return list(options)
