"""The gpuplan web app (FastAPI): ``create_app()`` and ``serve()`` (loopback by default).

Open :mod:`~gpuplan.web.app` first (the application and how it is run); beside it
:mod:`~gpuplan.web.state` (catalog, store, plan cache), :mod:`~gpuplan.web.api` (the JSON API,
one route per CLI command), :mod:`~gpuplan.web.pages` (HTML) and :mod:`~gpuplan.web.security`.
Imported lazily so ``import gpuplan.web`` does not load FastAPI until it is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:  # PEP 562 lazy attributes
    if name in __all__:
        from gpuplan.web import app

        return getattr(app, name)
    raise AttributeError(name)
