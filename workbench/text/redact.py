"""Redaction of personal details in answers before any of their text leaves the machine (a remote model).

`redact(text)` replaces:

* **contact details**, with the patterns and placeholders of `workbench.text.clean`: e-mail addresses
  (`[email]`), links and bare domains (`[link]`), @mentions (`@user`) and phone numbers (`[phone]`, 9-15 digits);
* **person names** (`[name]`), found by four pragmatic rules, in this order:

  1. an introduction: "my name is X", "name's X", "call me X", "I am called X", with X capitalised
     (and a capitalised surname after it, if any);
  2. a title before capitalised words: Mr, Mrs, Ms, Miss, Mx, Dr, Prof, Sir, Madam, Dame, Rev, Fr (the title is
     kept, the name goes: "Dr [name]");
  3. a capitalised word in the committed list of common US first names (`data/first_names.txt`: from the
     public-domain SSA baby-name data; names that are also everyday capitalised words, such as Will, May, Grace
     or Mark, are left out), with a capitalised surname right after it;
  4. a sign-off closing the answer: "Thanks X", "Cheers X", "Regards, X", "Best, X", "Sincerely, X" (those
     with the comma or a line break),
     "- X" / "-- X" / "— X", with X one to three capitalised words at the very end (or before a closing quote,
     as at the end of an answer quoted in a longer message).

What it does not catch (pattern rules, not a named-entity model; see tests/unit/test_redact.py): a name written
in lower case ("ask for sarah"), a first name missing from the list that has no title, introduction or
sign-off before it ("Thanks to Zephyrine at the desk"), a surname alone ("Johnson was rude"), names in other
scripts, and other identifying details (street addresses, order or account numbers under 9 digits, job titles
such as "the manager of the Leeds branch"). A listed name that is meant as a word is redacted too ("Jack it
up", "Jordan" the country). Redaction is idempotent: placeholders are never matched again.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from workbench.text.clean import (
    _DOMAIN,
    _EMAIL,
    _MENTION,
    _PHONE,
    _URL,
    EMAIL_PLACEHOLDER,
    MENTION_PLACEHOLDER,
    URL_PLACEHOLDER,
    _phone,
)

NAME_PLACEHOLDER = "[name]"
NAMES_FILE = Path(__file__).resolve().parent / "data" / "first_names.txt"

# A capitalised word (letters, optional inner apostrophe or hyphen: O'Brien, Mary-Jane), not glued to a word.
_CAP = r"[A-Z][a-z]+(?:['’-][A-Z]?[a-z]+)?"
_SURNAME = rf"(?:\s+(?!(?:{{stop}})\b){_CAP})?"
# Capitalised words that follow a name without being a surname ("Sarah Thanks", "Tom I") are rare; these few
# are kept out of the surname slot anyway, since they start the next sentence when a full stop is missing.
_STOP = "I|The|A|An|And|But|So|Thanks|Thank|Great|Very|Was|Is|Has|Had|He|She|They|We|It|My|Our|At|In|On|From"
_FULL = _CAP + _SURNAME.format(stop=_STOP)

_INTRO = re.compile(rf"((?i:\b(?:my\s+name\s+is|my\s+name's|name's|call\s+me|i\s+am\s+called|i'm\s+called)\s+))"
                    rf"(?:{_FULL})")
_TITLE = re.compile(rf"\b(Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam|Dame|Rev|Fr)(\.?\s+)(?:{_CAP})(?:\s+{_CAP})?")
# Words after "Thanks" that are not a signature ("Thanks Team", "Thanks Again").
_NOT_SIGNATURES = "Team|Everyone|All|Again|Guys|You|So|Much|Very|Great|Folks|Staff|Everybody"
_SIGN_OFF = re.compile(
    rf"((?:(?i:thanks|thank\s+you|many\s+thanks|cheers)\s*,?\s*\n?\s*)"
    # these need the comma or line break: "at Best Buy", "I love Target" are not sign-offs
    rf"|(?:(?i:regards|kind\s+regards|best\s+regards|best|sincerely|yours(?:\s+truly)?|love|warmly)\s*(?:,|\n)\s*)"
    rf"|(?:^|\s)(?:-{{1,2}}|—|–)\s*)"
    rf"(?!(?:{_NOT_SIGNATURES})\b)({_CAP}(?:\s+{_CAP}){{0,2}})\s*[.!]?\s*(?=$|[\"'’”])"
)
_WORD = re.compile(rf"(?<![\w\[-]){_CAP}(?![\w-])")


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """The committed list of first names (Title case)."""
    lines = NAMES_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _listed_names(text: str) -> str:
    names = first_names()
    out: list[str] = []
    pos = 0
    matches = list(_WORD.finditer(text))
    i = 0
    while i < len(matches):
        m = matches[i]
        if m.group(0).split("'")[0].split("’")[0] not in names:
            i += 1
            continue
        end = m.end()
        # A surname right after it (one space, capitalised, not a sentence start word).
        if i + 1 < len(matches):
            nxt = matches[i + 1]
            if text[end:nxt.start()] == " " and not re.fullmatch(_STOP, nxt.group(0)):
                end = nxt.end()
                i += 1
        out.append(text[pos:m.start()])
        possessive = "'s" if text[m.start():end].endswith(("'s", "’s")) else ""
        out.append(NAME_PLACEHOLDER + possessive)
        pos = end
        i += 1
    out.append(text[pos:])
    return "".join(out)


def redact_names(text: str) -> str:
    """Replace person names found by the rules in the module docstring with `[name]`."""
    text = _INTRO.sub(lambda m: f"{m.group(1)}{NAME_PLACEHOLDER}", text)
    text = _TITLE.sub(lambda m: f"{m.group(1)}{m.group(2)}{NAME_PLACEHOLDER}", text)
    text = _SIGN_OFF.sub(lambda m: f"{m.group(1)}{NAME_PLACEHOLDER}", text)
    return _listed_names(text)


def redact(text: str) -> str:
    """`text` with e-mail addresses, links, @mentions, phone numbers and person names replaced by placeholders.

    Args:
        text: An answer (raw or already cleaned; placeholders of `clean_text` pass through unchanged).

    Returns:
        The redacted text; see the module docstring for what is and is not caught.
    """
    text = _EMAIL.sub(EMAIL_PLACEHOLDER, text)
    text = _URL.sub(URL_PLACEHOLDER, text)
    text = _DOMAIN.sub(URL_PLACEHOLDER, text)
    text = _MENTION.sub(MENTION_PLACEHOLDER, text)
    text = _PHONE.sub(_phone, text)
    return redact_names(text)
