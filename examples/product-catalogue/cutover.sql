-- The cutover of order writes, in the monolith. From now on the orders service is the single
-- writer of orders: the monolith's own orders table refuses writes, so any code path that was
-- missed fails loudly instead of writing orders nobody else sees.
CREATE FUNCTION orders_moved_to_orders_service() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'orders are taken by the orders service since the cutover'
        USING HINT = 'place orders through the orders service; read them from all_orders';
END $$;

CREATE TRIGGER orders_single_writer
    BEFORE INSERT OR UPDATE OR DELETE ON orders
    FOR EACH STATEMENT EXECUTE FUNCTION orders_moved_to_orders_service();
