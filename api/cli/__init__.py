"""The `tiktok-analyzer` command line: ``commands`` parses, ``analyze`` runs, the rest serve it."""

from api.cli.commands import main

__all__ = ["main"]
