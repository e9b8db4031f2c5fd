"""Tests for the checks on a model's answer, in English and French, on real-data facts."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from core.analysis import Trend, TrendFacts, compute_facts
from core.answers import check_answer, clean_answer, split_sentences, trim_to_sentences
from core.candles import Candle
from core.errors import AnalystError
from core.windows import parse_window
from tests.core.real_candles import ending_at

# Facts of real windows: the week to 2025-11-22 23:00Z fell 11.2 %; the day to
# 2025-11-18 23:00Z rose 0.9 %; the day to 2025-11-22 23:00Z was flat (+0.01 %).
WEEK_DOWN = (datetime(2025, 11, 22, 23, tzinfo=UTC), 168, "7d")
DAY_UP = (datetime(2025, 11, 18, 23, tzinfo=UTC), 24, "24h")
DAY_FLAT = (datetime(2025, 11, 22, 23, tzinfo=UTC), 24, "24h")


@pytest.fixture(scope="module")
def facts_by_trend(hourly_candles: list[Candle]) -> dict[Trend, TrendFacts]:
    facts = {}
    for newest, count, label in (WEEK_DOWN, DAY_UP, DAY_FLAT):
        computed = compute_facts(ending_at(hourly_candles, newest, count), parse_window(label))
        facts[computed.trend] = computed
    assert set(facts) == {Trend.UP, Trend.DOWN, Trend.FLAT}
    return facts


def refusal(text: str, facts: TrendFacts, language: str, **options: int) -> str:
    """Return the name of the check that refuses ``text``."""
    with pytest.raises(AnalystError) as caught:
        check_answer(text, facts, language, **options)
    assert caught.value.reason == "rejected"
    return caught.value.detail.split(":", 1)[0]


ACCEPTED = [
    # English, falling week
    (
        Trend.DOWN,
        "en",
        "Over the past week, Bitcoin fell about 11.2%, from roughly $95,341 to $84,697. "
        "The market was quite volatile, with large price swings.",
    ),
    (
        Trend.DOWN,
        "en",
        "Bitcoin has been falling this week, down 11.2% to $84,697. Prices moved a lot, so "
        "the market was volatile.",
    ),
    (
        Trend.DOWN,
        "en",
        "After a brief rise on Monday, Bitcoin declined 11.2% over the week to $84,697. "
        "Swings were large, e.g. a low of $80,562 on Friday.",
    ),
    (
        Trend.DOWN,
        "en",
        "Bitcoin is in a downtrend: it lost 11.2% in 7 days (from $95,341 to $84,697). "
        "Volatility increased, so prices moved sharply.",
    ),
    (
        Trend.DOWN,
        "en",
        "Bitcoin went down 11.2% this week, from $95,341.08 to $84,696.98. The market was "
        "volatile!",
    ),
    (
        Trend.DOWN,
        "en",
        "Bitcoin's price dropped 11.2% vs. last week, to about $84.7k. It was a bumpy ride, "
        "with big ups and downs.",
    ),
    # English, rising day
    (
        Trend.UP,
        "en",
        "Bitcoin rose 0.9% over the last day, to $92,946. The market was moderately volatile.",
    ),
    (
        Trend.UP,
        "en",
        "Bitcoin gained ground today, climbing from $92,097 to $92,946 (+0.9%). Swings were "
        "normal for Bitcoin.",
    ),
    (Trend.UP, "en", "Bitcoin is up 0.9% in 24 hours, at $92,946. Prices moved a fair amount."),
    (
        Trend.UP,
        "en",
        "Bitcoin hasn't stopped rising today, to $92,946 (+0.9%). The market was fairly normal.",
    ),
    # English, flat day
    (
        Trend.FLAT,
        "en",
        "Over the last 24 hours, Bitcoin barely moved, ending at $84,697, almost exactly "
        "where it started. Price swings were moderate.",
    ),
    (
        Trend.FLAT,
        "en",
        "Bitcoin traded sideways today around $84,700. The market was fairly normal.",
    ),
    (
        Trend.FLAT,
        "en",
        "Bitcoin was flat over the day at about $84,697 (+0.0%). Swings were ordinary.",
    ),
    (
        Trend.FLAT,
        "en",
        "Bitcoin moved within a tight range, with no clear direction. Volatility was normal.",
    ),
    (Trend.FLAT, "en", "Bitcoin is neither rising nor falling, at $84,697. The market is normal."),
    (
        Trend.FLAT,
        "en",
        "Bitcoin edged up just 0.01% to $84,697, essentially flat. Volatility rose a little.",
    ),
    # French, falling week
    (
        Trend.DOWN,
        "fr",
        "Sur les 7 derniers jours, le bitcoin a reculé de 11,2 %, passant de 95 341 $ à "
        "84 697 $. Le marché a été très agité, avec de fortes variations.",
    ),
    (
        Trend.DOWN,
        "fr",
        "Le bitcoin est en baisse cette semaine (-11,2 %) et vaut maintenant 84 697 $. Les "
        "prix ont beaucoup bougé : le marché est volatil.",
    ),
    (
        Trend.DOWN,
        "fr",
        "Le bitcoin a chuté de 11,2 % en une semaine, jusqu’à 84 697 $. Le marché a été "
        "nerveux, avec des hauts et des bas marqués.",
    ),
    (
        Trend.DOWN,
        "fr",
        "Le bitcoin baisse nettement\u00a0: -11,2\u00a0% en 7 jours\u00a0! Le marché reste agité.",
    ),
    (
        Trend.DOWN,
        "fr",
        "Malgré un rebond lundi, le bitcoin a perdu 11,2 % sur la semaine. La volatilité a "
        "augmenté, avec des variations fortes.",
    ),
    (
        Trend.DOWN,
        "fr",
        "Le bitcoin ne cesse de baisser : -11,2 % en 7 jours. Le marché est agité.",
    ),
    # French, rising day
    (
        Trend.UP,
        "fr",
        "Le bitcoin a progressé de 0,9 % sur 24 heures, à 92 946 $. Le marché a été "
        "moyennement agité.",
    ),
    (
        Trend.UP,
        "fr",
        "Le bitcoin monte : +0,9 % en une journée, à 92 946 $. Les variations sont restées "
        "normales.",
    ),
    (
        Trend.UP,
        "fr",
        "Le bitcoin a grimpé jusqu’à 92 946 $, soit une progression de 0,9 %. Le marché a "
        "été assez agité.",
    ),
    (
        Trend.UP,
        "fr",
        "Le bitcoin est en légère hausse (+0,9 %), porté par l'augmentation des achats. Le "
        "marché reste normal.",
    ),
    # French, flat day
    (
        Trend.FLAT,
        "fr",
        "Sur les dernières 24 heures, le bitcoin est resté stable autour de 84 697 $. Les "
        "variations ont été habituelles.",
    ),
    (
        Trend.FLAT,
        "fr",
        "Le bitcoin n'a presque pas bougé aujourd'hui (+0,0 %), à 84 697 $. Le marché a été "
        "plutôt normal.",
    ),
    (
        Trend.FLAT,
        "fr",
        "Le bitcoin a évolué de façon latérale, sans tendance claire. Le marché est resté normal.",
    ),
    (Trend.FLAT, "fr", "Le bitcoin a très peu varié : 84 697 $ contre 84 691 $ hier. Calme."),
    (Trend.FLAT, "fr", "Le bitcoin n’a ni monté ni baissé, il a fait du surplace. Calme."),
    (
        Trend.FLAT,
        "fr",
        "Le bitcoin ne progresse ni à la hausse ni à la baisse, à 84 697 $. Le marché est normal.",
    ),
]


@pytest.mark.parametrize(("trend", "language", "text"), ACCEPTED)
def test_real_looking_answers_pass(
    facts_by_trend: dict[Trend, TrendFacts], trend: Trend, language: str, text: str
) -> None:
    assert check_answer(text, facts_by_trend[trend], language) == text


@pytest.mark.parametrize(
    ("trend", "language", "text", "check"),
    [
        (
            Trend.DOWN,
            "en",
            "Bitcoin rose 11.2% this week to $84,697. The market was volatile.",
            "direction",
        ),
        (
            Trend.DOWN,
            "en",
            "Bitcoin is not falling: it stayed stable at $84,697. Calm week.",
            "direction",
        ),
        (Trend.DOWN, "en", "Bitcoin is now at $84,697. The market was volatile.", "no_direction"),
        (Trend.UP, "en", "Bitcoin fell 0.9% today. The market was normal.", "direction"),
        (
            Trend.UP,
            "en",
            "Bitcoin held steady today at $92,946. The market was normal.",
            "direction",
        ),
        (
            Trend.UP,
            "en",
            "Bitcoin is not rising today, at $92,946. The market is normal.",
            "no_direction",
        ),
        (Trend.FLAT, "en", "Bitcoin rose today to $84,697. Swings were ordinary.", "direction"),
        (
            Trend.FLAT,
            "en",
            "Bitcoin showed a steady rise to $84,697. Swings were ordinary.",
            "direction",
        ),
        (
            Trend.FLAT,
            "en",
            "Bitcoin didn't fall and ended at $84,697. Normal swings.",
            "no_direction",
        ),
        (
            Trend.DOWN,
            "fr",
            "Le bitcoin est en hausse de 11,2 % cette semaine. Le marché est agité.",
            "direction",
        ),
        (
            Trend.DOWN,
            "fr",
            "Le bitcoin ne baisse pas, il reste stable. Le marché est calme.",
            "direction",
        ),
        (
            Trend.DOWN,
            "fr",
            "Le bitcoin n'a pas baissé cette semaine et vaut 84 697 $. Calme.",
            "no_direction",
        ),
        (
            Trend.UP,
            "fr",
            "Le bitcoin a reculé de 0,9 % aujourd'hui. Le marché est normal.",
            "direction",
        ),
        (
            Trend.UP,
            "fr",
            "Le bitcoin n'a guère bougé aujourd'hui. Le marché est normal.",
            "direction",
        ),
        (
            Trend.FLAT,
            "fr",
            "Le bitcoin a grimpé jusqu'à 84 697 $. Le marché est normal.",
            "direction",
        ),
        (
            Trend.FLAT,
            "fr",
            "Pas de hausse pour le bitcoin, qui vaut 84 697 $. Calme.",
            "no_direction",
        ),
    ],
)
def test_answers_that_contradict_or_skip_the_trend_are_refused(
    facts_by_trend: dict[Trend, TrendFacts], trend: Trend, language: str, text: str, check: str
) -> None:
    assert refusal(text, facts_by_trend[trend], language) == check


@pytest.mark.parametrize(
    ("language", "text", "check"),
    [
        ("en", "", "empty"),
        ("en", "   \n\t ", "empty"),
        ("en", "** **", "empty"),
        ("en", "\u200b\u202e", "empty"),
        ("en", "Bitcoin fell 11.2%. It is now at $84,697. The market was volatile.", "sentences"),
        ("fr", "Le bitcoin baisse\u00a0! Il vaut 84 697 $\u00a0? Oui\u00a0! Calme.", "sentences"),
        ("en", "Bitcoin fell 11.2% this week and the market", "cut_off"),
        ("fr", "Le bitcoin a reculé de 11,2 % sur la semaine, et", "cut_off"),
        (
            "en",
            "Bitcoin fell 11.2% this week. " + "The market was very volatile " * 15 + ".",
            "too_long",
        ),
        (
            "en",
            "Bitcoin fell 11.2%. Send BTC to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 now.",
            "address",
        ),
        (
            "en",
            "Bitcoin fell 11.2%; bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4 gets a bonus.",
            "address",
        ),
        (
            "en",
            "Bitcoin fell 11.2%, unlike 0xde0B295669a9FD93d5F28D9Ec85E40f4cb697BAe.",
            "address",
        ),
        ("en", "Bitcoin fell 11.2% this week; details at https://example.com/btc.", "link"),
        ("en", "Bitcoin fell 11.2%, see coindesk.com for more.", "link"),
        ("en", "Bitcoin fell 11.2% this week, as www.example.org reports.", "link"),
        ("en", "Bitcoin fell 11.2%. Join @btc_signals_bot for tips.", "link"),
        ("en", "Bitcoin fell 11.2%. Read [this](http://x.example) first.", "link"),
        ("fr", "Le bitcoin a baissé de 11,2 %, voir t.me/signaux pour la suite.", "link"),
        ("en", "Bitcoin fell 11.2% this week, so it may be a good time to buy.", "advice"),
        ("en", "Bitcoin fell 11.2% this week. You should sell before it drops further.", "advice"),
        ("en", "Buy the dip: Bitcoin fell 11.2% this week.", "advice"),
        ("en", "Bitcoin fell 11.2%, so transfer your coins to a safe place.", "advice"),
        ("fr", "Achetez maintenant : le bitcoin a baissé de 11,2 %.", "advice"),
        ("fr", "Le bitcoin a baissé de 11,2 %, c'est le bon moment pour acheter.", "advice"),
        ("fr", "Le bitcoin a baissé de 11,2 %. Vous devriez vendre vite.", "advice"),
        ("fr", "Le bitcoin recule de 11,2 %. Je vous conseille la prudence.", "advice"),
        ("fr", "Bitcoin fell 11.2% over the week and the market was very volatile.", "language"),
        ("en", "Le bitcoin a baissé de 11,2 % sur la semaine et le marché est agité.", "language"),
    ],
)
def test_unsafe_or_malformed_answers_are_refused(
    facts_by_trend: dict[Trend, TrendFacts], language: str, text: str, check: str
) -> None:
    assert refusal(text, facts_by_trend[Trend.DOWN], language) == check


def test_markdown_and_spacing_are_cleaned(facts_by_trend: dict[Trend, TrendFacts]) -> None:
    text = "  **Bitcoin fell** 11.2%   this week,\n\nto `$84,697`.  \n The market was _volatile_. "

    checked = check_answer(text, facts_by_trend[Trend.DOWN], "en")

    assert checked == "Bitcoin fell 11.2% this week, to $84,697. The market was volatile."


def test_a_cut_off_answer_keeps_its_whole_sentences(
    facts_by_trend: dict[Trend, TrendFacts],
) -> None:
    checked = check_answer(
        "Bitcoin fell 11.2% this week to $84,697. The market was very vol",
        facts_by_trend[Trend.DOWN],
        "en",
    )

    assert checked == "Bitcoin fell 11.2% this week to $84,697."


def test_the_length_bound_is_configurable(facts_by_trend: dict[Trend, TrendFacts]) -> None:
    text = "Bitcoin fell 11.2% this week. The market was volatile."

    assert check_answer(text, facts_by_trend[Trend.DOWN], "en", max_chars=len(text)) == text
    assert refusal(text, facts_by_trend[Trend.DOWN], "en", max_chars=len(text) - 1) == "too_long"


def test_the_language_code_may_carry_a_region(facts_by_trend: dict[Trend, TrendFacts]) -> None:
    text = "Le bitcoin a reculé de 11,2 % sur la semaine. Le marché a été agité."

    assert check_answer(text, facts_by_trend[Trend.DOWN], "fr-CA") == text


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("Bitcoin rose 1.5 % to $104,000.50. The market was calm.", 2),
        ("Bitcoin rose 1.5% to $104,000.50 and 2.25% more.", 1),
        ("Le bitcoin a progressé de 1,5 % ! Le marché est calme.", 2),
        ("Le bitcoin a progressé\u00a0? Oui\u00a0! Le marché est calme.", 3),
        ("Prices moved, e.g. from $95,341 to $84,697. Calm.", 2),
        ("Prices moved, i.e. they fell. Calm.", 2),
        ("Bitcoin fell vs. last week. Volatile.", 2),
        ("Il valait env. 84 697 $ hier. Calme.", 2),
        ("Le bitcoin hésite… mais reste stable. Calme.", 2),
        ("Bitcoin fell... then it recovered. Calm.", 2),
        ("Bitcoin fell… The market panicked.", 2),
        ("The U.S. market was calm today.", 1),
        ("Mr. Market was calm.", 1),
        ("Bitcoin fell (about 11.2%). Calm.", 2),
        ('He said "it fell." Then it rose.', 2),
        ("« Le bitcoin baisse. » Calme.", 2),
        ("Bitcoin: $84,697.", 1),
        ("Really?! Yes. Calm.", 3),
        ("No final mark here", 1),
        ("", 0),
    ],
)
def test_sentences_are_counted_robustly(text: str, count: int) -> None:
    assert len(split_sentences(text)) == count


@pytest.mark.parametrize(
    ("text", "trimmed"),
    [
        ("Bitcoin fell 11.2% this week. The market was vol", "Bitcoin fell 11.2% this week."),
        ("Bitcoin fell 11.2% this", ""),
        ("Bitcoin fell. Calm!", "Bitcoin fell. Calm!"),
        ("Bitcoin fell (about 11.2%).", "Bitcoin fell (about 11.2%)."),
        ('He said "it fell." And then', 'He said "it fell."'),
        ("Le bitcoin baisse\u00a0! Le marché", "Le bitcoin baisse\u00a0!"),
        ("Bitcoin fell to $84,696.98 and", ""),
        ("Bitcoin fell, e.g. by", ""),
        ("   ", ""),
    ],
)
def test_trim_to_sentences(text: str, trimmed: str) -> None:
    assert trim_to_sentences(text) == trimmed


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("**Bitcoin** rose _slightly_ to `$84,697`.", "Bitcoin rose slightly to $84,697."),
        ("# Summary\n- Bitcoin rose.\n- Calm.", "Summary Bitcoin rose. Calm."),
        ("> Bitcoin rose.", "Bitcoin rose."),
        ("~~up~~ down", "up down"),
        ("st**r**awbe**rr**y", "strawberry"),
        ("hausse\u00a0!", "hausse\u00a0!"),
        ("hausse \u00a0!", "hausse !"),
        ("a  \n  b", "a b"),
        ("a\u200bb\u202ec", "abc"),
        ("btc_usd and @pump_bot", "btc_usd and @pump_bot"),
        ("5 * 3 = 15", "5 * 3 = 15"),
    ],
)
def test_clean_answer(text: str, cleaned: str) -> None:
    assert clean_answer(text) == cleaned


@pytest.mark.parametrize(
    "text", ["Bitcoin fell. " * 8000, "a" * 200_000, "x. " * 30_000 + "and", "e.g. " * 20_000]
)
def test_huge_answers_are_refused_quickly(
    facts_by_trend: dict[Trend, TrendFacts], text: str
) -> None:
    started = time.perf_counter()

    check = refusal(text, facts_by_trend[Trend.DOWN], "en")

    assert check == "too_long"
    assert time.perf_counter() - started < 0.5


# Regressions from a tester's session: answers that named the right direction but invented
# the figures or a cause, or carried markup, used to reach the user.
@pytest.mark.parametrize(
    ("text", "check"),
    [
        (
            "Over the last week Bitcoin went down 90%, from $1,000,000 to $12. "
            "The market was volatile.",
            "figures",
        ),
        ("Bitcoin went down because the Fed raised rates and Elon Musk sold.", "cause"),
        ("Bitcoin fell this week due to ETF outflows. It was volatile.", "cause"),
        ("Bitcoin went <b>down</b> this week. It was volatile.", "markup"),
        ("Bitcoin went down about 40% this week. It was volatile.", "figures"),
        ("Bitcoin went down this week. The market stayed calm and quiet.", "volatility"),
    ],
)
def test_made_up_figures_causes_and_markup_are_refused(
    facts_by_trend: dict[Trend, TrendFacts], text: str, check: str
) -> None:
    week_down = facts_by_trend[Trend.DOWN]
    assert week_down.volatility_label.value == "volatile"

    assert refusal(text, week_down, "en") == check


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (
            "Over the last week Bitcoin went down about 11%, from $95,555 to $84,697. "
            "The market was not calm at all: prices swung a lot.",
            "en",
        ),
        ("Bitcoin went down about $11k this week, ending near $85K. It was volatile.", "en"),
        (
            "Sur la dernière semaine, le bitcoin est en baisse de 11,4\u00a0%, de "
            "95\u202f555\u00a0$ à 84\u202f697\u00a0$. Le marché a été agité.",
            "fr",
        ),
    ],
)
def test_rounded_figures_from_the_facts_pass(
    facts_by_trend: dict[Trend, TrendFacts], text: str, language: str
) -> None:
    week_down = facts_by_trend[Trend.DOWN]

    assert check_answer(text, week_down, language) != ""
