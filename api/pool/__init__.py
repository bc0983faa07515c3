"""The worker pool: one supervisor, workers from a backend (local processes or Ray actors)."""
