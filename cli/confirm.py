"""Confirmation of a destructive operation: list exactly what will happen, then ask.

``--yes`` skips the question. Without it a shell that cannot answer (stdin not a terminal, as
in scripts and CI) is refused with a message rather than left waiting or, worse, proceeding.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from strangler.core.errors import ConfigError


def confirm(action: str, plan: Sequence[str], *, yes: bool) -> bool:
    """Print ``plan``; True to go ahead (False: nothing to do). Declining aborts (exit 130)."""
    if not plan:
        click.echo(f"nothing to {action}")
        return False
    click.echo(f"{action} will:")
    for line in plan:
        click.echo(f"  - {line}")
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError(
            f"{action} needs confirmation, and stdin is not a terminal",
            fix="check the list above, then run again with --yes",
        )
    click.confirm("proceed?", abort=True)
    return True
