"""Live data sources: price providers with failover, and news feeds."""
