-- The monolith's reports after the cutover: its own (historical) orders and the orders service's,
-- which arrive through the outbox topic into orders_feed.order_events (the shop_order_feed view).
CREATE VIEW all_orders AS
    SELECT id AS order_id, customer_id, total, placed_at, 'monolith' AS origin
    FROM orders
    UNION ALL
    SELECT order_id, customer_id, total, occurred_at, 'orders service'
    FROM orders_feed.order_events
    WHERE event_type = 'order_placed';
