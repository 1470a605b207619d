"""The new orders service: it reads products from its own local view and owns its orders.

- ``CatalogueView`` answers product reads from the SQLite file that ``strangler`` keeps in sync
  with the monolith's ``products`` table (the ``orders_service_catalogue`` view of
  pipeline.yaml: active products only, the columns this service needs, ``name`` as ``title``).
- ``LegacyCatalogue`` is the query the monolith's code ran for the same read. ``shadow_read``
  answers from the view and, next to it, from the old query, and counts the differences: the
  evidence that reads can move to the view.
- ``OrdersService.place_order`` is the write path after the cutover: the order goes into the
  service's own ``orders`` table and an ``order_placed`` event into its ``outbox`` table, in one
  transaction. CDC publishes the outbox; nothing else writes these tables (single writer).

Run ``python orders_service.py --help`` for the command-line forms the playbook uses.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Self

import psycopg

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "orders_service_schema.sql"


@dataclass(frozen=True)
class Product:
    """A product as the orders service sees it."""

    id: int
    sku: str
    title: str
    price: Decimal
    category_id: int


def _product(row: Sequence[object]) -> Product:
    pid, sku, title, price, category = row
    return Product(int(str(pid)), str(sku), str(title), Decimal(str(price)), int(str(category)))


class _Closing:
    """Owns one database connection: ``close()`` and ``with`` close it."""

    conn: sqlite3.Connection | psycopg.Connection

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class CatalogueView(_Closing):
    """Product reads served from the service's local SQLite view (read-only)."""

    COLUMNS = "id, sku, title, price, category_id"

    def __init__(self, path: Path) -> None:
        self.conn: sqlite3.Connection = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False
        )

    def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
        marks = ", ".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT {self.COLUMNS} FROM products WHERE id IN ({marks})", list(ids)
        )
        return {p.id: p for p in map(_product, rows)}

    def all(self) -> dict[int, Product]:
        return {
            p.id: p
            for p in map(_product, self.conn.execute(f"SELECT {self.COLUMNS} FROM products"))
        }

    def count(self) -> int:
        try:
            return int(self.conn.execute("SELECT count(*) FROM products").fetchone()[0])
        except sqlite3.OperationalError:  # the view has not created its table yet
            return 0


class LegacyCatalogue(_Closing):
    """The monolith's own product query, kept for shadow reads until the old path is retired."""

    QUERY = "SELECT id, sku, name, price, category_id FROM products WHERE active"

    def __init__(self, dsn: str) -> None:
        self.conn: psycopg.Connection = psycopg.connect(dsn, autocommit=True)

    def get_many(self, ids: Sequence[int]) -> dict[int, Product]:
        rows = self.conn.execute(self.QUERY + " AND id = ANY(%s)", [list(ids)])
        return {p.id: p for p in map(_product, rows)}

    def all(self) -> dict[int, Product]:
        return {p.id: p for p in map(_product, self.conn.execute(self.QUERY))}

    def ids(self) -> list[int]:
        """Every product id, on sale or not (requests ask for both)."""
        return [int(r[0]) for r in self.conn.execute("SELECT id FROM products ORDER BY id")]


@dataclass
class ShadowReport:
    """What the shadow reads found: the new answer compared with the old one."""

    compared: int = 0
    differences: list[tuple[int, Product | None, Product | None]] = field(default_factory=list)
    """(product id, the view's answer, the monolith's answer) for each mismatch."""
    resolved: int = 0
    """Differences that went away on a re-read a moment later: the view was behind (lag)."""

    @property
    def persistent(self) -> int:
        return len(self.differences) - self.resolved


def compare(
    ids: Iterable[int], new: dict[int, Product], old: dict[int, Product]
) -> list[tuple[int, Product | None, Product | None]]:
    return [(i, new.get(i), old.get(i)) for i in ids if new.get(i) != old.get(i)]


def shadow_read(
    view: CatalogueView, legacy: LegacyCatalogue, ids: Sequence[int], recheck_s: float = 0.0
) -> ShadowReport:
    """Read ``ids`` from both paths and count differences; with ``recheck_s``, re-read the
    differing ids after that long and count those that agree then as lag, not as errors."""
    report = ShadowReport(compared=len(ids))
    report.differences = compare(ids, view.get_many(ids), legacy.get_many(ids))
    if report.differences and recheck_s > 0:
        time.sleep(recheck_s)
        again = [d[0] for d in report.differences]
        still = compare(again, view.get_many(again), legacy.get_many(again))
        report.resolved = len(report.differences) - len(still)
    return report


def shadow_read_all(view: CatalogueView, legacy: LegacyCatalogue) -> ShadowReport:
    """Every product on both paths: the full comparison once the view has caught up."""
    new, old = view.all(), legacy.all()
    ids = sorted(set(new) | set(old))
    return ShadowReport(compared=len(ids), differences=compare(ids, new, old))


class NotForSale(Exception):
    """The product is not in the service's catalogue view (unknown, or off sale)."""


class OrdersService(_Closing):
    """The write side: the service's own ``orders`` table and its outbox, one transaction."""

    def __init__(self, view: CatalogueView, dsn: str) -> None:
        self.view = view
        self.conn: psycopg.Connection = psycopg.connect(dsn, autocommit=True)

    def place_order(self, customer_id: int, product_id: int, quantity: int) -> int:
        """Take an order at the view's current price; returns the new order's id."""
        product = self.view.get_many([product_id]).get(product_id)
        if product is None:
            raise NotForSale(f"product {product_id} is not for sale")
        total = product.price * quantity
        with self.conn.transaction():
            row = self.conn.execute(
                "INSERT INTO orders (customer_id, product_id, sku, quantity, unit_price, total) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                [customer_id, product_id, product.sku, quantity, product.price, total],
            ).fetchone()
            assert row is not None
            self.conn.execute(
                "INSERT INTO outbox (event_type, order_id, customer_id, sku, quantity, total) "
                "VALUES ('order_placed', %s, %s, %s, %s, %s)",
                [row[0], customer_id, product.sku, quantity, total],
            )
        return int(row[0])


def create_schema(dsn: str) -> None:
    """The service's tables, in its own (empty) database."""
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA.read_text())  # a trusted, static script


def _print_report(report: ShadowReport) -> None:
    print(f"compared {report.compared} products: {len(report.differences)} difference(s)")
    for pid, new, old in report.differences[:10]:
        print(f"  product {pid}: view {new} / monolith {old}")


def main() -> None:
    parser = argparse.ArgumentParser(description="The new orders service (product-catalogue).")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init-db", help="create the service's tables in its own database")
    init.add_argument("dsn")
    shadow = sub.add_parser("shadow", help="compare every product: view vs. the monolith")
    shadow.add_argument("--view", type=Path, required=True, help="the SQLite view file")
    shadow.add_argument("--legacy-dsn", required=True, help="the monolith's database")
    order = sub.add_parser("place-order", help="take an order (orders table + outbox)")
    order.add_argument("--view", type=Path, required=True)
    order.add_argument("--dsn", required=True, help="the orders service's database")
    order.add_argument("--customer", type=int, required=True)
    order.add_argument("--product", type=int, required=True)
    order.add_argument("--quantity", type=int, default=1)
    args = parser.parse_args()
    if args.command == "init-db":
        create_schema(args.dsn)
    elif args.command == "shadow":
        report = shadow_read_all(CatalogueView(args.view), LegacyCatalogue(args.legacy_dsn))
        _print_report(report)
        raise SystemExit(1 if report.differences else 0)
    else:
        service = OrdersService(CatalogueView(args.view), args.dsn)
        print(f"order {service.place_order(args.customer, args.product, args.quantity)} placed")


if __name__ == "__main__":
    main()
