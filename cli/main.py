"""The ``strangler`` command: click groups per noun; heavy imports stay inside commands."""

from __future__ import annotations

import sys
import traceback

import click

from strangler.cli.logsetup import configure, set_verbosity, verbosity
from strangler.core.errors import StranglerError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="strangler")
@click.option("-v", "--verbose", count=True, help="More log output (-vv: debug); tracebacks.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
def cli(verbose: int, quiet: bool) -> None:
    """strangler: move data out of legacy databases into event streams, table by table."""
    set_verbosity(verbose, quiet)
    configure()


def _register_commands() -> None:
    # one line per noun; each module keeps its heavy imports inside its commands
    from strangler.cli.connect import connect
    from strangler.cli.dev import dev
    from strangler.cli.doctor_cmd import doctor_command
    from strangler.cli.init_cmd import init_command
    from strangler.cli.materialize import materialize
    from strangler.cli.offsets_cmd import offsets_command
    from strangler.cli.reference_cmd import reference_command
    from strangler.cli.registry import registry
    from strangler.cli.run_cmd import run_command
    from strangler.cli.snapshot_cmd import snapshot_command
    from strangler.cli.status_cmd import status_command
    from strangler.cli.teardown_cmd import teardown_command
    from strangler.cli.topics_cmd import topics_command
    from strangler.cli.validate import validate
    from strangler.cli.verify_cmd import verify_command

    cli.add_command(dev)
    cli.add_command(validate)
    cli.add_command(reference_command)
    cli.add_command(registry)
    cli.add_command(materialize)
    cli.add_command(connect)
    cli.add_command(verify_command)
    cli.add_command(init_command)
    cli.add_command(doctor_command)
    cli.add_command(run_command)
    cli.add_command(status_command)
    cli.add_command(snapshot_command)
    cli.add_command(offsets_command)
    cli.add_command(topics_command)
    cli.add_command(teardown_command)


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
        if verbosity() > 0:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - a bug: one line, the traceback only with -v
        if verbosity() > 0:
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("  fix: run again with -v for the traceback and report it", err=True)
        sys.exit(70)
    sys.exit(rc if isinstance(rc, int) else 0)
