"""The library: what the service finds across all its finished jobs."""
