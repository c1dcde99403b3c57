"""Cleaning of free-text answers before any engine reads them.

Three steps, in order:

1. **Per answer** (`clean_text`): HTML entities unescaped (repeatedly: exports often encode several times, as in
   `&amp;amp;#39;`); e-mail addresses, URLs, phone numbers and @mentions replaced by neutral placeholders
   (`[email]`, `[link]`, `[phone]`, `@user`) that no sentiment lexicon scores and no reader can be identified by;
   spaces normalised (line breaks kept for step 2).
2. **Across answers** (`find_boilerplate`, `strip_boilerplate`): a line or sentence repeated verbatim in many
   answers (a site's "Click expand to view", a signature) is text nobody wrote as an answer. A segment is
   boilerplate when it has at least `min_words` (4) words and appears, next to other text, in at least
   `min_count` (10) answers and more than `min_share` (5%) of them. A segment that is a whole answer does not
   count: many people answering "Great service." is an answer, not boilerplate. The thresholds are set so
   stock phrases that carry an opinion ("Keep it up!", "Great job, team.", "This needs to be fixed.", each in
   2-4% of the sample survey's answers) stay; site boilerplate is usually in far more answers than 5%.
3. **Language** (`detect_language`): a stopword-ratio heuristic (see its docstring for the thresholds), so
   answers an engine cannot read (non-English for the English models) are counted and set aside instead of
   being scored as if they were English.

Why a heuristic and not a detector library: `lingua-language-detector` (checked on this kind of machine,
restricted to 7 languages) installs 96 MB; its high-accuracy mode takes about 8 s to load and 280 MB of memory,
its low-accuracy mode is light (0.6 s, 35 MB) but, like every detector, unreliable on the short answers surveys
are full of. The question asked here is narrow ("is this English enough for an English model?") and function
words answer it: free, instant, deterministic, and it marks none of the 22,641 English clothing reviews as
foreign (docs/text-analysis.md).
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MENTION_PLACEHOLDER = "@user"
URL_PLACEHOLDER = "[link]"
EMAIL_PLACEHOLDER = "[email]"
PHONE_PLACEHOLDER = "[phone]"
PLACEHOLDERS = (MENTION_PLACEHOLDER, URL_PLACEHOLDER, EMAIL_PLACEHOLDER, PHONE_PLACEHOLDER)

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_URL = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s<>\"']+", re.IGNORECASE)
# Bare domains ("shop.example.com/returns") are links too; only top-level domains that are not English words,
# so "colors.it" (a missing space after a full stop), "e.g." or "5.5" are not taken for one.
_DOMAIN = re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|co\.uk)\b(?:/\S*)?", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w{1,50}")
# Digit groups with single separators; whether it is a phone number is decided by its digit count below.
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d{1,4}\)?(?:[ .\-]?\(?\d{2,4}\)?){2,5}(?![\w])")
PHONE_DIGITS = (9, 15)  # fewer: sizes, prices, dates ("34-26-36", "2017-01-03"); more: not a phone (E.164)
_SPACES = re.compile(r"[^\S\n]+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


_DECIMAL = re.compile(r"\d+\.\d+")


def _phone(match: re.Match[str]) -> str:
    if _DECIMAL.fullmatch(match.group(0)):  # "0.00262336" is a figure, not a phone number
        return match.group(0)
    digits = sum(ch.isdigit() for ch in match.group(0))
    return PHONE_PLACEHOLDER if PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1] else match.group(0)


def clean_text(text: str) -> str:
    """Clean one answer: entities unescaped, contact details and mentions replaced, spaces normalised.

    Args:
        text: The raw answer.

    Returns:
        The cleaned answer; line breaks are kept (one at a time) so boilerplate lines can still be found.
    """
    for _ in range(5):  # some exports escape an ampersand again on every pass
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u00a0", " ").replace("\u200b", "")
    # E-mails before mentions (the part after @ is not a mention) and URLs before domains and phones.
    text = _EMAIL.sub(EMAIL_PLACEHOLDER, text)
    text = _URL.sub(URL_PLACEHOLDER, text)
    text = _DOMAIN.sub(URL_PLACEHOLDER, text)
    text = _MENTION.sub(MENTION_PLACEHOLDER, text)
    text = _PHONE.sub(_phone, text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _norm(segment: str) -> str:
    return " ".join(segment.casefold().split())


def segments(text: str) -> list[str]:
    """The lines of `text`, each split into sentences (the units boilerplate is looked for in).

    Args:
        text: A cleaned answer.

    Returns:
        Non-empty segments, in order.
    """
    return [s.strip() for line in text.split("\n") for s in _SENTENCE_END.split(line) if s.strip()]


def find_boilerplate(
    texts: Sequence[str], min_share: float = 0.05, min_count: int = 10, min_words: int = 4
) -> list[str]:
    """Segments repeated verbatim (ignoring case and spacing) across many answers.

    Args:
        texts: The cleaned answers to one question (or one file).
        min_share: A segment must appear in more than this share of the answers...
        min_count: ...and in at least this many of them.
        min_words: Shorter segments ("Great.", "Thank you!") are never boilerplate.

    Returns:
        The normalised boilerplate segments, most frequent first.
    """
    counts: Counter[str] = Counter()
    for text in texts:
        parts = {_norm(s) for s in segments(text)}
        if len(parts) < 2:
            continue  # a one-segment answer is all answer: it cannot carry boilerplate next to it
        counts.update(p for p in parts if len(_WORD.findall(p)) >= min_words)
    needed = max(min_count, math.floor(min_share * len(texts)) + 1)
    return [s for s, c in counts.most_common() if c >= needed]


def strip_boilerplate(text: str, boilerplate: Iterable[str]) -> str:
    """Remove boilerplate segments from one cleaned answer.

    Args:
        text: A cleaned answer.
        boilerplate: Normalised segments (`find_boilerplate`).

    Returns:
        The answer without them, whitespace collapsed to single spaces.
    """
    drop = set(boilerplate)
    kept = [s for s in segments(text) if _norm(s) not in drop] if drop else segments(text)
    return " ".join(" ".join(kept).split())


# --- language -------------------------------------------------------------------------------------------------

# Frequent function words. The other languages' lists lose every word that is also English (below), so an
# English answer cannot score for them ("me", "a", "in", "die", "son" ...).
_STOPWORDS_EN = set("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours out over own same she should so some such than that the their theirs them then there these
they this those through to too under until up very was we were what when where which while who whom why will
with would you your yours i'm it's don't didn't wasn't isn't i've i'd can't doesn't also really will got get
""".split())
_STOPWORDS = {
    "es": set("""
el la los las un una unos unas y o pero que de del al en con por para sin sobre entre es son era fue muy
más mas mi mis tu su sus nuestro lo le les se me te nos yo tú usted ella ellos ellas esto este esta estos
estas eso esa ese como cuando donde porque también tambien ya no sí si hay está están estaba todo todos nada
bien mucho muy gracias hola pero aunque ni cual qué cómo
""".split()),
    "fr": set("""
le la les un une des et ou mais que qui de du au aux en dans avec pour par sans sur sous est sont était
très tres plus mon ma mes ton ta tes son sa ses notre votre leur il elle ils elles je tu nous vous on ce cet
cette ces cela ça comme quand où parce aussi pas ne oui non tout tous rien bien beaucoup merci bonjour
c'est j'ai n'est qu'il d'un d'une
""".split()),
    "de": set("""
der die das den dem des ein eine einen einem einer und oder aber dass von zu zum zur im mit für auf aus bei
nach ist sind war waren sehr mehr mein meine dein sein seine ihr ihre unser ich du er sie es wir ihr nicht
kein keine auch noch schon wie wenn wo weil ja nein alles nichts gut viel danke hallo hat habe haben wird
""".split()),
    "it": set("""
il lo la i gli le un uno una e o ma che di del della dei degli delle al alla in con per senza su tra è sono
era molto più mio mia miei tuo tua suo sua nostro vostro loro io tu lui lei noi voi questo questa quello
quella come quando dove perché anche già non sì tutto tutti niente bene grazie ciao ho hai ha abbiamo
""".split()),
    "pt": set("""
o a os as um uma uns umas e ou mas que de do da dos das ao em no na nos nas com por para sem sobre entre
é são era foi muito mais meu minha seu sua nosso eu tu ele ela nós vós eles elas isto este esta isso esse
essa como quando onde porque também já não sim tudo nada bem obrigado obrigada olá tem está estão
""".split()),
    "nl": set("""
de het een en of maar dat die van te naar op aan met voor bij uit over onder tussen is zijn was waren heel
erg meer mijn jouw zijn haar ons onze jullie hun ik jij je hij zij wij ze niet geen ook nog al hoe wanneer
waar omdat ja nee alles niets goed veel dank bedankt hallo heb hebt heeft hebben wordt
""".split()),
}
# Words the lists above share with ordinary English text: removed so they never count as foreign evidence.
_ENGLISH_LOOKALIKES = set("""
a i in is me no so son die was war hat man bin also on come pure ride dove fine tu nos are al el la le les
ja una are bien bei des tres mais plus sans dank die van het een erg heel hoe de du he ha ho lei lui per sin
""".split())
for _words in _STOPWORDS.values():
    _words -= _STOPWORDS_EN | _ENGLISH_LOOKALIKES
# word -> the languages whose list has it: one dictionary look-up per word.
_WORD_LANGUAGES: dict[str, tuple[str, ...]] = {}
for _code, _words in _STOPWORDS.items():
    for _word in _words:
        _WORD_LANGUAGES[_word] = (*_WORD_LANGUAGES.get(_word, ()), _code)

ENGLISH = "en"
UNDETERMINED = "und"  # too little text to tell; read as English (what a short survey answer usually is)
OTHER = "other"  # not English, language not one of those listed (or a non-Latin script)
NO_WORDS = "zxx"  # no words at all (digits, punctuation, emoji only, or nothing left after cleaning)
# Thresholds of the heuristic (see detect_language).
MIN_FOREIGN_SHARE = 0.2
LONG_ANSWER_WORDS = 10
MIN_ENGLISH_SHARE_LONG = 0.05
MIN_LATIN_SHARE = 0.5


@dataclass(frozen=True)
class LanguageGuess:
    """What `detect_language` found, with the counts it decided on."""

    code: str
    words: int
    english_hits: int
    foreign_hits: int = 0


def _latin_share(text: str) -> tuple[int, float]:
    letters = [ch for ch in text if ch.isalpha()]
    if text.isascii() or not letters:
        return len(letters), 1.0 if letters else 0.0
    latin = sum(1 for ch in letters if unicodedata.name(ch, "").startswith("LATIN"))
    return len(letters), latin / len(letters)


def detect_language_details(text: str) -> LanguageGuess:
    """`detect_language` with the word counts behind the decision (for tests and docs)."""
    for placeholder in PLACEHOLDERS:
        text = text.replace(placeholder, " ")
    letters, latin = _latin_share(text)
    if letters == 0:
        return LanguageGuess(NO_WORDS, 0, 0)
    if latin < MIN_LATIN_SHARE:
        return LanguageGuess(OTHER, len(text.split()), 0)
    words = [w.replace("’", "'") for w in _WORD.findall(text.casefold().replace("’", "'"))]
    n = len(words)
    english = 0
    hits: Counter[str] = Counter()
    for w in words:
        if w in _STOPWORDS_EN:
            english += 1
        elif w in _WORD_LANGUAGES:
            hits.update(_WORD_LANGUAGES[w])
    best, foreign = max(hits.items(), key=lambda item: (item[1], item[0])) if hits else (OTHER, 0)
    if foreign > english and foreign >= max(1.0, MIN_FOREIGN_SHARE * n):
        return LanguageGuess(best, n, english, foreign)
    if n >= LONG_ANSWER_WORDS and english < MIN_ENGLISH_SHARE_LONG * n:
        return LanguageGuess(OTHER, n, english, foreign)
    return LanguageGuess(ENGLISH if english else UNDETERMINED, n, english, foreign)


def detect_language(text: str) -> str:
    """Guess whether an answer is English, another listed language, or unknown, from its function words.

    The rule, on the answer's words (placeholders removed):

    * no letters at all: `zxx` (nothing to read);
    * fewer than half of the letters Latin: `other` (a script the English models cannot read);
    * more function words of one of es/fr/de/it/pt/nl than of English, and they are at least 20% of the words
      (at least one): that language;
    * 10 words or more of which under 5% are English function words: `other` (running English text is
      about 40% function words; a 10-word English answer with none is very rare);
    * otherwise `en`, or `und` when no English function word was seen (short answers like "Great fit" or
      "Top": read as English, the likeliest reading in an English survey).

    Args:
        text: A cleaned answer.

    Returns:
        An ISO 639-1 code (`en`, `es`, `fr`, `de`, `it`, `pt`, `nl`), `und`, `other` or `zxx`.
    """
    return detect_language_details(text).code


def readable(language: str, languages: Iterable[str]) -> bool:
    """Whether an engine reading `languages` can score an answer detected as `language` (`und` counts as `en`).

    Args:
        language: A `detect_language` code.
        languages: The codes the engine reads.

    Returns:
        True when the engine should score the answer.
    """
    codes = set(languages)
    return language in codes or (language == UNDETERMINED and ENGLISH in codes)


# --- the whole pipeline ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreparedAnswer:
    """One answer after cleaning: what an engine reads, and the language it was detected as."""

    original: str
    text: str
    language: str


@dataclass
class PreparedAnswers:
    """The answers to one question after cleaning, and the boilerplate found in them."""

    answers: list[PreparedAnswer]
    boilerplate: list[str] = field(default_factory=list)


def prepare_answers(
    texts: Sequence[str], min_share: float = 0.05, min_count: int = 10, min_words: int = 4
) -> PreparedAnswers:
    """Clean answers, strip the boilerplate they share and detect each one's language.

    Args:
        texts: Raw answers (to one question: boilerplate is judged among them).
        min_share: See `find_boilerplate`.
        min_count: See `find_boilerplate`.
        min_words: See `find_boilerplate`.

    Returns:
        One `PreparedAnswer` per text, in order, and the boilerplate segments removed.
    """
    cleaned = [clean_text(t) for t in texts]
    boilerplate = find_boilerplate(cleaned, min_share=min_share, min_count=min_count, min_words=min_words)
    out = []
    for original, text in zip(texts, cleaned, strict=True):
        final = strip_boilerplate(text, boilerplate)
        out.append(PreparedAnswer(original, final, detect_language(final)))
    return PreparedAnswers(out, boilerplate)
