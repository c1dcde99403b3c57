"""Check the numbers of a written text against the figures it claims to rest on.

A model-written summary is shown only if every number in it is one of the figures of the results (the values
its statement cites). `check_numbers` returns the numbers that match none; a statement with any is rejected.

What counts as a number, and when it matches a figure:

* **Digits only.** `25.6`, `2,000` (comma thousands separators: `2,000` is 2000), `−28.8` / `-28.8` / `+49`
  (a sign counts when it is not glued to a word or number before it, so `1-5` is 1 and 5), `70%`, `70.3 %`,
  `70 percent` / `per cent`. Spelled-out numbers ("three", "half") are not read: the prompt asks for digits,
  and this is the check's known blind spot.
* **Rounding, at the written precision.** A number written with d decimals matches a figure within half a unit
  of its last digit: `25.6` and `26` match 25.63, `2,000` matches 2000 but not 1985. Signs must agree:
  `28.8` does not match −28.8.
* **Percentages.** `70%` (or `70.3%`) matches a share 0..1 (0.703) and a figure already in percent (70.3).
  A plain `70` never matches the share 0.703.
* **Bounds.** A number right after `<`, `≤`, `<=`, `>`, `≥` or `>=` is a bound: `p < 0.001` matches when some
  cited figure is below 0.001 (e.g. the adjusted p 6e-188).
* **Not numbers.** Digits glued to letters or underscores on either side: ordinals (`1st`, `2nd`), names and
  identifiers (`MiniLM-L6`, `top2_box`, `Q3`). Numbers inside the **labels** passed in (the survey title,
  question texts, segment, option and theme names, taken from the results) are not figures either: a label is
  blanked out before the text is read, whole words only, and only labels that contain a letter (an option
  called `5` must not excuse every 5). Years get no exemption: `2026` is a number unless it is part of a
  label such as the survey title.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Number", "check_numbers", "figure_values", "read_numbers"]

_NUMBER = re.compile(
    r"(?P<bound>(?:<=|>=|[<>≤≥])\s*)?"
    r"(?P<sign>[-+\u2212])?"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?P<percent>\s?%|\s(?:percent|per\s?cent)\b)?"
)
_WORD = re.compile(r"[^\W\d]|_", re.UNICODE)  # a letter or an underscore
_EPSILON = 1e-9


@dataclass(frozen=True)
class Number:
    """One number as written in a text."""

    written: str  # as it appears, e.g. "−28.8", "70%", "< 0.001"
    value: float  # signed, thousands separators removed; 70 for "70%"
    decimals: int
    percent: bool
    bound: str | None  # "<", "<=", ">" or ">=" for a bound, else None

    def matches(self, figure: float) -> bool:
        candidates = [figure * 100, figure] if self.percent else [figure]
        return any(self._matches_one(c) for c in candidates)

    def _matches_one(self, figure: float) -> bool:
        if self.bound == "<":
            return figure < self.value
        if self.bound == "<=":
            return figure <= self.value
        if self.bound == ">":
            return figure > self.value
        if self.bound == ">=":
            return figure >= self.value
        tolerance = 0.5 * 10 ** -self.decimals + _EPSILON * max(1.0, abs(self.value))
        if abs(figure - self.value) > tolerance:
            return False
        # Signs agree: "28.8" is not −28.8 (a figure that rounds to zero matches either way).
        return not (self.value != 0 and figure != 0 and (figure < 0) != (self.value < 0))


def _blank_labels(text: str, labels: Iterable[str]) -> str:
    usable = sorted({label for label in labels if label and _WORD.search(label)}, key=len, reverse=True)
    for label in usable:
        pattern = re.compile(r"(?<![\w])" + re.escape(label) + r"(?![\w])", re.IGNORECASE)
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return text


def read_numbers(text: str, labels: Iterable[str] = ()) -> list[Number]:
    """The numbers of `text` (see the module docstring), labels blanked out first."""
    text = _blank_labels(text, labels)
    found: list[Number] = []
    for match in _NUMBER.finditer(text):
        start, end = match.start("digits"), match.end("digits")
        before = text[start - 1] if start > 0 else ""
        after = text[end] if end < len(text) else ""
        if _WORD.match(before) or _WORD.match(after) or before == "." or before.isdigit():
            continue  # part of a word or identifier ("L6", "1st", "top2_box")
        sign = match.group("sign") or ""
        if sign:
            sign_at = match.start("sign")
            prior = text[sign_at - 1] if sign_at > 0 else ""
            if prior and (prior.isalnum() or prior in "_.%"):
                sign = ""  # a hyphen or dash between words or numbers ("1-5", "sign-on 2"), not a sign
        digits = match.group("digits")
        value = float(digits.replace(",", ""))
        if sign in ("-", "\u2212"):
            value = -value
        decimals = len(digits.split(".", 1)[1]) if "." in digits else 0
        bound = match.group("bound")
        bound_op = {"≤": "<=", "≥": ">="}.get(bound.strip(), bound.strip()) if bound else None
        percent = match.group("percent") is not None
        written = (bound or "") + sign + digits + (match.group("percent") or "")
        found.append(Number(written.strip(), value, decimals, percent, bound_op))
    return found


def figure_values(facts: Iterable[Any]) -> list[float]:
    """Finite numbers from plain numbers or citations (`{"value": ...}`); None, booleans and text are left out."""
    values: list[float] = []
    for fact in facts:
        value = fact.get("value") if isinstance(fact, Mapping) else fact
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(float(value)):
            values.append(float(value))
    return values


def check_numbers(text: str, facts: Iterable[Any], labels: Iterable[str] = ()) -> list[str]:
    """The numbers written in `text` that match none of `facts`, as written (empty: the text passes).

    `facts` are numbers or citations with a `value`; `labels` are names from the results whose digits are not
    figures (see the module docstring for every rule).
    """
    values = figure_values(facts)
    return [n.written for n in read_numbers(text, labels) if not any(n.matches(v) for v in values)]
