"""Logging for every command: ``-v`` (more, repeatable), ``-q`` (errors only), set once at the root.

Commands call ``configure()`` with their default level; the root options override it. Log lines
go to stderr so stdout stays the command's result (tables, ``--json``).
"""

from __future__ import annotations

import logging
import sys

_state: dict[str, int] = {"verbosity": 0}
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def set_verbosity(verbose: int, quiet: bool) -> None:
    """Record the root ``-v``/``-q`` options (quiet wins)."""
    _state["verbosity"] = -1 if quiet else verbose


def verbosity() -> int:
    """-1 quiet, 0 default, 1+ verbose."""
    return _state["verbosity"]


def configure(default: int = logging.WARNING, fmt: str = _FORMAT) -> None:
    """Configure the root logger from the command's default and the root options."""
    level = {-1: logging.ERROR, 0: default}.get(verbosity(), logging.DEBUG)
    if verbosity() == 1 and default > logging.INFO:
        level = logging.INFO
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    if verbosity() < 2:
        for chatty in ("httpx", "httpcore", "uvicorn.access"):
            logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
