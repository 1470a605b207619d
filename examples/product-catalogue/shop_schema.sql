-- The legacy "shop" monolith: one PostgreSQL database that everything reads and writes.
-- The catalogue (categories, products, inventory) is what the new orders service needs;
-- customers and orders stay in the monolith until the cutover moves order writes out.

CREATE TABLE categories (
    id          integer PRIMARY KEY,
    parent_id   integer REFERENCES categories (id),
    name        text NOT NULL,
    slug        text NOT NULL UNIQUE
);

CREATE TABLE products (
    id          integer PRIMARY KEY,
    sku         text NOT NULL UNIQUE,
    name        text NOT NULL,
    description text NOT NULL,
    category_id integer NOT NULL REFERENCES categories (id),
    price       numeric(10, 2) NOT NULL CHECK (price > 0),
    weight_g    integer NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE SEQUENCE products_id_seq OWNED BY products.id;
ALTER TABLE products ALTER COLUMN id SET DEFAULT nextval('products_id_seq');
CREATE INDEX products_category ON products (category_id);

CREATE TABLE inventory (
    product_id  integer NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    warehouse   text NOT NULL,
    on_hand     integer NOT NULL CHECK (on_hand >= 0),
    reserved    integer NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (product_id, warehouse)
);

CREATE TABLE customers (
    id          integer PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    full_name   text NOT NULL,
    city        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE orders (
    id          bigserial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    status      text NOT NULL DEFAULT 'placed',
    total       numeric(12, 2) NOT NULL,
    placed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE order_items (
    order_id    bigint NOT NULL REFERENCES orders (id),
    line_no     integer NOT NULL,
    product_id  integer NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_items_product ON order_items (product_id);
