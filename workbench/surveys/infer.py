"""Propose a survey definition and column mapping from a raw export (`workbench survey infer FILE.csv`).

The proposal is a starting point for a person to edit, not a verdict: every column gets a question key derived
from its header, a kind guessed from its values, and a note when the guess was a close call or a limit forced
it. The result is a mapping file (`workbench.surveys.mapping`) whose definition validates as it is, so the raw
file imports unchanged with `workbench survey import --map`.

Guesses, in order: an id-like unique column is the respondent id; timestamps named like a start or an end are
`started_at`/`completed_at`, other dates are `date` questions (with their strptime format when not ISO); whole
numbers 0-10 under a header saying "recommend" are `nps`, other whole numbers in a small range are a `scale`,
other numbers `numeric`; cells listing separated entries that recur are `multi_choice`; ordered Likert wording
("strongly disagree" ... "strongly agree", "never" ... "always", "very unlikely" ... "very likely") is `ordinal`;
few distinct short strings are `single_choice`; anything else is `text`. Limits (200 questions, 1,000 options,
200-character options) turn a column into text, or leave it out, with a note.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.surveys.limits import (
    FORBIDDEN_CHARACTERS,
    MAX_KEY_LENGTH,
    MAX_OPTION_LENGTH,
    MAX_OPTIONS,
    MAX_QUESTION_TEXT_LENGTH,
    MAX_QUESTIONS,
    MAX_RESPONDENT_ID_LENGTH,
    MAX_TITLE_LENGTH,
    MULTI_CHOICE_SEPARATOR,
)
from workbench.surveys.mapping import META_COLUMNS, ImportMapping, separator_problem
from workbench.surveys.schema import SurveyDefinition

if TYPE_CHECKING:
    import pandas as pd

MAX_CHOICES = 60  # distinct answers a single_choice proposal may have; more reads as free entry (text)
MAX_CHOICE_LENGTH = 80  # mean answer length above which a column reads as free text
SCALE_SPAN = 10  # whole numbers spanning at most this (from -10..1 upwards) are a scale
_ID_HEADER = re.compile(r"(^|[^a-z])(id|uuid|respondent|response id|record)([^a-z]|$)|^unnamed", re.IGNORECASE)
_START_HEADER = re.compile(r"start|begin|open", re.IGNORECASE)
_END_HEADER = re.compile(r"end|submit|complet|finish|timestamp|date submitted|close", re.IGNORECASE)
_DATE_LIKE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}")
_STOP_WORDS = frozenset(
    "a an the of to you your yours is are was were be been do does did have has had with for in on at or and that "
    "this these those would will could should can if what which how who whom it its as by from any ever".split())
MAX_KEY_WORDS = 6

# Date formats tried in order (ISO first; day-first only when month-first fails, since US exports are common).
_DATE_FORMATS = ("%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y", "%d.%m.%Y", "%Y/%m/%d")
_TIME_FORMATS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p")

# Likert families: labels lowest first with their rank; `core` labels make up the usual 5-point scale and are
# all proposed when the answers use only core labels (a scale whose "Rarely" nobody chose still has it).
_LIKERT: list[list[tuple[str, float, bool]]] = [
    [("Strongly disagree", 0, True), ("Disagree", 1, True), ("Somewhat disagree", 1.5, False),
     ("Neither agree nor disagree", 2, True), ("Neutral", 2, False), ("Somewhat agree", 2.5, False),
     ("Agree", 3, True), ("Strongly agree", 4, True)],
    [("Never", 0, True), ("Rarely", 1, True), ("Seldom", 1, False), ("Sometimes", 2, True), ("Often", 3, True),
     ("Usually", 3.5, False), ("Very often", 3.5, False), ("Always", 4, True)],
    [("Very unlikely", 0, True), ("Unlikely", 1, True), ("Somewhat unlikely", 1.5, False),
     ("Neither likely nor unlikely", 2, True), ("Neutral", 2, False), ("Somewhat likely", 2.5, False),
     ("Likely", 3, True), ("Very likely", 4, True)],
    [("Very dissatisfied", 0, True), ("Dissatisfied", 1, True), ("Somewhat dissatisfied", 1.5, False),
     ("Neither satisfied nor dissatisfied", 2, True), ("Neutral", 2, False), ("Somewhat satisfied", 2.5, False),
     ("Satisfied", 3, True), ("Very satisfied", 4, True)],
    [("Very difficult", 0, True), ("Difficult", 1, True), ("Somewhat difficult", 1.5, False),
     ("Neither easy nor difficult", 2, True), ("Neutral", 2, False), ("Somewhat easy", 2.5, False),
     ("Easy", 3, True), ("Very easy", 4, True)],
    [("Not at all important", 0, True), ("Slightly important", 1, True), ("Moderately important", 2, True),
     ("Very important", 3, True), ("Extremely important", 4, True)],
]


@dataclass
class ColumnGuess:
    """What `infer_mapping` proposes for one raw column.

    Attributes:
        position: The column's 1-based position.
        header: The raw header text.
        target: The question key, a meta column, or None (left out).
        kind: The proposed question kind (None for meta columns and left-out columns).
        detail: A short description of the guess ("1-5", "3 options").
        note: Why a guess was a close call or forced by a limit; None when plain.
    """

    position: int
    header: str
    target: str | None
    kind: str | None = None
    detail: str = ""
    note: str | None = None
    question: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class Inference:
    """A proposed mapping file (`mapping`, JSON-able) and the guess per column (for the summary table)."""

    mapping: dict[str, Any]
    columns: list[ColumnGuess]

    @property
    def notes(self) -> list[str]:
        return list(self.mapping.get("notes", []))


def infer_mapping(
    path: Path, *, separator: str = MULTI_CHOICE_SEPARATOR, title: str | None = None, encoding: str = "utf-8",
) -> Inference:
    """Propose a survey definition and column mapping for the raw CSV export at `path`.

    Args:
        path: The raw CSV (any headers; the first row is the header).
        separator: What separates the entries of a multi-select cell in this export.
        title: The survey title (default: from the file name).
        encoding: The file's text encoding.

    Returns:
        The proposal; `mapping` validates as an `ImportMapping` with its survey.

    Raises:
        ValueError: The file cannot be read as CSV, has no header, or the separator is unusable.
    """
    import pandas as pd

    problem = separator_problem(separator)
    if problem:
        raise ValueError(problem)
    codec = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
    try:
        with path.open(encoding=codec, newline="") as f:
            header = next(csv.reader(f), None)
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding=codec,
                            skip_blank_lines=True)
    except (UnicodeDecodeError, csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"cannot read {path.name} as CSV: {exc}") from None
    if not header or not any(h.strip() for h in header):
        raise ValueError(f"{path.name} has no header row")
    return infer_from_frame(frame, header, separator=separator, title=title or _title(path))


def infer_from_frame(
    frame: pd.DataFrame, header: list[str], *, separator: str = MULTI_CHOICE_SEPARATOR, title: str = "Survey",
) -> Inference:
    """`infer_mapping` for a frame already read (all cells as strings, blanks as ""), columns in `header` order.

    Args:
        frame: The data, one column per header cell (pandas renames duplicates; positions are what count).
        header: The raw header cells.
        separator: What separates the entries of a multi-select cell.
        title: The survey title.

    Returns:
        The proposal (see `infer_mapping`).
    """
    notes: list[str] = []
    guesses: list[ColumnGuess] = []
    keys: set[str] = set()
    counts = Counter(header)
    taken: set[str] = set()  # meta columns already assigned
    date_format: str | None = None
    questions = 0
    for i, name in enumerate(header):
        values = [v.strip() for v in frame.iloc[:, i].tolist()] if i < frame.shape[1] else []
        guess = _guess(i + 1, name, values, separator, taken)
        if guess.target in META_COLUMNS:
            taken.add(guess.target)
            if guess.target != "respondent_id" and guess.detail and guess.detail != "ISO 8601":
                if date_format is None:
                    date_format = guess.detail
                elif guess.detail != date_format:
                    guess.note = f"its format differs from {date_format!r}: only one timestamp format per import"
        elif guess.question is not None:
            if questions >= MAX_QUESTIONS:
                guess.target, guess.kind, guess.question = None, None, None
                guess.note = f"left out: a survey has at most {MAX_QUESTIONS} questions"
            else:
                key = _unique_key(_key(name, i + 1), keys)
                keys.add(key)
                guess.target = key
                guess.question["key"] = key
                questions += 1
        guesses.append(guess)
        if guess.note:
            notes.append(f"column {guess.position} ({_short(name)}): {guess.note}")
    if questions == 0:
        raise ValueError("no column could become a question")
    columns: dict[str, str | None] = {}
    for guess in guesses:
        unique = counts[guess.header] == 1 and guess.header.strip() != ""
        columns[guess.header if unique else f"#{guess.position}"] = guess.target
    mapping: dict[str, Any] = {
        "survey": {"title": title[:MAX_TITLE_LENGTH] or "Survey",
                   "questions": [g.question for g in guesses if g.question is not None and g.target is not None]},
        "columns": columns,
        "separator": separator,
        "on_duplicate": "reject",
    }
    if date_format:
        mapping["date_format"] = date_format
    if notes:
        mapping["notes"] = notes
    ImportMapping.model_validate(mapping)  # a proposal that does not validate is a bug here, not the user's
    SurveyDefinition.model_validate(mapping["survey"])
    return Inference(mapping, guesses)


def _guess(position: int, header: str, values: list[str], separator: str, taken: set[str]) -> ColumnGuess:
    text = header.strip()[:MAX_QUESTION_TEXT_LENGTH] or f"Column {position}"
    text = FORBIDDEN_CHARACTERS.sub(" ", text)
    answered = [v for v in values if v]
    guess = ColumnGuess(position, header, None)

    def question(kind: str, detail: str = "", note: str | None = None, **fields: Any) -> ColumnGuess:
        guess.kind, guess.detail, guess.note = kind, detail, note
        guess.question = {"key": "", "type": kind, "text": text, **fields}
        guess.target = ""  # the key is assigned by the caller, in file order
        return guess

    if not answered:
        return question("text", "always blank", "every cell is blank: kept as text, or map it to null")
    if ("respondent_id" not in taken and len(answered) == len(values) and len(set(answered)) == len(answered)
            and (not header.strip() or _ID_HEADER.search(header))
            and max(map(len, answered)) <= MAX_RESPONDENT_ID_LENGTH
            and not any(FORBIDDEN_CHARACTERS.search(v) for v in answered)):
        guess.target, guess.detail = "respondent_id", "unique id"
        return guess
    numbers = _numbers(answered)
    if numbers is not None:
        return _numeric(question, header, numbers)
    when = _dates(answered)
    if when is not None:
        fmt, has_time = when
        meta = _timestamp_target(header, taken) if has_time else None
        if meta is not None:
            guess.target, guess.detail = meta, fmt or "ISO 8601"
            return guess
        fields = {"format": fmt} if fmt else {}
        return question("date", fmt or "ISO 8601", "times of day are dropped (a date question)" if has_time else None,
                        **fields)
    if any(FORBIDDEN_CHARACTERS.search(v) for v in answered):
        return question("text", "free text")
    multi = _multi_choice(answered, separator)
    if multi is not None:
        options, note = multi
        if note:
            return question("text", "free text", note)
        return question("multi_choice", f"{len(options)} options", None, options=options)
    folded = _canonical(answered)
    distinct = list(folded.values())
    likert = _likert(distinct)
    if likert is not None:
        options, extras = likert
        if not extras:
            return question("ordinal", f"{len(options)} labels", None, options=options)
        if len(distinct) <= MAX_CHOICES:
            note = (f"ordered like a scale but also has {', '.join(repr(e) for e in extras[:2])}: single_choice "
                    "in scale order (make it ordinal if that answer belongs on the scale)")
            return question("single_choice", f"{len(options) + len(extras)} options", note,
                            options=[*options, *extras])
    mean_length = sum(map(len, answered)) / len(answered)
    if (len(distinct) <= min(MAX_CHOICES, max(10, len(answered) // 10)) and mean_length <= MAX_CHOICE_LENGTH
            and all(_option_ok(o) for o in distinct)):
        frequency = Counter(folded[v.casefold()] for v in answered)
        options = [o for o, _ in frequency.most_common()]
        return question("single_choice", f"{len(options)} options", None, options=options)
    note = None
    if len(distinct) <= MAX_CHOICES and mean_length <= MAX_CHOICE_LENGTH and len(distinct) <= 10:
        note = "short answers, but some are not usable as options"
    elif len(distinct) <= 2 * MAX_CHOICES and mean_length <= 30:
        note = f"{len(distinct)} distinct short answers (free entry?): text; make it single_choice to count them"
    return question("text", "free text", note)


def _numeric(question: Any, header: str, numbers: list[float]) -> ColumnGuess:
    low, high = min(numbers), max(numbers)
    if all(n.is_integer() for n in numbers):
        lo, hi = int(low), int(high)
        if "recommend" in header.lower() and 0 <= lo and hi <= 10 and hi >= 6:
            return question("nps", "0-10")
        if -SCALE_SPAN <= lo <= 1 and 0 < hi - lo <= SCALE_SPAN and not _ID_HEADER.search(header):
            note = "only 0 and 1: a yes/no flag? (labels could say which is which)" if (lo, hi) == (0, 1) else None
            return question("scale", f"{lo}-{hi}", note, min=lo, max=hi)
        if _ID_HEADER.search(header):
            return question("text", "identifier", "whole numbers under an id-like header: kept as text (a code, not "
                                                  "a quantity)")
    return question("numeric", f"{_number(low)}..{_number(high)}")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _numbers(values: list[str]) -> list[float] | None:
    numbers = []
    for v in values:
        try:
            number = float(v)
        except ValueError:
            return None
        if number != number or number in (float("inf"), float("-inf")):
            return None
        numbers.append(number)
    return numbers


def _dates(values: list[str]) -> tuple[str | None, bool] | None:
    """(strptime format or None for ISO, whether times are given) when every value is a date, else None."""
    from datetime import datetime

    if not all(_DATE_LIKE.search(v) for v in values[:50]):
        return None
    try:
        parsed = [datetime.fromisoformat(v) for v in values]
        return None, any(":" in v for v in values)
    except ValueError:
        pass
    for date_format in _DATE_FORMATS:
        for time_format in _TIME_FORMATS:
            fmt = date_format + time_format
            try:
                parsed = [datetime.strptime(v, fmt) for v in values]
            except ValueError:
                continue
            return fmt, bool(time_format) and any(p.hour or p.minute or p.second for p in parsed)
    return None


def _timestamp_target(header: str, taken: set[str]) -> str | None:
    if "started_at" not in taken and _START_HEADER.search(header):
        return "started_at"
    if "completed_at" not in taken and _END_HEADER.search(header):
        return "completed_at"
    return None


def _multi_choice(values: list[str], separator: str) -> tuple[list[str], str | None] | None:
    """(options by frequency, a note when they cannot be options) for a multi-select column, else None."""
    listed = sum(1 for v in values if separator in v)
    if listed < max(2, len(values) // 100):
        return None
    tokens = [t.strip() for v in values for t in v.split(separator) if t.strip()]
    folded = _canonical(tokens)
    if len(tokens) < 1.5 * len(folded):
        return None  # entries rarely recur: free text that happens to contain the separator
    frequency = Counter(folded[t.casefold()] for t in tokens)
    options = [o for o, _ in frequency.most_common()]
    if len(options) > MAX_OPTIONS:
        return options, f"cells list {len(options)} distinct entries, more than the {MAX_OPTIONS} options allowed"
    bad = next((o for o in options if not _option_ok(o)), None)
    if bad is not None:
        return options, f"the entry {_short(bad)} cannot be an option (over {MAX_OPTION_LENGTH} characters?)"
    return options, None


def _canonical(values: list[str]) -> dict[str, str]:
    """Casefolded value -> its most frequent spelling: answers equal but for case are one option (imports
    match cells ignoring case)."""
    spellings: dict[str, Counter[str]] = {}
    for v in values:
        spellings.setdefault(v.casefold(), Counter())[v] += 1
    return {k: c.most_common(1)[0][0] for k, c in spellings.items()}


def _likert(distinct: list[str]) -> tuple[list[str], list[str]] | None:
    """(the scale's labels in order, answers outside it) when at least two answers form a known Likert scale."""
    seen = {v.casefold(): v for v in distinct}
    for family in _LIKERT:
        ranks = {label.casefold(): (rank, core) for label, rank, core in family}
        inside = [v for k, v in seen.items() if k in ranks]
        extras = [v for k, v in seen.items() if k not in ranks]
        if len(inside) < 2 or len(inside) < len(extras) or (extras and len(inside) < 3):
            continue
        if all(ranks[v.casefold()][1] for v in inside):
            labels = [seen.get(label.casefold(), label) for label, _, core in family if core]
        else:
            labels = sorted(inside, key=lambda v: ranks[v.casefold()][0])
        return labels, extras
    return None


def _option_ok(option: str) -> bool:
    return (0 < len(option) <= MAX_OPTION_LENGTH and MULTI_CHOICE_SEPARATOR not in option
            and not FORBIDDEN_CHARACTERS.search(option))


def _key(header: str, position: int) -> str:
    """A lower snake case key from a header: ASCII words, stop words dropped, at most a few words."""
    ascii_text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", ascii_text)
    meaningful = [w for w in words if w not in _STOP_WORDS] or words
    key = "_".join(meaningful[:MAX_KEY_WORDS])
    if not key:
        return f"column_{position}"
    if not key[0].isalpha():
        key = f"q_{key}"
    if key in META_COLUMNS:
        key = f"{key}_answer"  # a question key that reads like a meta column would confuse plain CSV imports
    return key[:MAX_KEY_LENGTH].rstrip("_")


def _unique_key(key: str, taken: set[str]) -> str:
    if key not in taken:
        return key
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = key[: MAX_KEY_LENGTH - len(suffix)].rstrip("_") + suffix
        if candidate not in taken:
            return candidate
        n += 1


def _title(path: Path) -> str:
    words = re.sub(r"[_\-.]+", " ", path.stem).strip()
    return (words[:1].upper() + words[1:]) or "Survey"


def _short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")
