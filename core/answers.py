"""Checks on a language model's answer before a beginner reads it.

:func:`check_answer` cleans an answer (control characters, Markdown emphasis and extra
whitespace removed) and refuses it, with ``AnalystError("rejected", detail)``, when it
breaks a rule. ``detail`` starts with the stable name of the failed check:

=================  ================================================================
check              refused when
=================  ================================================================
``empty``          nothing but whitespace or Markdown is left
``address``        it holds a wallet address (Bitcoin base58 or bech32, Ethereum 0x)
``link``           it holds a link, a domain name, an e-mail or a Telegram handle
``advice``         it tells the reader to buy, sell, send, transfer or invest money
``cut_off``        it stops mid-sentence and no whole sentence remains
``too_long``       it is longer than ``max_chars`` once cut to whole sentences, or
                   more than four times longer before any cutting
``sentences``      it has more than two sentences
``language``       it is clearly written in the other language
``direction``      the direction it states is not the computed trend
``no_direction``   it states no direction at all
``markup``         it holds HTML tags or entities (a reader would see them raw)
``cause``          it gives a cause (``because``, ``due to``, ``parce que``...): the data
                   holds prices only, so any cause is made up
``figures``        a dollar amount is neither inside the window's low-high range nor
                   near its move (last minus first close, or high minus low), or a
                   percentage matches none of the computed change, fitted change and
                   volatility
``volatility``     it calls a volatile market calm, or a calm one volatile
=================  ================================================================

Figures are read in both languages' spellings (``$84,697``, ``84 697 $``, ``$85k``,
``-11.4%``, ``11,4 %``) and compared with tolerance: amounts within 2 % beyond the range,
percentages within 1 point or 15 % of a computed one, since a summary rounds.

Sentences are counted so that decimals (``1.5 %``, ``$104,000.50``), common abbreviations
(``e.g.``, ``vs.``, ``env.``), initials and French spacing before ``?`` and ``!`` do not
split them.

The direction is read from English and French wording (``rising``, ``fell``, ``hausse``,
``recule``, ``stable``, ``latéral``, ``n'a guère bougé``...). A word is ignored when a
negation comes shortly before it in the same clause (``not rising``, ``ne monte pas``,
``pas de hausse``) or when it describes volatility rather than the price (``volatility
rose``, ``une baisse de la volatilité``). The answer passes when it names the computed
direction, even beside another one (``after a dip on Monday, it rose 3 %``).

Note:
    The word lists catch the usual wording of short market summaries, not every way of
    saying it: an unusual phrasing may be refused as ``no_direction`` (the caller then
    falls back to the built-in analyst), and a contradiction hidden behind a word the lists
    miss can get through. A reply cut right after a decimal point (``104.``) looks like a
    whole sentence.
"""

from __future__ import annotations

import re
import unicodedata

from core.analysis import Trend, TrendFacts, VolatilityLabel
from core.errors import AnalystError
from core.languages import ENGLISH, FRENCH, resolve_language

MAX_SENTENCES = 2

# How much longer than the bound a reply may be and still be cut to whole sentences; longer
# ones are refused at once, before any sentence work.
_CUT_OFF_ALLOWANCE = 4

_CLOSERS = "\"'’”»)]"
_SENTENCE_END = re.compile(r"[.!?…]+[" + re.escape(_CLOSERS) + r"]*(?=\s|$)")
_NEXT_VISIBLE = re.compile(r"\s*(\S)")
_WORD_BEFORE = re.compile(r"(\S+)\Z")
_ACRONYM = re.compile(r"(?:[a-z]\.)+[a-z]")
_ALNUM = re.compile(r"\w")

_ABBREVIATIONS = frozenset(
    {
        # English
        "e.g", "i.e", "etc", "vs", "approx", "est", "mr", "mrs", "ms", "dr", "st",
        "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
        "inc", "ltd", "cf", "ca", "fig",
        # French
        "env", "p.ex", "ex", "av", "mme", "mlle", "janv", "févr", "avr", "juil", "déc",
        "resp", "vol", "max", "min",
    }
)  # fmt: skip

_MARKDOWN_LINE = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+•][ \t]+)", re.MULTILINE)
_MARKDOWN_PAIRS = re.compile(r"\*\*|__|~~|`+")
_MARKDOWN_SINGLE = re.compile(r"(?<!\w)[*_](?=\S)(.+?)(?<=\S)[*_](?!\w)")
_WHITESPACE = re.compile(r"\s+")
_NO_BREAK = frozenset("\u00a0\u202f")

_BTC_BASE58 = re.compile(r"(?<![A-Za-z0-9])[13][1-9A-HJ-NP-Za-km-z]{25,34}(?![A-Za-z0-9])")
_BTC_BECH32 = re.compile(
    r"(?<![A-Za-z0-9])(?:bc|tb)1[ac-hj-np-z02-9]{20,87}(?![A-Za-z0-9])", re.IGNORECASE
)
_ETH = re.compile(r"(?<![A-Za-z0-9])0x[0-9a-fA-F]{40}(?![A-Za-z0-9])")

_LINKS = (
    re.compile(r"\b(?:https?|ftp)://", re.IGNORECASE),
    re.compile(r"\bwww\.", re.IGNORECASE),
    re.compile(r"\bt\.me/", re.IGNORECASE),
    re.compile(
        r"(?<![\w.])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|xyz|app|fr|info|biz|gg|"
        r"ly|link|site|online|finance|top|ai|dev|me|exchange|crypto)\b",
        re.IGNORECASE,
    ),
    re.compile(r"(?<![\w@])@[a-z][a-z0-9_]{3,31}\b", re.IGNORECASE),
)

_ADVICE = re.compile(
    "|".join(
        (
            # English: imperatives and advice
            r"\b(?:buy|sell|hodl)\b(?!-off)",
            r"\b(?:send|transfer|deposit|invest)\b",
            r"\byou (?:should|could|must|might want to|need to|ought to)\b",
            r"\b(?:i|we) (?:recommend|suggest|advise)\b",
            r"\b(?:good|great|right|ideal|perfect|best) (?:time|moment|opportunity) to\b",
            r"\bnow is the time\b",
            r"\bdon'?t miss\b",
            r"\bdouble your\b",
            # French: imperatives, infinitives and advice
            r"\b(?:achet|vend|invest|envoy|transfér|transfer|dépos)(?:ez|ons)\b",
            r"\b(?:achète|vends|investis|envoie)\b",
            r"\b(?:acheter|vendre|investir|envoyer|transférer)\b",
            r"\bvous (?:devriez|pourriez|devez)\b",
            r"\bil (?:faut|faudrait)\b",
            r"\b(?:bon|meilleur) moment pour\b",
            r"\bje (?:vous )?(?:recommande|conseille|suggère)\b",
            r"\bnous (?:recommandons|conseillons)\b",
            r"\bn'hésitez pas\b",
            r"\bprofitez\b",
            r"\bdoublez\b",
        )
    ),
    re.IGNORECASE,
)


def _words(*alternatives: str) -> re.Pattern[str]:
    """Compile whole-word alternatives."""
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


# Single words, which a nearby negation cancels.
# fmt: off
_TERMS: dict[Trend, re.Pattern[str]] = {
    Trend.UP: _words(
        r"ris(?:e|es|ing|en)", "rose", "up", r"upwards?", "uptrend", "upswing",
        r"increas(?:e|ed|es|ing)", r"gain(?:s|ed|ing)?", r"climb(?:s|ed|ing)?",
        r"gr(?:ew|ow|ows|owing|own)", r"rall(?:y|ied|ies|ying)", r"advanc(?:e|ed|es|ing)",
        "bullish", r"jump(?:s|ed|ing)?", r"surg(?:e|ed|es|ing)",
        r"higher(?! (?:volatility|volume|risk|swings))", r"recover(?:s|ed|ing|y)?",
        r"rebound(?:s|ed|ing)?", r"strengthen(?:s|ed|ing)?",
        # French
        r"hausses?", r"haussi(?:er|ère|ers|ères)", r"mont(?:e|é|ée|és|ées|er|ent|ait)",
        r"grimp(?:e|é|ée|er|ent|ait)", r"progress(?:e|é|ée|er|ent|ait|ion)",
        r"augment(?:e|é|ée|er|ent|ait|ation)", r"gagn(?:e|é|er|ent|ait)",
        r"appréci(?:e|é|er|ation)", r"rebond(?:i|it|ir|é)?", r"remont(?:e|é|ée|er|ent)",
        r"redress(?:e|é|ement)", r"envol(?:e|é|ée)",
    ),
    Trend.DOWN: _words(
        r"fall(?:s|ing|en)?", "fell", "down", r"downwards?", "downtrend", "downturn",
        r"declin(?:e|ed|es|ing)", r"drop(?:s|ped|ping)?", r"dip(?:s|ped|ping)?",
        r"slid(?:e|es|ing)?", r"slip(?:s|ped|ping)?", "lost", r"los(?:e|es|ing)",
        r"loss(?:es)?", r"decreas(?:e|ed|es|ing)", "bearish", r"retreat(?:s|ed|ing)?",
        "sank", r"sink(?:s|ing)?", "sunk", r"tumbl(?:e|ed|es|ing)", r"plung(?:e|ed|es|ing)",
        r"lower(?! (?:volatility|volume|risk|swings))", r"weaken(?:s|ed|ing)?", "weaker",
        "pullback", r"slump(?:s|ed|ing)?", r"crash(?:es|ed|ing)?", r"shed(?:s|ding)?",
        # French
        r"baiss(?:e|es|é|ée|er|ent|ait)", r"baissi(?:er|ère|ers|ères)",
        r"recul(?:e|é|er|ent|ait)?", r"chut(?:e|es|é|er|ent|ait)",
        r"descend(?:u|ue|re|ent|ait)?", "descente", r"perd(?:u|ue|re|ent|ait)?",
        r"pertes?", r"diminu(?:e|é|er|ent|ait|tion)", r"repli(?:é|e|er)?",
        r"gliss(?:e|é|er|ent|ait)", r"fléchi(?:t|r)?", r"décroch(?:e|é)",
        r"dégringol(?:e|é|ade)", r"effrit(?:e|é)", r"plong(?:e|é|eon)", r"correction",
    ),
    Trend.FLAT: _words(
        "flat", "flattish", r"stables?", "steady", "steadied", "sideways", "unchanged",
        r"stagna(?:nt|ted|ting|tion)", r"hover(?:s|ed|ing)?", r"consolidat(?:e|ed|es|ing|ion)",
        "range-?bound", r"plateau(?:s|ed|ing)?", r"stabili[sz](?:e|ed|es|ing|ation)",
        "directionless", "trendless",
        # French
        "stabilité", r"stabilis(?:e|é|ée|er|ation)", r"latéra(?:l|le|ux|lement)",
        r"stagn(?:e|é|er|ent|ait)", r"inchangée?s?", r"plate?", r"horizonta(?:l|le)",
        "stationnaire", "immobile", r"oscill(?:e|é|er|ent|ait|ation)",
    ),
}
# fmt: on

# Phrases that say "flat" by themselves, negation included.
_FLAT_PHRASES = re.compile(
    "|".join(
        (
            r"\b(?:barely|hardly|scarcely) (?:moved|changed|budged|rose|fell|up|down)\b",
            r"\bmoved (?:very |only )?(?:a )?little\b",
            r"\blittle changed\b",
            r"\b(?:did not|didn't|has not|hasn't|have not|haven't) (?:really |much )?"
            r"(?:move|moved|change|changed|budge|budged)\b",
            r"\b(?:no|without(?: a)?) (?:clear |real )?(?:direction|trend)\b",
            r"\bneither up nor down\b",
            r"\b(?:in|within) a (?:narrow|tight) range\b",
            r"\bheld steady\b",
            r"\btreading water\b",
            r"\b(?:went|going|goes|go) nowhere\b",
            r"\bsans (?:vraie |réelle )?(?:direction|tendance)\b",
            r"\bpas de (?:vraie |réelle )?(?:direction|tendance)\b",
            r"\b(?:not|neither) (?:rising|climbing|going up|up) (?:or|nor) "
            r"(?:falling|dropping|going down|down)\b",
            r"\bni (?:à la )?hausse,? ni (?:à la )?baisse\b",
            r"\bpeu (?:bougé|varié|changé|évolué)\b",
            r"\b(?:n'a|n'ont|n'est|ne s'est) (?:pas|guère|presque pas|quasiment pas|quasi pas)"
            r"(?: vraiment| beaucoup| tellement)? (?:bougé|varié|changé|évolué)\b",
            r"\bfait du sur-?place\b",
            r"\btourné en rond\b",
        )
    )
)

# Wording that looks directional but is not about where the price went.
_NOT_DIRECTION = re.compile(
    "|".join(
        (
            r"\bups and downs\b",
            r"\bup and down\b",
            r"\bin (?:either|both) directions?\b",
            r"\b(?:calm|slow|settl|quiet)\w* down\b",
            r"\b(?:pick|heat|speed|step|sped)\w* up\b",
            r"\b(?:of|by) up to\b",
            r"\bnot only\b",
            r"(?:\bnot|\bnever|n't) stop(?:s|ped)?\b",
            r"\b(?:des )?hauts et (?:des )?bas\b",
            r"\bdans un sens comme dans l'autre\b",
            r"\bdans les deux sens\b",
            r"\bà la hausse comme à la baisse\b",
            r"\b(?:ne|n'a|n'ont) (?:pas )?cess(?:e|é|ent) de\b",
        )
    )
)

_NEGATORS = frozenset(
    {
        "not", "no", "never", "neither", "nor", "without", "hardly", "barely", "scarcely",
        "ne", "pas", "ni", "sans", "aucun", "aucune", "jamais", "guère",
    }
)  # fmt: skip
_NEGATION_REACH = 3
_CLAUSE_BREAK = re.compile(r"[,.;:!?()]")
_TOKEN = re.compile(r"[\w']+")
_NEXT_WORD = re.compile(r"\s+([\w']+)")
_ELISION = re.compile(r"^(?:l|d|qu|j|s|c)'")

_VOLATILITY_NOUNS = frozenset(
    {
        "volatility", "swings", "swing", "volume", "volumes", "fluctuations", "nervousness",
        "volatilité", "variations", "amplitude", "nervosité", "agitation",
    }
)  # fmt: skip
_VOLATILITY_BEFORE = 3
_VOLATILITY_AFTER = re.compile(
    r"\s+(?:in|of|de|du|des|de la|de l')\s*(?:the |la |l')?(\w+)", re.IGNORECASE
)

_STOPWORDS = {
    ENGLISH: frozenset(
        "the is was has have and of with over its it this from to in but price prices "
        "market which while".split()
    ),
    FRENCH: frozenset(
        "le la les des du est et sur avec au aux une un ses son ce cette dans mais prix "
        "marché qui alors été".split()
    ),
}


def check_answer(text: str, facts: TrendFacts, language: str, *, max_chars: int = 400) -> str:
    """Clean a model's answer and refuse it when it breaks a rule.

    Args:
        text: The model's raw answer.
        facts: The facts the answer must agree with.
        language: The language the answer must be in (``fr``, ``en``, or a code such as
            ``fr-CA``).
        max_chars: The longest answer accepted, in characters, after cleaning.

    Returns:
        The cleaned answer: stripped, whitespace collapsed, Markdown emphasis removed, cut
        to whole sentences when it stopped mid-sentence.

    Raises:
        AnalystError: With reason ``rejected`` and a detail starting with the check's name
            (see the module docstring).
    """
    cleaned = clean_answer(text)
    if not _ALNUM.search(cleaned):
        raise AnalystError("rejected", "empty")
    _check_safety(cleaned)
    if len(cleaned) > _CUT_OFF_ALLOWANCE * max_chars:
        raise AnalystError("rejected", f"too_long: {len(cleaned)} characters")

    whole = trim_to_sentences(cleaned)
    if not whole:
        raise AnalystError("rejected", "cut_off: no whole sentence")
    if len(whole) > max_chars:
        raise AnalystError("rejected", f"too_long: {len(whole)} > {max_chars} characters")
    sentences = split_sentences(whole)
    if len(sentences) > MAX_SENTENCES:
        raise AnalystError("rejected", f"sentences: {len(sentences)} > {MAX_SENTENCES}")

    folded = _fold(whole)
    _check_language(folded, resolve_language(language))
    _check_direction(folded, facts.trend)
    _check_grounding(whole, folded, facts)
    return whole


def clean_answer(text: str) -> str:
    """Strip an answer of control characters, Markdown marks and extra whitespace.

    A run of whitespace becomes one space, except a lone no-break space (as French puts
    before ``?``, ``!``, ``:`` and ``%``), which is kept.
    """
    visible = "".join(
        char for char in text if char.isspace() or unicodedata.category(char)[0] != "C"
    )
    unmarked = _MARKDOWN_LINE.sub("", visible)
    unmarked = _MARKDOWN_PAIRS.sub("", unmarked)
    unmarked = _MARKDOWN_SINGLE.sub(r"\1", unmarked)
    return _WHITESPACE.sub(_collapsed, unmarked).strip()


def trim_to_sentences(text: str) -> str:
    """Cut a text after its last whole sentence; return "" when none is whole.

    A text that already ends a sentence (``.``, ``!``, ``?``, ``…``, possibly followed by a
    closing quote or bracket) comes back unchanged.
    """
    stripped = text.strip()
    ends = _sentence_ends(stripped)
    if not ends:
        return ""
    return stripped[: ends[-1]].rstrip()


def split_sentences(text: str) -> list[str]:
    """Split a text into sentences, keeping a last unfinished one; skip empty pieces."""
    stripped = text.strip()
    pieces: list[str] = []
    start = 0
    for end in [*_sentence_ends(stripped), len(stripped)]:
        piece = stripped[start:end].strip()
        if _ALNUM.search(piece):
            pieces.append(piece)
        start = end
    return pieces


def _sentence_ends(text: str) -> list[int]:
    """Return the offsets just past each sentence-ending mark in ``text``."""
    return [match.end() for match in _SENTENCE_END.finditer(text) if _ends_here(text, match)]


def _ends_here(text: str, match: re.Match[str]) -> bool:
    """Whether a run of end marks really ends a sentence (not a decimal, abbreviation...)."""
    following = _NEXT_VISIBLE.match(text, match.end())
    if following is None:
        return True
    marks = match.group().rstrip(_CLOSERS)
    if "!" in marks or "?" in marks:
        return True
    next_char = following.group(1)
    if "…" in marks or len(marks) > 1:
        return next_char.isupper() or next_char in "«“\"'"

    before = _WORD_BEFORE.search(text[max(0, match.start() - 40) : match.start()])
    if before is None:
        return True
    word = before.group(1).lstrip("([«“\"'").lower()
    if word in _ABBREVIATIONS or _ACRONYM.fullmatch(word):
        return False
    return not (len(word) == 1 and word.isalpha())


def _collapsed(run: re.Match[str]) -> str:
    """Collapse a whitespace run to one space, keeping a lone no-break space."""
    spaces = run.group()
    return spaces if len(spaces) == 1 and spaces in _NO_BREAK else " "


def _fold(text: str) -> str:
    """Lower-case a text for word matching, with straight apostrophes and plain spaces."""
    lowered = unicodedata.normalize("NFC", text).lower()
    return lowered.replace("’", "'").replace("\u00a0", " ").replace("\u202f", " ")


def _check_safety(text: str) -> None:
    """Refuse wallet addresses, links and instructions to move money."""
    for pattern in (_BTC_BASE58, _BTC_BECH32, _ETH):
        if pattern.search(text):
            raise AnalystError("rejected", "address")
    for pattern in _LINKS:
        if pattern.search(text):
            raise AnalystError("rejected", "link")
    if _ADVICE.search(_fold(text)):
        raise AnalystError("rejected", "advice")


def _check_language(folded: str, language: str) -> None:
    """Refuse an answer clearly written in the other supported language."""
    tokens = _TOKEN.findall(folded)
    own = sum(token in _STOPWORDS[language] for token in tokens)
    other_language = ENGLISH if language == FRENCH else FRENCH
    other = sum(token in _STOPWORDS[other_language] for token in tokens)
    if other >= 3 and other > 2 * own:
        raise AnalystError("rejected", f"language: not in {language}")


def _check_direction(folded: str, trend: Trend) -> None:
    """Refuse an answer that names no direction, or only directions other than ``trend``."""
    stated = _stated_directions(folded)
    if trend in stated:
        return
    if stated:
        said = ", ".join(sorted(direction.value for direction in stated))
        raise AnalystError("rejected", f"direction: says {said}, trend is {trend.value}")
    raise AnalystError("rejected", f"no_direction: trend is {trend.value}")


def _stated_directions(folded: str) -> set[Trend]:
    """Return the price directions a lower-cased text states, negations and noise aside."""
    stated: set[Trend] = set()
    if _FLAT_PHRASES.search(folded):
        stated.add(Trend.FLAT)
    text = _NOT_DIRECTION.sub(lambda match: " " * len(match.group()), folded)

    for direction, pattern in _TERMS.items():
        for match in pattern.finditer(text):
            if _negated(text, match.start()) or _about_volatility(text, match):
                continue
            if direction is Trend.FLAT and _qualifies_a_move(text, match.end()):
                continue
            stated.add(direction)
    return stated


def _negated(text: str, start: int) -> bool:
    """Whether a negation comes within a few words before ``start``, in the same clause."""
    clause = _CLAUSE_BREAK.split(text[max(0, start - 80) : start])[-1]
    tokens = _TOKEN.findall(clause)[-_NEGATION_REACH:]
    return any(
        token in _NEGATORS or token.endswith("n't") or token.startswith("n'") for token in tokens
    )


def _about_volatility(text: str, match: re.Match[str]) -> bool:
    """Whether a direction word is about volatility, not the price (``volatility rose``)."""
    clause = _CLAUSE_BREAK.split(text[max(0, match.start() - 80) : match.start()])[-1]
    tokens = [_unelided(token) for token in _TOKEN.findall(clause)[-_VOLATILITY_BEFORE:]]
    if any(token in _VOLATILITY_NOUNS for token in tokens):
        return True
    after = _VOLATILITY_AFTER.match(text, match.end())
    return after is not None and after.group(1) in _VOLATILITY_NOUNS


def _qualifies_a_move(text: str, end: int) -> bool:
    """Whether a "flat" word only qualifies a move right after it (``a steady rise``)."""
    following = _NEXT_WORD.match(text, end)
    if following is None:
        return False
    word = _unelided(following.group(1))
    return any(pattern.fullmatch(word) for key, pattern in _TERMS.items() if key is not Trend.FLAT)


def _unelided(token: str) -> str:
    """Drop a French elided article or preposition (``l'``, ``d'``...) from a token."""
    return _ELISION.sub("", token)


_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);")
_CAUSES = re.compile(
    r"\b(?:because|due to|caused by|driven by|thanks to|amid|on news|"
    r"parce que|parce qu'|à cause|en raison|grâce à|suite à|sur fond de|dû à|due à|dus à)",
)
_GROUPED_DIGITS = r"\d(?:[\d,.\u00a0\u202f ]*\d)?"
_DOLLARS_BEFORE = re.compile(r"(?:\$|us\$|usd)\s?(" + _GROUPED_DIGITS + r")\s?([km])?\b", re.I)
_DOLLARS_AFTER = re.compile(
    r"(" + _GROUPED_DIGITS + r")\s?([km])?\s?(?:\$|usd\b|dollars?\b)", re.I
)
_PERCENT = re.compile(r"(" + _GROUPED_DIGITS + r")\s?(?:%|percent\b|pour ?cent\b)", re.I)
_CALM_WORDS = re.compile(r"\b(?:calm|quiet|steady|tranquil|calme|tranquille|paisible)")
_VOLATILE_WORDS = re.compile(r"\b(?:volatile|turbulent|wild|choppy|agité|mouvementé)")
# A summary rounds: amounts may stray this far beyond the range, percentages this far from a
# computed one (in points, or relative to it).
_AMOUNT_SLACK = 0.02
_PERCENT_POINTS = 1.0
_PERCENT_RELATIVE = 0.15


def _check_grounding(text: str, folded: str, facts: TrendFacts) -> None:
    """Refuse markup, made-up causes, figures the facts do not hold, a wrong volatility."""
    if _MARKUP.search(text):
        raise AnalystError("rejected", "markup")
    if _CAUSES.search(folded):
        raise AnalystError("rejected", "cause")

    lowest = min(facts.low, facts.first_close, facts.last_close) * (1 - _AMOUNT_SLACK)
    highest = max(facts.high, facts.first_close, facts.last_close) * (1 + _AMOUNT_SLACK)
    moves = (abs(facts.last_close - facts.first_close), facts.high - facts.low)
    for amount in _amounts(text):
        is_price = lowest <= amount <= highest
        is_move = any(abs(amount - move) <= _PERCENT_RELATIVE * move for move in moves)
        if not (is_price or is_move):
            raise AnalystError("rejected", f"figures: ${amount:,.0f} matches no price or move")

    computed = (abs(facts.change_pct), abs(facts.fitted_change_pct), facts.volatility)
    for percent in _percentages(text):
        if not any(_close_enough(percent, known) for known in computed):
            raise AnalystError("rejected", f"figures: {percent:g} % not computed")

    volatile = facts.volatility_label is VolatilityLabel.VOLATILE
    calm = facts.volatility_label is VolatilityLabel.CALM
    if volatile and _plainly_said(folded, _CALM_WORDS):
        raise AnalystError("rejected", "volatility: called calm")
    if calm and _plainly_said(folded, _VOLATILE_WORDS):
        raise AnalystError("rejected", "volatility: called volatile")


def _amounts(text: str) -> list[float]:
    """The dollar amounts a text names, read in English or French spelling."""
    amounts = []
    for pattern in (_DOLLARS_BEFORE, _DOLLARS_AFTER):
        for match in pattern.finditer(text):
            number = _number(match.group(1))
            if number is None:
                continue
            scale = {"k": 1e3, "m": 1e6}.get((match.group(2) or "").lower(), 1.0)
            amounts.append(number * scale)
    return amounts


def _percentages(text: str) -> list[float]:
    """The percentages a text names."""
    found = (_number(match.group(1)) for match in _PERCENT.finditer(text))
    return [number for number in found if number is not None]


def _number(digits: str) -> float | None:
    """Read ``84,697``, ``84 697``, ``84.697,5`` or ``11,4`` as a number."""
    compact = re.sub(r"[\s\u00a0\u202f]", "", digits)
    if "," in compact and "." in compact:
        decimal = "," if compact.rfind(",") > compact.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        compact = compact.replace(thousands, "").replace(decimal, ".")
    elif compact.count(",") == 1 and len(compact.split(",")[1]) != 3:
        compact = compact.replace(",", ".")
    elif compact.count(".") == 1 and len(compact.split(".")[1]) != 3:
        pass
    else:
        compact = compact.replace(",", "").replace(".", "")
    try:
        return float(compact)
    except ValueError:
        return None


def _close_enough(stated: float, known: float) -> bool:
    return abs(stated - known) <= max(_PERCENT_POINTS, _PERCENT_RELATIVE * abs(known))


def _plainly_said(folded: str, words: re.Pattern[str]) -> bool:
    """Whether one of ``words`` appears without a negation just before it."""
    return any(not _negated(folded, match.start()) for match in words.finditer(folded))
