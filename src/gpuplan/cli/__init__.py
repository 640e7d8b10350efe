"""The ``gpuplan`` command line (typer): parse, call the pipeline, format."""

from __future__ import annotations

from gpuplan.cli.app import app, main

__all__ = ["app", "main"]
