"""``python -m strangler.materializers PIPELINE.yaml [VIEW ...]``: run views until stopped;
``--rebuild VIEW`` rebuilds one (the `strangler materialize` command can call ``service.run``
and ``service.rebuild`` the same way)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from strangler.core.config import load_config
from strangler.core.errors import StranglerError
from strangler.materializers import service
from strangler.materializers.config import MaterializeConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m strangler.materializers")
    parser.add_argument("config", type=Path, help="YAML with kafka, registry_url and views")
    parser.add_argument("views", nargs="*", help="views to run (default: all)")
    parser.add_argument("--idle-exit", type=float, default=None, help="exit after N idle s")
    parser.add_argument("--rebuild", metavar="VIEW", help="rebuild VIEW into a shadow and swap")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        config = load_config(args.config, MaterializeConfig)
        if args.rebuild:
            service.rebuild(config, args.rebuild)
        else:
            service.run(config, args.views, idle_exit_s=args.idle_exit)
    except StranglerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
