"""The legacy shop's data: a deterministic generated catalogue, and a load generator.

``python shopdata.py load DSN`` creates the monolith's tables (shop_schema.sql) in an empty
database and fills them: a few hundred categories and customers, a few thousand products with
their stock in three warehouses, and a history of orders. The same seed gives the same rows.

``python shopdata.py churn DSN --rate 50 --seconds 30`` then keeps the monolith busy the way its
users do: price changes, stock moves, new products, discontinued ones (deleted), products taken
off sale and back, and orders. Each change is one transaction.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "shop_schema.sql"
WAREHOUSES = ("north", "south", "east")
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

DEPARTMENTS = (
    "Home", "Garden", "Kitchen", "Office", "Outdoor", "Kids", "Sports", "Tools", "Pets", "Audio",
    "Lighting", "Bath", "Travel", "Crafts", "Storage",
)  # fmt: skip
SUBCATEGORIES = (
    "Essentials", "Accessories", "Basics", "Premium", "Compact", "Classics", "Seasonal",
    "Eco", "Pro", "Spare parts", "Gifts", "Deals", "Bundles", "Refills", "Minis", "Sets",
)  # fmt: skip
ADJECTIVES = (
    "Sturdy", "Compact", "Deluxe", "Rustic", "Nordic", "Classic", "Modern", "Foldable",
    "Quiet", "Bright", "Smart", "Vintage", "Heavy-duty", "Slim", "Cordless", "Woven",
)  # fmt: skip
MATERIALS = (
    "oak", "steel", "bamboo", "linen", "ceramic", "glass", "cotton", "walnut", "copper",
    "recycled plastic", "wool", "aluminium", "stone", "leather",
)  # fmt: skip
NOUNS = (
    "lamp", "desk", "chair", "kettle", "shelf", "basket", "mug", "blanket", "planter", "stool",
    "clock", "speaker", "backpack", "tray", "bench", "mirror", "rack", "jar", "cutting board",
    "toolbox", "lantern", "rug", "vase", "bowl",
)  # fmt: skip
FIRST_NAMES = (
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Lars", "Maya", "Noor", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Victor",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jansen", "Kowalski", "Lopez", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Silva",
)  # fmt: skip
CITIES = ("Lisbon", "Oslo", "Lyon", "Porto", "Gdansk", "Turin", "Leeds", "Ghent", "Brno", "Cork")


@dataclass(frozen=True)
class ShopSize:
    """How much data the generated shop holds."""

    products: int = 3000
    customers: int = 400
    orders: int = 1500
    categories_per_department: int = 16  # 15 departments: 15 + 15 * 16 = 255 categories


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(f"{rng.uniform(low, high):.2f}")


def _product_name(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(NOUNS)}"


def categories(size: ShopSize) -> Iterator[tuple[int, int | None, str, str]]:
    """(id, parent_id, name, slug): departments, then their subcategories."""
    for d, department in enumerate(DEPARTMENTS, start=1):
        yield d, None, department, department.lower()
    next_id = len(DEPARTMENTS) + 1
    for d, department in enumerate(DEPARTMENTS, start=1):
        for sub in SUBCATEGORIES[: size.categories_per_department]:
            slug = f"{department}-{sub}".lower().replace(" ", "-")
            yield next_id, d, f"{department} / {sub}", slug
            next_id += 1


def leaf_category_ids(size: ShopSize) -> list[int]:
    return [c[0] for c in categories(size) if c[1] is not None]


def products(size: ShopSize, rng: random.Random) -> Iterator[tuple[object, ...]]:
    """(id, sku, name, description, category_id, price, weight_g, active, created, updated)."""
    leaves = leaf_category_ids(size)
    for pid in range(1, size.products + 1):
        name = _product_name(rng)
        created = EPOCH + dt.timedelta(minutes=pid * 7)
        description = f"{name}. Made of {rng.choice(MATERIALS)}; ships in {rng.randint(1, 9)} days."
        yield (
            pid, f"SKU-{pid:06d}", name, description, rng.choice(leaves),
            _money(rng, 2, 400), rng.randint(50, 20_000), rng.random() > 0.08, created, created,
        )  # fmt: skip


def customers(size: ShopSize, rng: random.Random) -> Iterator[tuple[object, ...]]:
    for cid in range(1, size.customers + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{cid}@example.com".lower()
        yield cid, email, f"{first} {last}", rng.choice(CITIES), EPOCH + dt.timedelta(hours=cid)


def _scalar(conn: psycopg.Connection, query: str) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def _copy(
    conn: psycopg.Connection, table: str, columns: str, rows: Iterator[Sequence[object]]
) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _orders(conn: psycopg.Connection, size: ShopSize, rng: random.Random) -> None:
    prices: dict[int, Decimal] = dict(conn.execute("SELECT id, price FROM products").fetchall())
    ids = sorted(prices)
    orders, items = [], []
    for oid in range(1, size.orders + 1):
        lines = [(rng.choice(ids), rng.randint(1, 4)) for _ in range(rng.randint(1, 3))]
        total = sum((prices[p] * q for p, q in lines), Decimal(0))
        placed = EPOCH + dt.timedelta(hours=oid * 3)
        orders.append((oid, rng.randint(1, size.customers), "delivered", total, placed))
        items += [(oid, n, p, q, prices[p]) for n, (p, q) in enumerate(lines, start=1)]
    _copy(conn, "orders", "id, customer_id, status, total, placed_at", iter(orders))
    _copy(conn, "order_items", "order_id, line_no, product_id, quantity, unit_price", iter(items))
    conn.execute("SELECT setval('orders_id_seq', %s)", [size.orders])


def load(dsn: str, size: ShopSize = ShopSize(), seed: int = 42) -> dict[str, int]:
    """Create the shop's tables in an empty database and fill them; row counts per table."""
    rng = random.Random(seed)
    with psycopg.connect(dsn) as conn:
        conn.execute(SCHEMA.read_text())  # a trusted, static script
        _copy(conn, "categories", "id, parent_id, name, slug", categories(size))
        product_cols = (
            "id, sku, name, description, category_id, price, weight_g, active, "
            "created_at, updated_at"
        )
        _copy(conn, "products", product_cols, products(size, rng))
        conn.execute("SELECT setval('products_id_seq', %s)", [size.products])
        stock = (
            (pid, w, rng.randint(0, 500), 0, EPOCH)
            for pid in range(1, size.products + 1)
            for w in WAREHOUSES
        )
        _copy(conn, "inventory", "product_id, warehouse, on_hand, reserved, updated_at", stock)
        _copy(conn, "customers", "id, email, full_name, city, created_at", customers(size, rng))
        _orders(conn, size, rng)
        tables = ("categories", "products", "inventory", "customers", "orders", "order_items")
        counts = {t: _scalar(conn, f"SELECT count(*) FROM {t}") for t in tables}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return counts


class Churn:
    """The monolith's users at work: one change per call of ``step()``, each a transaction.

    ``orders_enabled`` is switched off at the cutover: from then on the orders service, not the
    monolith, takes orders (the single-writer principle)."""

    KINDS: tuple[tuple[str, int], ...] = (
        ("price_change", 35), ("stock_move", 25), ("order", 15), ("new_product", 10),
        ("off_sale", 5), ("back_on_sale", 4), ("discontinue", 6),
    )  # fmt: skip

    def __init__(self, dsn: str, seed: int = 7, customers: int = ShopSize.customers) -> None:
        self.conn = psycopg.connect(dsn, autocommit=True)
        self.rng = random.Random(seed)
        self.customers = customers
        self.orders_enabled = True
        self.counts: Counter[str] = Counter()
        self._leaves = [
            r[0] for r in self.conn.execute("SELECT id FROM categories WHERE parent_id IS NOT NULL")
        ]
        self._ops: dict[str, Callable[[], None]] = {
            "price_change": self.price_change, "stock_move": self.stock_move,
            "order": self.order, "new_product": self.new_product, "off_sale": self.off_sale,
            "back_on_sale": self.back_on_sale, "discontinue": self.discontinue,
        }  # fmt: skip

    def close(self) -> None:
        self.conn.close()

    def _max_product(self) -> int:
        return _scalar(self.conn, "SELECT max(id) FROM products")

    def _some_product(self, where: str = "true") -> int | None:
        """A product near a random id that satisfies ``where`` (a fixed SQL condition)."""
        pivot = self.rng.randint(1, self._max_product())
        row = self.conn.execute(
            f"SELECT id FROM products WHERE id >= %s AND {where} ORDER BY id LIMIT 1",
            [pivot],
        ).fetchone()
        return None if row is None else int(row[0])

    def step(self) -> str:
        kinds = [k for k, _ in self.KINDS if self.orders_enabled or k != "order"]
        weights = [w for k, w in self.KINDS if k in kinds]
        kind = self.rng.choices(kinds, weights)[0]
        self._ops[kind]()
        self.counts[kind] += 1
        return kind

    def price_change(self) -> None:
        pid = self._some_product()
        factor = Decimal(self.rng.choice(("0.90", "0.95", "1.05", "1.10", "1.15")))
        self.conn.execute(
            "UPDATE products SET price = greatest(round(price * %s, 2), 0.50), "
            "updated_at = now() WHERE id = %s",
            [factor, pid],
        )

    def stock_move(self) -> None:
        pid, src, dst = self._some_product(), *self.rng.sample(WAREHOUSES, 2)
        qty = self.rng.randint(1, 20)
        with self.conn.transaction():
            moved = self.conn.execute(
                "UPDATE inventory SET on_hand = on_hand - %s, updated_at = now() "
                "WHERE product_id = %s AND warehouse = %s AND on_hand >= %s",
                [qty, pid, src, qty],
            ).rowcount
            if moved:
                self.conn.execute(
                    "UPDATE inventory SET on_hand = on_hand + %s, updated_at = now() "
                    "WHERE product_id = %s AND warehouse = %s",
                    [qty, pid, dst],
                )

    def order(self) -> None:
        pid, qty = self._some_product("active"), self.rng.randint(1, 3)
        if pid is None:
            return
        with self.conn.transaction():
            price = self.conn.execute("SELECT price FROM products WHERE id = %s", [pid]).fetchone()
            assert price is not None
            oid = self.conn.execute(
                "INSERT INTO orders (customer_id, total) VALUES (%s, %s) RETURNING id",
                [self.rng.randint(1, self.customers), price[0] * qty],
            ).fetchone()
            assert oid is not None
            self.conn.execute(
                "INSERT INTO order_items VALUES (%s, 1, %s, %s, %s)", [oid[0], pid, qty, price[0]]
            )
            self.conn.execute(
                "UPDATE inventory SET on_hand = greatest(on_hand - %s, 0), updated_at = now() "
                "WHERE product_id = %s AND warehouse = %s",
                [qty, pid, self.rng.choice(WAREHOUSES)],
            )

    def new_product(self) -> None:
        with self.conn.transaction():
            row = self.conn.execute("SELECT nextval('products_id_seq')").fetchone()
            assert row is not None
            pid = int(row[0])
            self.conn.execute(
                "INSERT INTO products (id, sku, name, description, category_id, price, weight_g) "
                "VALUES (%s, %s, %s, 'New this season.', %s, %s, %s)",
                [pid, f"SKU-{pid:06d}", _product_name(self.rng), self.rng.choice(self._leaves),
                 _money(self.rng, 2, 400), self.rng.randint(50, 20_000)],
            )  # fmt: skip
            for warehouse in WAREHOUSES:
                self.conn.execute(
                    "INSERT INTO inventory (product_id, warehouse, on_hand) VALUES (%s, %s, %s)",
                    [pid, warehouse, self.rng.randint(0, 100)],
                )

    def off_sale(self) -> None:
        pid = self._some_product("active")
        self.conn.execute(
            "UPDATE products SET active = false, updated_at = now() WHERE id = %s", [pid]
        )

    def back_on_sale(self) -> None:
        pid = self._some_product("NOT active")
        self.conn.execute(
            "UPDATE products SET active = true, updated_at = now() WHERE id = %s", [pid]
        )

    def discontinue(self) -> None:
        """Delete a product nobody ever ordered (its stock rows go with it: ON DELETE CASCADE)."""
        where = "NOT EXISTS (SELECT 1 FROM order_items i WHERE i.product_id = products.id)"
        pid = self._some_product(where)
        if pid is not None:
            self.conn.execute("DELETE FROM products WHERE id = %s", [pid])

    def run(self, rate: float, stop: threading.Event, seconds: float | None = None) -> None:
        """``rate`` changes per second until ``stop`` is set (or ``seconds`` have passed)."""
        start = time.monotonic()
        done = 0
        while not stop.is_set():
            elapsed = time.monotonic() - start
            if seconds is not None and elapsed >= seconds:
                return
            if done < elapsed * rate:
                self.step()
                done += 1
            else:
                stop.wait(min(0.05, (done + 1) / rate - elapsed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    load_p = sub.add_parser("load", help="create and fill the shop's tables in an empty database")
    load_p.add_argument("dsn")
    load_p.add_argument("--products", type=int, default=ShopSize.products)
    load_p.add_argument("--seed", type=int, default=42)
    churn_p = sub.add_parser("churn", help="keep changing the shop")
    churn_p.add_argument("dsn")
    churn_p.add_argument("--rate", type=float, default=50.0, help="changes per second")
    churn_p.add_argument("--seconds", type=float, default=None, help="stop after (default: ^C)")
    churn_p.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.command == "load":
        counts = load(args.dsn, ShopSize(products=args.products), args.seed)
        print(", ".join(f"{n} {t}" for t, n in counts.items()))
        return
    churn = Churn(args.dsn, args.seed)
    try:
        churn.run(args.rate, threading.Event(), args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        churn.close()
        print(", ".join(f"{n} {k}" for k, n in sorted(churn.counts.items())))


if __name__ == "__main__":
    main()
