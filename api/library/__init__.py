"""The library: every finished job's words, text and pictures searchable, and the CSV export."""
