"""Adapters of Bitcoin Analyzer: the Telegram bot, the console, and the command line."""
