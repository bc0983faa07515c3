"""The library: what the service finds across all finished jobs (search, CSV, similar)."""
