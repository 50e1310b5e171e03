"""Odoo-side actions of the end-to-end tests, run in a child process.

    python odoo_actions.py --db DB ACTION 'JSON spec'

Prints one JSON object (the result) as its last stdout line. Every action
commits its work before returning.

Actions:

* ``scenario``: a customer, a template, an active trigger to ``url``, and
  a queue of deliveries: ``n_orders`` draft orders of the customer and
  ``events_per_order`` events per order recorded through the real fan-out
  (``postback.event._record``), interleaved so the oldest delivery of every
  order comes first (as a live queue would be).
* ``orders``: create ``count`` draft orders of a partner (committed).
* ``confirm``: confirm given draft orders one by one, each in its own
  committed transaction, ``interval`` seconds apart; returns the commit
  times.
* ``deactivate``: disable triggers (so a later test's runner ignores them).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import odoo_boot

# (output path, source, default, value type)
DEFAULT_MAPPING = [
    ("event_id", "event.id", None, "string"),
    ("status", "event.type", None, "string"),
    ("order_number", "order.reference", None, "string"),
    ("total", "order.amount_total", None, "number"),
    ("items[].sku", "order.lines[].sku", "", "string"),
    ("items[].quantity", "order.lines[].qty_ordered", None, "number"),
]

CONTEXT = {"tracking_disable": True, "mail_notrack": True, "mail_create_nolog": True}


def _order_vals(_env, partner, lines_per_order, products):
    return {
        "partner_id": partner.id,
        "client_order_ref": "PO-E2E",
        "order_line": [
            (0, 0, {"product_id": products[i % len(products)].id, "product_uom_qty": 1 + i % 3, "price_unit": 10 + i})
            for i in range(lines_per_order)
        ],
    }


def _products(env, count):
    products = env["product.product"].search(
        [("sale_ok", "=", True), ("type", "=", "consu"), ("default_code", "!=", False)], limit=count, order="id"
    )
    return products or env["product.product"].search([("sale_ok", "=", True)], limit=count, order="id")


def make_customer(env, spec):
    partner = env["res.partner"].create(
        {
            "name": spec.get("customer") or "E2E Customer",
            "is_company": True,
            "email": "hooks@e2e.example",
            "city": "Milano",
            "country_id": env.ref("base.it").id,
        }
    )
    return partner


def make_template(env, partner, lines=None):
    """A Template Mapper template of ``partner`` for order.received from (output, source, default, type) lines."""
    received = env["postback.event.type"].search([("code", "=", "order.received")])
    return env["postback.template"].create(
        {
            "name": "%s template" % partner.name,
            "partner_id": partner.id,
            "event_type_id": received.id,
            "line_ids": [
                (0, 0, {"sequence": i, "output_path": out, "source": src, "default": default, "value_type": vtype})
                for i, (out, src, default, vtype) in enumerate(lines or DEFAULT_MAPPING)
            ],
        }
    )


def make_trigger(env, partner, spec):
    types = {t.code: t for t in env["postback.event.type"].search([])}
    template = make_template(env, partner, spec.get("template_lines"))
    trigger = env["postback.trigger"].create(
        {
            "name": spec.get("trigger_name") or "%s hook" % partner.name,
            "partner_id": partner.id,
            "event_type_ids": [(6, 0, [types[c].id for c in spec.get("events", ["order.received"])])],
            "template_id": template.id,
            "url": spec["url"],
            "timeout": spec.get("timeout", 10.0),
        }
    )
    if spec.get("rate_limit"):
        trigger.endpoint_id.sudo().rate_limit = spec["rate_limit"]
    trigger._activate()
    return trigger


def action_scenario(odoo, registry, spec):
    """One customer (keys at the top level of ``spec``) or several (``spec["customers"]``).

    With several customers their orders are interleaved, so the queue mixes
    their deliveries the way a live queue would.
    """
    started = time.monotonic()
    customers = spec.get("customers") or [spec]
    results = []
    with odoo_boot.environment(odoo, registry, CONTEXT) as env:
        products = _products(env, 5)
        for item in customers:
            partner = make_customer(env, item)
            trigger = make_trigger(env, partner, item)
            orders = env["sale.order"].create(
                [
                    _order_vals(env, partner, item.get("lines_per_order", 2), products)
                    for _ in range(item.get("n_orders", 0))
                ]
            )
            results.append(
                {
                    "partner_id": partner.id,
                    "trigger_id": trigger.id,
                    "template_id": trigger.template_id.id,
                    "secret": trigger.sudo().secret,
                    "order_ids": orders.ids,
                }
            )
    # Each customer's events are round-major over its orders (the oldest delivery of
    # every order first, as in a live queue); the customers' sequences are then
    # merged evenly, so a customer with 10 % of the events has every 10th delivery.
    default_events = spec.get("events_per_order", 0)
    sequences = []
    for item, result in zip(customers, results, strict=True):
        rounds = item.get("events_per_order", default_events)
        sequences.append([(order_id, n) for n in range(rounds) for order_id in result["order_ids"]])
    merged = sorted(
        ((position + 0.5) / len(seq), index, entry)
        for index, seq in enumerate(sequences)
        for position, entry in enumerate(seq)
    )
    created = 0
    chunk = 2000  # events per transaction keeps memory bounded
    for first in range(0, len(merged), chunk):
        with odoo_boot.environment(odoo, registry, CONTEXT) as env:
            part = merged[first : first + chunk]
            orders = env["sale.order"].browse([entry[0] for _rank, _index, entry in part])
            entries = [
                {"order": order, "code": "order.received", "dedup_key": "e2e-%s" % entry[1]}
                for order, (_rank, _index, entry) in zip(orders, part, strict=True)
            ]
            created += len(env["postback.event"]._record(entries, origin="code"))
    with odoo_boot.environment(odoo, registry) as env:
        for result in results:
            env.cr.execute(
                "SELECT count(*) FROM postback_delivery WHERE trigger_id = %s AND state = 'pending'",
                [result["trigger_id"]],
            )
            result["deliveries"] = env.cr.fetchone()[0]
    summary = dict(results[0]) if len(results) == 1 else {}
    summary.update(customers=results, events=created, seconds=round(time.monotonic() - started, 2))
    return summary


def action_orders(odoo, registry, spec):
    with odoo_boot.environment(odoo, registry, CONTEXT) as env:
        partner = env["res.partner"].browse(spec["partner_id"])
        products = _products(env, 5)
        orders = env["sale.order"].create(
            [_order_vals(env, partner, spec.get("lines_per_order", 5), products) for _ in range(spec["count"])]
        )
        return {"order_ids": orders.ids, "names": orders.mapped("name")}


def action_confirm(odoo, registry, spec):
    done = []
    interval = spec.get("interval", 0.0)
    for order_id in spec["order_ids"]:
        with odoo_boot.environment(odoo, registry) as env:
            order = env["sale.order"].browse(order_id)
            name = order.name
            order.action_confirm()
            env.flush_all()
            commit_start = time.time()
            env.cr.commit()  # runs the post-commit hooks too (the NOTIFY of ir.cron._trigger)
            committed_at = time.time()
        done.append({"order_id": order_id, "name": name, "commit_start": commit_start, "committed_at": committed_at})
        if interval:
            time.sleep(interval)
    return {"confirmed": done}


def action_deactivate(odoo, registry, spec):
    with odoo_boot.environment(odoo, registry, CONTEXT) as env:
        env["postback.trigger"].browse(spec["trigger_ids"]).write({"state": "disabled", "active": False})
    return {"ok": True}


ACTIONS = {
    "scenario": action_scenario,
    "orders": action_orders,
    "confirm": action_confirm,
    "deactivate": action_deactivate,
}


def main(argv=None, actions=ACTIONS):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--log-level", default="warn")
    parser.add_argument("action", choices=sorted(actions))
    parser.add_argument("spec", nargs="?", default="{}")
    args = parser.parse_args(argv)
    odoo, registry = odoo_boot.load_registry(args.db, args.log_level)
    result = actions[args.action](odoo, registry, json.loads(args.spec))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
