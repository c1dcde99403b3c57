"""Cleaning of free-text answers: placeholders, entities, boilerplate and language detection."""

from __future__ import annotations

import pytest

from workbench.text.clean import (
    EMAIL_PLACEHOLDER,
    MENTION_PLACEHOLDER,
    PHONE_PLACEHOLDER,
    URL_PLACEHOLDER,
    clean_text,
    detect_language,
    find_boilerplate,
    prepare_answers,
    readable,
    strip_boilerplate,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("thanks @shop_help for the refund", f"thanks {MENTION_PLACEHOLDER} for the refund"),
    ("see https://example.com/a?b=1 and www.shop.co/x now", f"see {URL_PLACEHOLDER} and {URL_PLACEHOLDER} now"),
    ("returns at shop.example.com/returns", f"returns at {URL_PLACEHOLDER}"),
    ("mail jane.doe+x@mail.example.org please", f"mail {EMAIL_PLACEHOLDER} please"),
    ("call +1 (555) 123-4567 or 020 7946 0958", f"call {PHONE_PLACEHOLDER} or {PHONE_PLACEHOLDER}"),
    ("i&#39;m 5&#39;2, it&amp;#39;s &quot;cute&quot;", "i'm 5'2, it's \"cute\""),
    ("5&amp;amp;amp;amp;#39;8", "5'8"),
    ("  lots   of\tspace \u00a0here ", "lots of space here"),
])
def test_clean_text_replaces_contact_details_and_entities(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected


@pytest.mark.parametrize("kept", [
    "measurements 34-26-36, size 2017-01-03, $120.00, 5'4\", 115 lbs",  # numbers that are not phones
    "i love the colors.it fits well",  # a missing space is not a link
    "e.g. the 5.5 size",
    "p = 0.00262336 and 1234.56789",  # long decimals (figures in a model's prompt) are not phones
    "me@ the store",  # not an e-mail address
])
def test_clean_text_leaves_ordinary_numbers_and_words(kept: str) -> None:
    assert clean_text(kept) == kept


def test_clean_text_keeps_line_breaks_for_boilerplate_and_drops_empty_lines() -> None:
    assert clean_text("first line\r\n\r\n  second   line \n") == "first line\nsecond line"


def test_repeated_line_across_many_answers_is_stripped_and_rare_lines_kept() -> None:
    tail = "Click expand to view the full review."
    answers = [f"Review number {i} says the fit is good.\n{tail}" for i in range(30)]
    answers += [f"Answer {i} is about something else entirely." for i in range(70)]
    answers += ["The seams came apart after a week. Shared line in two answers here."] * 2
    cleaned = [clean_text(a) for a in answers]

    boilerplate = find_boilerplate(cleaned, min_share=0.05, min_count=10)
    assert boilerplate == [tail.casefold()]
    assert strip_boilerplate(cleaned[0], boilerplate) == "Review number 0 says the fit is good."
    # a sentence in just two answers stays
    assert strip_boilerplate(cleaned[-1], boilerplate) == cleaned[-1]


def test_short_or_whole_answer_repeats_are_not_boilerplate() -> None:
    # Many people answering "Great service." is an answer; "Thank you!" is too short to be boilerplate.
    answers = ["Great service."] * 40 + [f"Fast delivery {i}. Thank you!" for i in range(40)]
    assert find_boilerplate(answers, min_count=10) == []


def test_boilerplate_needs_min_count_as_well_as_share() -> None:
    answers = [f"answer {i} here. Sent from my phone today" for i in range(5)]
    assert find_boilerplate(answers, min_count=10) == []
    assert find_boilerplate(answers, min_count=5) == ["sent from my phone today"]


@pytest.mark.parametrize(("text", "language"), [
    ("The dress fits well and the fabric is soft, I would buy it again.", "en"),
    ("Me encanta este vestido, es muy bonito y la tela es suave.", "es"),
    ("El envío fue lento pero el producto está bien.", "es"),
    ("Das Kleid ist sehr schön und passt gut.", "de"),
    ("Ich bin nicht zufrieden mit der Qualität.", "de"),
    ("La robe est très jolie mais elle est trop petite pour moi.", "fr"),
    ("Je suis très contente de mon achat.", "fr"),
    ("Отличное платье, рекомендую", "other"),
    ("とても良いです", "other"),
    ("Kualitas bahan sangat bagus dan pengiriman cepat sekali terima kasih banyak seller", "other"),
    ("👍👍", "zxx"),
    ("12345 !!!", "zxx"),
])
def test_language_detection(text: str, language: str) -> None:
    assert detect_language(clean_text(text)) == language


@pytest.mark.parametrize("short", ["ok", "Great!", "Top", "super", "love it", "n/a", "Great fit lovely colour"])
def test_short_answers_are_read_as_english_not_set_aside(short: str) -> None:
    # Too few words to tell: `und` (or `en`), which English engines read.
    language = detect_language(short)
    assert language in ("en", "und")
    assert readable(language, ("en",))


def test_placeholders_are_not_words_for_detection() -> None:
    assert detect_language(clean_text("https://example.com")) == "zxx"
    assert detect_language(clean_text("@someone")) == "zxx"


def test_prepare_answers_cleans_strips_and_detects() -> None:
    tail = "Click expand to view."
    raw = [f"Nice top number {i}, the colour is lovely. {tail}" for i in range(12)]
    raw += ["Das Kleid ist sehr schön und passt gut.", "write to me at a.b@example.com"]
    prepared = prepare_answers(raw, min_count=10)
    assert prepared.boilerplate == [tail.casefold()]
    assert prepared.answers[0].text == "Nice top number 0, the colour is lovely."
    assert prepared.answers[0].language == "en"
    assert prepared.answers[12].language == "de"
    assert prepared.answers[13].text == f"write to me at {EMAIL_PLACEHOLDER}"
    assert [a.original for a in prepared.answers] == raw


def test_stock_opinion_phrases_below_the_share_stay() -> None:
    # "This needs to be fixed." next to other text in 3% of answers: an opinion, not boilerplate.
    answers = [f"Search is slow in case {i}. This needs to be fixed." for i in range(30)]
    answers += [f"Everything else {i} works well enough for us." for i in range(970)]
    assert find_boilerplate(answers) == []
