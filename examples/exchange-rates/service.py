"""The payments service: it reads its own SQLite copy of the rates and the payments (kept in
sync by ``strangler materialize``), never the card platform's database, and shows each payment
in the card's home currency at today's rate: the "buying lunch abroad" view of a statement.

    python service.py card-01       # the statement of one card

The join is one SQL query; the money arithmetic is exact (the view keeps decimals as exact
text, and they are computed with ``Decimal``, never floats).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

DB = Path(os.environ.get("PAYMENTS_DB", "payments-service.db"))
CENT = Decimal("0.01")

STATEMENT = """
SELECT p.id, p.card, p.merchant, p.city, p.amount, p.currency, p.home_currency,
       paid.per_eur AS paid_rate, home.per_eur AS home_rate
FROM payments AS p
LEFT JOIN rates AS paid ON paid.currency = p.currency
LEFT JOIN rates AS home ON home.currency = p.home_currency
"""


@dataclass(frozen=True)
class Line:
    """One payment on a statement: what was paid where, and what it costs at home."""

    id: int
    card: str
    merchant: str
    city: str
    amount: Decimal
    currency: str
    home_currency: str
    home_amount: Decimal | None
    """None while the view has no rate for one of the two currencies."""


def convert(amount: Decimal, paid_rate: str | None, home_rate: str | None) -> Decimal | None:
    """``amount`` in a currency worth ``paid_rate`` per euro → a currency worth ``home_rate``."""
    if paid_rate is None or home_rate is None:
        return None
    home = amount / Decimal(paid_rate) * Decimal(home_rate)
    return home.quantize(CENT, rounding=ROUND_HALF_UP)


def statement(db: Path = DB, card: str | None = None) -> list[Line]:
    """Every payment (of ``card``, or of all cards) in its home currency, by id."""
    query = STATEMENT + (" WHERE p.card = ?" if card else "") + " ORDER BY p.id"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(query, [card] if card else []).fetchall()
    return [
        Line(i, c, m, city, Decimal(amount), cur, home, convert(Decimal(amount), paid, rate))
        for i, c, m, city, amount, cur, home, paid, rate in rows
    ]


def show(lines: list[Line], limit: int = 8) -> None:
    for line in lines[:limit]:
        home = "no rate yet" if line.home_amount is None else f"{line.home_amount:>9}"
        print(
            f"  #{line.id:<4} {line.merchant:<18} {line.city:<12} "
            f"{line.amount:>10} {line.currency} = {home} {line.home_currency}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("card", nargs="?", help="one card's statement (all cards if omitted)")
    args = parser.parse_args()
    show(statement(DB, args.card), limit=1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
