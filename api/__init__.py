"""The serving side: settings, CLI, HTTP app, job store, worker pool."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tiktok-analyzer")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
