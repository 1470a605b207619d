"""A materializer process for the kill -9 test: ``python view_process.py CONFIG.json`` runs the
views of a MaterializeConfig (JSON) with the workload's schemas until killed (or idle, when the
config file names ``idle_exit_s``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from strangler.materializers import service
from strangler.materializers.config import MaterializeConfig
from strangler.materializers.schemas import StaticSchemas
from tests.integration.materializers.workload import SCHEMAS


def main() -> None:
    data = json.loads(Path(sys.argv[1]).read_text())
    idle = data.pop("idle_exit_s", None)
    config = MaterializeConfig.model_validate(data)
    service.run(config, schemas=StaticSchemas(SCHEMAS), idle_exit_s=idle)


if __name__ == "__main__":
    main()
