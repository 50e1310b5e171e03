"""The "typical" 20-line Template Mapper mapping used by the benchmark.

It reads the event, the order, the customer, the shipping address and the
order lines (one output element per line), with one computed value (an
expression) and a few defaults - what a merchant's mapping usually looks
like. It renders on every event document (``shipment`` is not used, so
order.received documents work as well as the order_shipped sample).
"""

# (output path, source, default, value type)
TYPICAL_MAPPING = [
    ("event_id", "event.id", None, "string"),
    ("event_type", "event.type", None, "string"),
    ("occurred_at", "event.occurred_at", None, "string"),
    ("order.number", "order.reference", None, "string"),
    ("order.customer_po", "order.client_reference", "", "string"),
    ("order.status", "order.state", None, "string"),
    ("order.date", "order.date_order", None, "string"),
    ("order.currency", "order.currency", None, "string"),
    ("order.total", "order.amount_total", None, "number"),
    ("order.tax", "order.amount_tax", None, "number"),
    ("order.total_cents", "order.amount_total * 100", None, "integer"),
    ("customer.id", "customer.id", None, "integer"),
    ("customer.name", "customer.name", None, "string"),
    ("customer.email", "customer.email", "", "string"),
    ("ship_to.city", "order.shipping_address.city", "", "string"),
    ("ship_to.country", "order.shipping_address.country_code", "", "string"),
    ("items[].sku", "order.lines[].sku", "", "string"),
    ("items[].name", "order.lines[].product", None, "string"),
    ("items[].quantity", "order.lines[].qty_ordered", None, "number"),
    ("items[].line_total", "order.lines[].total", None, "number"),
]
