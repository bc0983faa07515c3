"""The Ray backend: one Ray actor per worker slot, on any node of a Ray cluster."""
