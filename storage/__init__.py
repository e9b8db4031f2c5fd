"""Persistence for Bitcoin Analyzer: SQLAlchemy models, the engine and the repositories."""
