"""Renderers of a finished result: Markdown, SRT and WebVTT exports and the CLI's text report."""
