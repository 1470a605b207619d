"""A streaming process for the kill -9 test: for each transaction it first writes the events to
an output file (standing in for Kafka's acknowledgement), then stores the transaction's position
in a file (atomically). Killed at random, it restarts from the stored position.

    python my_crash_worker.py <settings json> <schema> <position file> <output file>
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

from strangler.connectors.mysql.positions import BinlogPosition
from strangler.connectors.mysql.stream import BinlogSource


def _store(path: Path, position: BinlogPosition) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(position.encode())
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    tmp.replace(path)


def main() -> None:
    settings, schema = json.loads(sys.argv[1]), sys.argv[2]
    position_file, output = Path(sys.argv[3]), Path(sys.argv[4])
    start = BinlogPosition.parse(position_file.read_text())
    source = BinlogSource(
        settings, server_id=random.randint(10**6, 2**31), start=start, schemas=[schema]
    )
    with output.open("a") as out:
        for tx in source.transactions():
            for event in tx.events:
                out.write(json.dumps([tx.gtid, (event.after or {}).get("id")]) + "\n")
            out.flush()
            os.fsync(out.fileno())
            _store(position_file, tx.position)


if __name__ == "__main__":
    main()
