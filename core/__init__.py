"""The domain of Bitcoin Analyzer: analysis, analysts, sources, ingestion and digest."""
