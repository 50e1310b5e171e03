"""Odoo-side actions of the fault-injection tests, run in a child process (same shape as e2e/odoo_actions.py).

    python fault_actions.py --db DB ACTION 'JSON spec'

Prints one JSON object (the result) as its last stdout line; every action
commits its work before returning.

Actions:

* ``setup``: customers, each with one template and several active triggers
  (one per endpoint: ``{"key", "url", "timeout"}`` or an email trigger
  ``{"key", "channel": "email", "email_to"}``), ``n_orders`` draft orders
  and ``events_per_order`` ``order.received`` events per order recorded
  through the real fan-out (``postback.event._record``), so every event
  queues one delivery per trigger of its customer. Optionally
  ``mail_server_port``: an ``ir.mail_server`` on 127.0.0.1 without
  encryption, first in sequence, for the email triggers. Returns the trigger
  ids by key and the number of deliveries queued per key.
* ``record``: more events (same fan-out) for given orders: ``order_ids``,
  ``events_per_order``, ``prefix`` (keeps the de-duplication keys new).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))

import odoo_actions
import odoo_boot


def _make_triggers(env, partner, customer):
    types = {t.code: t for t in env["postback.event.type"].search([])}
    template = odoo_actions.make_template(env, partner, customer.get("template_lines"))
    triggers = {}
    for item in customer["triggers"]:
        vals = {
            "name": "%s → %s" % (partner.name, item["key"]),
            "partner_id": partner.id,
            "event_type_ids": [(6, 0, [types["order.received"].id])],
            "template_id": template.id,
            "timeout": item.get("timeout", 2.0),
            "retry_on_failure": item.get("retry_on_failure", True),
        }
        if item.get("channel") == "email":
            vals.update(channel="email", url=False, email_to=item["email_to"])
        else:
            vals.update(channel="url", url=item["url"])
        trigger = env["postback.trigger"].create(vals)
        trigger._activate()
        triggers[item["key"]] = trigger
    return triggers


def _record_events(odoo, registry, order_ids, rounds, prefix):
    """``rounds`` events per order, round-major (the oldest event of every order first)."""
    created = 0
    with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
        entries = [
            {"order": env["sale.order"].browse(order_id), "code": "order.received", "dedup_key": f"{prefix}-{n}"}
            for n in range(rounds)
            for order_id in order_ids
        ]
        created = len(env["postback.event"]._record(entries, origin="code"))
    return created


def _count_deliveries(odoo, registry, triggers_by_key):
    with odoo_boot.environment(odoo, registry) as env:
        env.cr.execute(
            "SELECT trigger_id, count(*) FROM postback_delivery WHERE trigger_id = ANY(%s) GROUP BY trigger_id",
            [list(triggers_by_key.values())],
        )
        counts = dict(env.cr.fetchall())
    return {key: counts.get(trigger_id, 0) for key, trigger_id in triggers_by_key.items()}


def action_setup(odoo, registry, spec):
    triggers_by_key, orders_by_customer = {}, {}
    with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
        if spec.get("mail_server_port"):
            env["ir.mail_server"].create(
                {
                    "name": "Faults SMTP %s" % spec["mail_server_port"],
                    "smtp_host": "127.0.0.1",
                    "smtp_port": spec["mail_server_port"],
                    "smtp_encryption": "none",
                    "sequence": 1,
                }
            )
        products = odoo_actions._products(env, 5)
        for customer in spec["customers"]:
            partner = odoo_actions.make_customer(env, customer)
            triggers = _make_triggers(env, partner, customer)
            duplicated = set(triggers) & set(triggers_by_key)
            if duplicated:
                raise ValueError("trigger keys must be unique: %s" % sorted(duplicated))
            triggers_by_key.update({key: trigger.id for key, trigger in triggers.items()})
            orders = env["sale.order"].create(
                [
                    odoo_actions._order_vals(env, partner, customer.get("lines_per_order", 2), products)
                    for _ in range(customer.get("n_orders", 1))
                ]
            )
            orders_by_customer[customer["customer"]] = orders.ids
    events = 0
    for customer in spec["customers"]:
        events += _record_events(
            odoo, registry, orders_by_customer[customer["customer"]], customer.get("events_per_order", 1), "faults"
        )
    deliveries = _count_deliveries(odoo, registry, triggers_by_key)
    return {
        "triggers": triggers_by_key,
        "orders": orders_by_customer,
        "events": events,
        "deliveries": deliveries,
        "total": sum(deliveries.values()),
    }


def action_record(odoo, registry, spec):
    events = _record_events(odoo, registry, spec["order_ids"], spec.get("events_per_order", 1), spec["prefix"])
    return {"events": events}


ACTIONS = {"setup": action_setup, "record": action_record}


if __name__ == "__main__":
    odoo_actions.main(actions=ACTIONS)
