"""The ``strangler`` command: click groups per noun; heavy imports stay inside commands."""

from __future__ import annotations

import sys

import click

from strangler.core.errors import StranglerError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="strangler")
def cli() -> None:
    """strangler: move data out of legacy databases into event streams, table by table."""


def _register_commands() -> None:
    # one line per noun; each module keeps its heavy imports inside its commands
    from strangler.cli.connect import connect
    from strangler.cli.dev import dev
    from strangler.cli.materialize import materialize
    from strangler.cli.reference_cmd import reference_command
    from strangler.cli.registry import registry
    from strangler.cli.validate import validate

    cli.add_command(dev)
    cli.add_command(validate)
    cli.add_command(reference_command)
    cli.add_command(registry)
    cli.add_command(materialize)
    cli.add_command(connect)


_register_commands()


def main() -> None:
    """Console-script entry point: maps strangler errors to messages and exit codes."""
    try:
        rc = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except StranglerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)
