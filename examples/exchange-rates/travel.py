"""The card platform's legacy tables in PostgreSQL: ``rates`` (one row per currency, updated as
the market moves) and ``payments`` (card payments, inserts only); a seeded generator for both,
and the home-currency amounts the platform itself would compute from them.

Endpoints come from the environment, as in pipeline.yaml: STRANGLER_PG_DSN.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

PG_DSN = os.environ.get("STRANGLER_PG_DSN", "postgresql://postgres@127.0.0.1:25432/postgres")

# units of each currency one euro buys, at the start of the day
OPENING = {
    "EUR": "1", "GBP": "0.85", "USD": "1.08", "JPY": "162.5", "CHF": "0.95", "SEK": "11.4",
    "PLN": "4.3", "CZK": "25.2", "TRY": "35.0", "THB": "38.5", "MXN": "18.9",
}  # fmt: skip
CITIES = {
    "Lisbon": "EUR", "London": "GBP", "New York": "USD", "Tokyo": "JPY", "Zurich": "CHF",
    "Stockholm": "SEK", "Krakow": "PLN", "Prague": "CZK", "Istanbul": "TRY", "Bangkok": "THB",
    "Mexico City": "MXN",
}  # fmt: skip
LUNCH = ("noodle bar", "taqueria", "cafe", "bakery", "food market", "bistro", "kebab house")
HOME = ("GBP", "USD", "EUR", "SEK", "CHF")
CARDS = [f"card-{n:02d}" for n in range(1, 13)]
LUNCHTIME = datetime(2026, 6, 1, 11, 30, tzinfo=UTC)

TABLES = (
    """CREATE TABLE rates (
        currency char(3) PRIMARY KEY,
        per_eur numeric(18, 6) NOT NULL,
        desk text NOT NULL,
        quoted_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE payments (
        id bigint PRIMARY KEY,
        card text NOT NULL,
        merchant text NOT NULL,
        city text NOT NULL,
        amount numeric(12, 2) NOT NULL,
        currency char(3) NOT NULL,
        home_currency char(3) NOT NULL,
        paid_at timestamptz NOT NULL)""",
)


def connect() -> psycopg.Connection[Any]:
    return psycopg.connect(PG_DSN, autocommit=True)


def home_currency(card: str) -> str:
    """The currency a card is billed in (fixed per card)."""
    return HOME[CARDS.index(card) % len(HOME)]


def payment(rng: random.Random, number: int) -> tuple[Any, ...]:
    """Payment ``number``: lunch somewhere, 8 to 40 euros' worth in the local currency."""
    card, city = rng.choice(CARDS), rng.choice(sorted(CITIES))
    currency = CITIES[city]
    amount = (Decimal(rng.randint(800, 4000)) / 100 * Decimal(OPENING[currency])).quantize(
        Decimal("0.01")
    )
    paid_at = LUNCHTIME + timedelta(minutes=7 * number)
    return (number, card, f"{rng.choice(LUNCH)} {number}", city, amount, currency,
            home_currency(card), paid_at)  # fmt: skip


def setup(seed: int, payments: int = 200) -> None:
    """Create both tables: the opening rates and ``payments`` payments (seeded)."""
    rng = random.Random(seed)
    with connect() as conn, conn.cursor() as cur:
        for ddl in TABLES:
            cur.execute(ddl.encode())
        cur.executemany(
            "INSERT INTO rates (currency, per_eur, desk) VALUES (%s, %s, 'opening')",
            [(c, Decimal(r)) for c, r in OPENING.items()],
        )
        cur.executemany(
            "INSERT INTO payments VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [payment(rng, n) for n in range(1, payments + 1)],
        )
    print(f"setup: {len(OPENING)} rates, {payments} payments (seed {seed})")


def market(seed: int, rounds: int = 5, payments_per_round: int = 20) -> int:
    """The market moves: each round some rates change by up to 2% (one transaction) and more
    lunches are paid. Returns how many rate updates were made."""
    rng = random.Random(seed + 1)
    updates = 0
    with connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM payments")
        row = cur.fetchone()
        next_id = int(row[0]) + 1 if row else 1
        for number in range(rounds):
            moved = rng.sample(sorted(set(OPENING) - {"EUR"}), 4)
            with conn.transaction():
                for currency in moved:
                    change = Decimal(rng.randint(-200, 200)) / 10000
                    cur.execute(
                        "UPDATE rates SET per_eur = round(per_eur * (1 + %s), 6), "
                        "desk = %s, quoted_at = now() WHERE currency = %s",
                        (change, f"round {number + 1}", currency),
                    )
            updates += len(moved)
            cur.executemany(
                "INSERT INTO payments VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [payment(rng, n) for n in range(next_id, next_id + payments_per_round)],
            )
            next_id += payments_per_round
    print(f"market: {rounds} rounds, {updates} rate updates, {rounds * payments_per_round} "
          "more payments")  # fmt: skip
    return updates


def expected() -> dict[int, Decimal | None]:
    """Each payment's amount in its card's home currency at today's rates, as the card platform
    computes it from its own tables (exact numeric arithmetic, rounded to cents)."""
    with connect() as conn:
        rows = conn.execute(
            "SELECT p.id, round(p.amount / f.per_eur * h.per_eur, 2) FROM payments p "
            "LEFT JOIN rates f ON f.currency = p.currency "
            "LEFT JOIN rates h ON h.currency = p.home_currency"
        ).fetchall()
    return {int(i): amount for i, amount in rows}
