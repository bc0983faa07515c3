"""The local backend: spawned worker processes on this machine."""
