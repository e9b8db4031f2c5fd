"""Every sentence the adapters show, in English and French.

Texts are plain strings with ``{name}`` fields; the values put in them are escaped by the
caller for the markup in use, and the texts themselves hold no markup.
"""

from __future__ import annotations

from core.languages import resolve_language

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "console.banner": (
            "Bitcoin Analyzer console. Type /help, or /quit to leave (Ctrl-C or Ctrl-D too)."
        ),
        "help.title": "Bitcoin Analyzer",
        "help.intro": (
            "I explain what Bitcoin's price has been doing, in plain words, from prices and "
            "headlines I store myself."
        ),
        "help.trend": "/trend [window] – is the trend up, down or flat, and is it volatile? "
        "Windows: 6h, 24h (default), 7d, 30d, 90d, 1y.",
        "help.news": "/news [count] – the latest crypto headlines.",
        "help.status": "/status – health and data freshness (admins only).",
        "help.help": "/help – this message.",
        "help.chart": "/chart [window] – the price over a window as a picture (7d by default).",
        "help.digest": "/digest – a preview of today's daily digest.",
        "help.subscribe": (
            "/subscribe – get the digest in this chat every day; /unsubscribe to stop "
            "(in groups, administrators only)."
        ),
        "digest.title": "Bitcoin daily digest · {date}",
        "digest.price": "BTC {price} ({change} in 24 h)",
        "digest.price_only": "BTC {price}",
        "digest.as_of": "Prices up to {as_of} UTC ({age} old).",
        "digest.no_price": "No price is stored yet.",
        "digest.window.24h": "Last 24 hours",
        "digest.window.7d": "Last 7 days",
        "digest.trend": "{window}: {trend} ({change}) · volatility: {volatility}",
        "digest.headlines": "Headlines of the day",
        "digest.no_headlines": "No new headlines in the last 24 hours.",
        "digest.chart_note": "Chart: the last 7 days, up to {as_of} UTC.",
        "digest.footer": "Education, not financial advice.",
        "digest.footer_subscriber": (
            "Education, not financial advice. /unsubscribe stops the digest."
        ),
        "chart.title": "BTC-USD over {window}, as of {as_of} UTC",
        "chart.x_label": "Time (UTC)",
        "chart.y_label": "Price (USD)",
        "chart.caption": "BTC-USD over {window}, up to {as_of} UTC ({points} {unit} candles).",
        "chart.usage": (
            "I did not understand the window “{text}”. Usage: /chart [window], for example "
            "/chart 24h, /chart 7d or /chart 1y."
        ),
        "chart.saved": "Chart saved to {path}",
        "subscribe.done": (
            "Subscribed: this chat gets the digest every day at {time} ({zone}), the next one "
            "on {next}."
        ),
        "subscribe.already": (
            "This chat is already subscribed: the digest comes every day at {time} ({zone})."
        ),
        "subscribe.admins_only": (
            "In a group, only its administrators can subscribe or unsubscribe it."
        ),
        "subscribe.telegram_only": (
            "Subscriptions are for Telegram chats. /digest shows today's digest here."
        ),
        "subscribe.disabled": "The daily digest is switched off on this bot.",
        "unsubscribe.done": "Unsubscribed: no more digests here. /subscribe brings them back.",
        "unsubscribe.not_subscribed": "This chat was not subscribed.",
        "status.digest": (
            "Digest: next {next} {zone} ({next_utc} UTC) · {subscribers} subscribers, "
            "{inactive} inactive"
        ),
        "status.digest_last": (
            "Last digest run for {date}: sent {sent}, failed {failed}, retried {retried}, "
            "skipped {skipped} (ended {at} UTC)"
        ),
        "status.digest_day": (
            "Digest for {date}, all runs: {sent} sent, {failed} failed, {sending} sending"
        ),
        "status.digest_none": "Last digest run: none yet",
        "status.digest_channel": "Channel {channel}: {state} for {date}",
        "status.digest_channel_failed": "Channel {channel}: FAILED for {date}: {error}",
        "alert.channel_failed": (
            "The daily digest for {date} could not be posted to the channel {channel}: {error}. "
            "Subscribers are not affected."
        ),
        "help.disclaimer": "This is education, not financial advice.",
        "trend.title": "BTC over {window}",
        "trend.clamped": "({requested} is outside what I can analyse; I used {window}.)",
        "trend.figures": "{first} → {last} ({change}), low {low}, high {high}",
        "trend.labels": "Trend: {trend} · volatility: {volatility} ({volatility_pct} a year)",
        "trend.as_of": "Data up to {as_of} UTC ({age} old), {points} {unit} candles.",
        "trend.fallback": "Gemini was unavailable; the built-in analyst answered.",
        "trend.refused": "Gemini's answer did not pass our checks; the built-in analyst answered.",
        "trend.stale": (
            "⚠️ My newest price is from {as_of} UTC ({age} ago): this describes that stretch "
            "of time, not today."
        ),
        "trend.gaps": (
            "Note: {missing} candles are missing in this window, between {start} and {end} UTC."
        ),
        "trend.up": "up",
        "trend.down": "down",
        "trend.flat": "flat",
        "vol.calm": "calm",
        "vol.normal": "normal",
        "vol.volatile": "volatile",
        "unit.1h": "hourly",
        "unit.1d": "daily",
        "news.title": "Latest headlines",
        "news.empty": "No headlines are stored yet.",
        "status.title": "Status",
        "status.denied": "Sorry, /status is for the bot's administrators only.",
        "status.header": "v{version} · up {uptime}",
        "status.data": "Data: {database} {size} · {prices} candles · {news} headlines",
        "status.candle": "Newest candle closed {at} UTC ({age} ago)",
        "status.headline": "Newest headline {at} UTC ({age} ago)",
        "status.stale": "⚠️ stale",
        "status.none": "none yet",
        "status.gaps": "Gaps: {count} stretches, {missing} hourly candles missing this year",
        "status.sources": "Sources:",
        "status.source": "{kind} {name}: ok {success}, {rows} rows",
        "status.source_error": "error {at}: {error}",
        "status.jobs": "Next runs (UTC): {runs}",
        "status.llm": (
            "LLM {analyst}: {calls} calls, {hits} cache hits · failures: {failures} · "
            "fallbacks: {fallbacks}"
        ),
        "status.llm_usage": (
            "Tokens today {tokens_in} in / {tokens_out} out · p50 {p50} · p95 {p95}"
        ),
        "status.llm_resting": "Gemini is resting after a rate limit until {until} UTC",
        "status.handlers": "Commands: {handled} handled, {errors} errors",
        "status.handler": "/{command}: {count} · p50 {p50} · p95 {p95}",
        "error.window_format": (
            "I did not understand the window “{text}”. Try /trend 24h, /trend 7d or /trend 1y."
        ),
        "error.count_format": "I did not understand “{text}”. Try /news or /news 10.",
        "error.window_several": "Please give just one window, for example /trend 7d.",
        "error.window_not_positive": (
            "A window must be longer than zero, for example /trend 24h or /trend 7d."
        ),
        "error.invalid_input": "I did not understand that. Try /help.",
        "error.no_data": "I do not have enough stored prices for that window yet.",
        "error.rate_limited": "That is a lot of questions at once! Please wait a minute.",
        "error.unknown_command": "I do not know that command. Try /help.",
        "error.internal": "Sorry, something went wrong on my side. Please try again later.",
    },
    "fr": {
        "console.banner": (
            "Console de Bitcoin Analyzer. Tapez /help, ou /quit pour sortir (Ctrl-C ou Ctrl-D "
            "aussi)."
        ),
        "help.title": "Bitcoin Analyzer",
        "help.intro": (
            "J’explique en mots simples ce que fait le prix du bitcoin, à partir des prix et "
            "des titres d’actualité que je conserve moi-même."
        ),
        "help.trend": "/trend [période] – la tendance est-elle à la hausse, à la baisse ou "
        "stable, et le marché est-il agité ? Périodes : 6h, 24h (par défaut), 7j, 30j, 90j, 1an.",
        "help.news": "/news [nombre] – les derniers titres de l’actualité crypto.",
        "help.status": "/status – santé et fraîcheur des données (administrateurs).",
        "help.help": "/help – ce message.",
        "help.chart": "/chart [période] – le prix sur une période, en image (7j par défaut).",
        "help.digest": "/digest – un aperçu du résumé quotidien d’aujourd’hui.",
        "help.subscribe": (
            "/subscribe – recevoir le résumé dans cette discussion chaque jour ; /unsubscribe "
            "pour l’arrêter (dans un groupe, administrateurs seulement)."
        ),
        "digest.title": "Résumé bitcoin du jour · {date}",
        "digest.price": "BTC {price} ({change} en 24 h)",
        "digest.price_only": "BTC {price}",
        "digest.as_of": "Prix jusqu’au {as_of} UTC (il y a {age}).",
        "digest.no_price": "Aucun prix n’est encore enregistré.",
        "digest.window.24h": "Dernières 24 heures",
        "digest.window.7d": "7 derniers jours",
        "digest.trend": "{window} : {trend} ({change}) · volatilité : {volatility}",
        "digest.headlines": "Les titres du jour",
        "digest.no_headlines": "Aucun nouveau titre ces dernières 24 heures.",
        "digest.chart_note": "Graphique : les 7 derniers jours, jusqu’au {as_of} UTC.",
        "digest.footer": "Ceci est pédagogique, pas un conseil financier.",
        "digest.footer_subscriber": (
            "Ceci est pédagogique, pas un conseil financier. /unsubscribe arrête le résumé."
        ),
        "chart.title": "BTC-USD sur {window}, au {as_of} UTC",
        "chart.x_label": "Heure (UTC)",
        "chart.y_label": "Prix (USD)",
        "chart.caption": "BTC-USD sur {window}, jusqu’au {as_of} UTC ({points} bougies {unit}).",
        "chart.usage": (
            "Je n’ai pas compris la période « {text} ». Utilisation : /chart [période], par "
            "exemple /chart 24h, /chart 7j ou /chart 1an."
        ),
        "chart.saved": "Graphique enregistré dans {path}",
        "subscribe.done": (
            "Abonnement enregistré : cette discussion reçoit le résumé chaque jour à {time} "
            "({zone}), le prochain le {next}."
        ),
        "subscribe.already": (
            "Cette discussion est déjà abonnée : le résumé arrive chaque jour à {time} ({zone})."
        ),
        "subscribe.admins_only": (
            "Dans un groupe, seuls ses administrateurs peuvent l’abonner ou le désabonner."
        ),
        "subscribe.telegram_only": (
            "Les abonnements sont pour les discussions Telegram. /digest montre ici le résumé "
            "du jour."
        ),
        "subscribe.disabled": "Le résumé quotidien est désactivé sur ce bot.",
        "unsubscribe.done": (
            "Désabonnement fait : plus de résumé ici. /subscribe le fait revenir."
        ),
        "unsubscribe.not_subscribed": "Cette discussion n’était pas abonnée.",
        "status.digest": (
            "Résumé : prochain le {next} {zone} ({next_utc} UTC) · {subscribers} abonnés, "
            "{inactive} inactifs"
        ),
        "status.digest_last": (
            "Dernier envoi du résumé du {date} : {sent} envoyés, {failed} échecs, "
            "{retried} réessais, {skipped} ignorés (fini à {at} UTC)"
        ),
        "status.digest_day": (
            "Résumé du {date}, tous envois : {sent} envoyés, {failed} échecs, {sending} en cours"
        ),
        "status.digest_none": "Dernier envoi du résumé : aucun pour l’instant",
        "status.digest_channel": "Canal {channel} : {state} pour le {date}",
        "status.digest_channel_failed": "Canal {channel} : ÉCHEC pour le {date} : {error}",
        "alert.channel_failed": (
            "Le résumé quotidien du {date} n’a pas pu être publié sur le canal {channel} : "
            "{error}. Les abonnés ne sont pas concernés."
        ),
        "help.disclaimer": "Ceci est pédagogique, pas un conseil financier.",
        "trend.title": "BTC sur {window}",
        "trend.clamped": "({requested} sort de ce que je sais analyser ; j’ai pris {window}.)",
        "trend.figures": "{first} → {last} ({change}), plus bas {low}, plus haut {high}",
        "trend.labels": "Tendance : {trend} · volatilité : {volatility} ({volatility_pct} par an)",
        "trend.as_of": "Données jusqu’au {as_of} UTC (il y a {age}), {points} bougies {unit}.",
        "trend.fallback": "Gemini n’était pas disponible ; l’analyste intégré a répondu.",
        "trend.refused": (
            "La réponse de Gemini n’a pas passé nos contrôles ; l’analyste intégré a répondu."
        ),
        "trend.stale": (
            "⚠️ Mon prix le plus récent date du {as_of} UTC (il y a {age}) : ceci décrit cette "
            "période, pas aujourd’hui."
        ),
        "trend.gaps": (
            "Attention : {missing} bougies manquent dans cette période, entre le {start} et "
            "le {end} UTC."
        ),
        "trend.up": "hausse",
        "trend.down": "baisse",
        "trend.flat": "stable",
        "vol.calm": "calme",
        "vol.normal": "normale",
        "vol.volatile": "forte",
        "unit.1h": "horaires",
        "unit.1d": "journalières",
        "news.title": "Derniers titres",
        "news.empty": "Aucun titre n’est encore enregistré.",
        "status.title": "État",
        "status.denied": "Désolé, /status est réservé aux administrateurs du bot.",
        "status.header": "v{version} · en service depuis {uptime}",
        "status.data": "Données : {database} {size} · {prices} bougies · {news} titres",
        "status.candle": "Dernière bougie close le {at} UTC (il y a {age})",
        "status.headline": "Dernier titre le {at} UTC (il y a {age})",
        "status.stale": "⚠️ périmé",
        "status.none": "aucun pour l’instant",
        "status.gaps": "Trous : {count} périodes, {missing} bougies horaires manquantes sur un an",
        "status.sources": "Sources :",
        "status.source": "{kind} {name} : ok {success}, {rows} lignes",
        "status.source_error": "erreur {at} : {error}",
        "status.jobs": "Prochains passages (UTC) : {runs}",
        "status.llm": (
            "LLM {analyst} : {calls} appels, {hits} en cache · échecs : {failures} · "
            "replis : {fallbacks}"
        ),
        "status.llm_usage": (
            "Jetons aujourd’hui {tokens_in} en entrée / {tokens_out} en sortie · "
            "p50 {p50} · p95 {p95}"
        ),
        "status.llm_resting": "Gemini est au repos après une limite de débit jusqu’à {until} UTC",
        "status.handlers": "Commandes : {handled} traitées, {errors} erreurs",
        "status.handler": "/{command} : {count} · p50 {p50} · p95 {p95}",
        "error.window_format": (
            "Je n’ai pas compris la période « {text} ». Essayez /trend 24h, /trend 7j ou "
            "/trend 1an."
        ),
        "error.count_format": "Je n’ai pas compris « {text} ». Essayez /news ou /news 10.",
        "error.window_several": "Donnez une seule période, par exemple /trend 7j.",
        "error.window_not_positive": (
            "Une période doit être plus longue que zéro, par exemple /trend 24h ou /trend 7j."
        ),
        "error.invalid_input": "Je n’ai pas compris. Essayez /help.",
        "error.no_data": "Je n’ai pas encore assez de prix enregistrés pour cette période.",
        "error.rate_limited": "Cela fait beaucoup de questions d’un coup ! Patientez une minute.",
        "error.unknown_command": "Je ne connais pas cette commande. Essayez /help.",
        "error.internal": "Désolé, un problème est survenu de mon côté. Réessayez plus tard.",
    },
}


def text(language: str, key: str, **values: object) -> str:
    """The sentence ``key`` in ``language`` (English when unknown), with its fields filled."""
    catalogue = TEXTS.get(language, TEXTS["en"])
    template = catalogue.get(key) or TEXTS["en"][key]
    return template.format(**values) if values else template


def has_text(key: str) -> bool:
    """Whether ``key`` names a sentence."""
    return key in TEXTS["en"]


def language_of(language_code: str | None, default: str) -> str:
    """French when Telegram says the user speaks French, else English, else the default."""
    if not language_code:
        return default
    return resolve_language(language_code)
