"""Odoo-side measurements of the benchmark, run in a child process.

    python bench/bench_actions.py --db DB ACTION 'JSON spec'

Adds to the e2e actions (tests/e2e/odoo_actions.py: scenario, orders,
confirm, deactivate):

* ``enqueue_overhead``: median time of ``order.action_confirm()`` for orders
  of a customer with one matching active trigger vs a customer without
  any trigger (same order shape), and with ``condition`` a customer whose
  same trigger has a condition (amount + tag + sales team) its orders match,
  interleaved, each confirmation in its own transaction that is rolled back;
* ``claim_timing``: median time of ``_claim_due_batch(200)`` (each claim
  rolled back) and the EXPLAIN ANALYZE of the claim query under the claim's
  own planner settings (``CLAIM_SETTINGS``);
* ``webhook_compare`` (step 9): median committed ``action_confirm`` of
  orders with Odoo's own base_automation rule "Send Webhook Notification"
  (sale.order, state set to 'sale') vs orders of a customer with our
  trigger to the same receiver vs neither, interleaved;
* ``enqueue_scaling`` (step 10a/10b): the enqueue cost (time and SQL
  queries inside ``postback.event._record`` + its flush) per confirmation
  for orders of N lines, or for a customer with N matching triggers; each
  confirmation rolled back;
* ``endpoint_scenario`` (step 10c): one customer with one trigger per URL
  (distinct endpoints, one shared template) and a queue of ``total``
  deliveries spread evenly over them.
"""

import os
import re
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import odoo_actions  # noqa: E402
import odoo_boot  # noqa: E402
from mapping import TYPICAL_MAPPING  # noqa: E402


def _enqueue_condition(env, spec):
    """The realistic condition of step 2d (amount + tag + sales team), and the tag and team its orders carry."""
    # found again on a --reuse-db run (tag names are unique)
    team = env["crm.team"].search([("name", "=", "Bench Europe")], limit=1) or env["crm.team"].create(
        {"name": "Bench Europe"})
    tag = env["crm.tag"].search([("name", "=", "Bench VIP")], limit=1) or env["crm.tag"].create({"name": "Bench VIP"})
    condition = '[("amount_total", ">", %s), ("tag_ids", "in", [%d]), ("team_id", "=", %d)]' % (
        spec.get("condition_amount", 20), tag.id, team.id)
    return condition, {"team_id": team.id, "tag_ids": [(6, 0, tag.ids)]}


def action_enqueue_overhead(odoo, registry, spec):
    """Median ``action_confirm`` of orders of a customer with one trigger ("with"), without any
    trigger ("without") and, with ``spec["condition"]``, with the same trigger carrying a condition
    that the orders match ("condition": a delivery per confirmation, as for "with"). Every order has
    the same shape (lines, tag, sales team), the kinds interleave in a rotating order."""
    n, warmup = spec.get("n", 40), spec.get("warmup", 5)
    total = n + warmup
    kinds = ["with", "without"] + (["condition"] if spec.get("condition") else [])
    with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
        condition, shape = _enqueue_condition(env, spec)
        partners = {
            "with": odoo_actions.make_customer(env, {"customer": "Bench Enqueue With Trigger"}),
            "without": odoo_actions.make_customer(env, {"customer": "Bench Enqueue Without Trigger"}),
            "condition": odoo_actions.make_customer(env, {"customer": "Bench Enqueue With Condition"}),
        }
        triggers = env["postback.trigger"]
        for kind in ("with", "condition"):
            triggers |= odoo_actions.make_trigger(
                env, partners[kind], {"url": spec["url"], "template_lines": TYPICAL_MAPPING})
        triggers[1].condition_domain = condition
        products = odoo_actions._products(env, 5)
        lines = spec.get("lines_per_order", 5)
        order_ids = {
            kind: env["sale.order"].create(
                [dict(odoo_actions._order_vals(env, partners[kind], lines, products), **shape) for _ in range(total)]
            ).ids
            for kind in kinds
        }
        trigger_ids = triggers.ids

    timings = {kind: [] for kind in kinds}
    record_timings = {kind: [] for kind in kinds}
    queries = {kind: [] for kind in kinds}
    queued = {kind: [] for kind in kinds}
    # Also time the enqueue itself (postback.event._record + the flush of what it
    # created): a much less noisy estimate of the overhead than the difference of
    # two ~200 ms medians on a shared machine.
    event_class = registry["postback.event"]
    original_record = event_class._record
    current = {}

    def timed_record(self, entries, origin="auto"):
        started = time.perf_counter()
        result = original_record(self, entries, origin)
        self.env.flush_all()
        current["record"] = current.get("record", 0.0) + time.perf_counter() - started
        return result

    def confirm(order_id, key, record):
        with odoo_boot.environment(odoo, registry) as env:
            order = env["sale.order"].browse(order_id)
            order.name  # noqa: B018 - load the record outside the measure
            current.clear()
            event_class._record = timed_record
            try:
                queries_before = env.cr.sql_log_count
                started = time.perf_counter()
                order.action_confirm()
                env.flush_all()
                elapsed = time.perf_counter() - started
                query_count = env.cr.sql_log_count - queries_before
            finally:
                event_class._record = original_record
            env.cr.execute("SELECT count(*) FROM postback_delivery WHERE order_id = %s", [order_id])
            queued[key].append(env.cr.fetchone()[0])
            env.cr.rollback()
        if record:
            timings[key].append(elapsed)
            record_timings[key].append(current.get("record", 0.0))
            queries[key].append(query_count)

    for index in range(total):
        record = index >= warmup
        # rotate which kind goes first so none always runs on a warmer cache
        shift = index % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            confirm(order_ids[kind][index], kind, record)

    with odoo_boot.environment(odoo, registry) as env:
        env["postback.trigger"].browse(trigger_ids).write({"state": "disabled", "active": False})
    median = {kind: statistics.median(timings[kind]) for kind in kinds}
    record_median = {kind: statistics.median(record_timings[kind]) for kind in kinds}
    result = {
        "n": n,
        "lines_per_order": lines,
        "median_with_ms": median["with"] * 1000,
        "median_without_ms": median["without"] * 1000,
        "mean_with_ms": statistics.mean(timings["with"]) * 1000,
        "mean_without_ms": statistics.mean(timings["without"]) * 1000,
        "overhead_pct": (median["with"] / median["without"] - 1) * 100,
        "deliveries_per_confirmation": sorted(set(queued["with"])),
        "record_with_ms": record_median["with"] * 1000,
        "record_without_ms": record_median["without"] * 1000,
        "extra_queries": statistics.median(queries["with"]) - statistics.median(queries["without"]),
    }
    if "condition" in kinds:
        result.update({
            "condition": condition,
            "median_condition_ms": median["condition"] * 1000,
            "mean_condition_ms": statistics.mean(timings["condition"]) * 1000,
            # over the same trigger without a condition, in the same run
            "condition_overhead_pct": (median["condition"] / median["with"] - 1) * 100,
            # the same, pair by pair (both confirmed one right after the other): the machine's drift cancels
            "condition_paired_pct": statistics.median(
                (c / w - 1) * 100 for c, w in zip(timings["condition"], timings["with"], strict=True)),
            # and the whole enqueue overhead with a condition set (vs the customer without any trigger)
            "condition_vs_without_pct": (median["condition"] / median["without"] - 1) * 100,
            "condition_deliveries_per_confirmation": sorted(set(queued["condition"])),
            "record_condition_ms": record_median["condition"] * 1000,
            "condition_extra_queries": statistics.median(queries["condition"]) - statistics.median(queries["with"]),
        })
    return result


def action_claim_timing(odoo, registry, spec):
    runs, limit = spec.get("runs", 20), spec.get("limit", 200)
    from odoo.addons.postback_connector.models.postback_delivery_runner import CLAIM_SETTINGS  # noqa: PLC0415
    from odoo.tools import SQL  # noqa: PLC0415

    timings, sizes = [], []
    for _ in range(runs + 2):
        with odoo_boot.environment(odoo, registry) as env:
            delivery = env["postback.delivery"]
            env.cr.execute("SELECT 1")  # the transaction (and its snapshot) starts before the measure
            started = time.perf_counter()
            batch = delivery._claim_due_batch(limit)
            timings.append(time.perf_counter() - started)
            sizes.append(len(batch))
            env.cr.rollback()
    timings = timings[2:]  # the first claims warm the caches
    with odoo_boot.environment(odoo, registry) as env:
        query = env["postback.delivery"]._due_query(True, SQL("d.id"), limit=limit, lock=True)
        env.cr.execute(CLAIM_SETTINGS)  # the plan the claim really gets
        env.cr.execute(SQL("EXPLAIN (ANALYZE, BUFFERS) %s", query))
        plan = "\n".join(row[0] for row in env.cr.fetchall())
        env.cr.rollback()
        env.cr.execute("SELECT count(*), count(*) FILTER (WHERE state = 'pending') FROM postback_delivery")
        total_rows, pending_rows = env.cr.fetchone()
    jit = re.search(r"JIT:.*?Total ([\d.]+) ms", plan, re.S)
    return {
        "median_ms": statistics.median(timings) * 1000,
        "jit_ms": float(jit.group(1)) if jit else 0.0,
        "p90_ms": sorted(timings)[int(0.9 * (len(timings) - 1))] * 1000,
        "min_ms": min(timings) * 1000,
        "batch_sizes": sorted(set(sizes)),
        "rows": total_rows,
        "pending": pending_rows,
        "plan": plan,
        "uses_due_index": "postback_delivery_due_idx" in plan,
    }


# -- step 9: Odoo's own webhook vs our trigger ------------------------------------------------------------------


@contextmanager
def _wrapped(cls, name, probe):
    """Temporarily replace ``cls.name`` by ``probe(original)`` (a measuring wrapper)."""
    original = getattr(cls, name)
    setattr(cls, name, probe(original))
    try:
        yield
    finally:
        setattr(cls, name, original)


def action_webhook_compare(odoo, registry, spec):
    n, warmup = spec.get("n", 20), spec.get("warmup", 3)
    lines = spec.get("lines_per_order", 5)
    total = n + warmup
    kinds = ("odoo", "ours", "neither")
    with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
        partners = {
            "odoo": odoo_actions.make_customer(env, {"customer": "Bench Webhook Odoo base_automation"}),
            "ours": odoo_actions.make_customer(env, {"customer": "Bench Webhook Ours"}),
            "neither": odoo_actions.make_customer(env, {"customer": "Bench Webhook Neither"}),
        }
        trigger = odoo_actions.make_trigger(
            env, partners["ours"], {"url": spec["our_url"], "template_lines": TYPICAL_MAPPING}
        )
        products = odoo_actions._products(env, 5)
        orders = {
            kind: env["sale.order"]
            .create([odoo_actions._order_vals(env, partners[kind], lines, products) for _ in range(total)])
            .ids
            for kind in kinds
        }
        trigger_id = trigger.id
    # Odoo's rule, as the UI builds it: Automation Rules > on sale.order, trigger "State is set to"
    # Sales Order, action "Send Webhook Notification". Restricted to one customer so the other
    # orders of the run go through base_automation's write hook without matching.
    with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
        model = env["ir.model"]._get("sale.order")
        state_field = env["ir.model.fields"]._get("sale.order", "state")
        sale_value = env["ir.model.fields.selection"].search(
            [("field_id", "=", state_field.id), ("value", "=", "sale")], limit=1
        )
        payload_fields = env["ir.model.fields"].search(
            [
                ("model", "=", "sale.order"),
                ("name", "in", ["name", "state", "partner_id", "amount_total", "client_order_ref", "date_order"]),
            ]
        )
        domain = repr([("state", "=", "sale"), ("partner_id", "=", partners["odoo"].id)])
        rule = env["base.automation"].create(
            {
                "name": "Bench: Odoo webhook on order confirmation",
                "model_id": model.id,
                "trigger": "on_state_set",
                "trg_selection_field_id": sale_value.id,
                "trigger_field_ids": [(6, 0, [state_field.id])],
                "filter_domain": domain,
            }
        )
        action = env["ir.actions.server"].create(
            {
                "name": "Bench: Send Webhook Notification",
                "base_automation_id": rule.id,
                "model_id": model.id,
                "usage": "base_automation",
                "state": "webhook",
                "webhook_url": spec["odoo_url"],
                "webhook_field_ids": [(6, 0, payload_fields.ids)],
            }
        )
        rule.write({"action_server_ids": [(6, 0, [action.id])]})  # as Odoo's own tests do
        if rule.filter_domain != domain:
            rule.filter_domain = domain
        rule_info = {
            "trigger": rule.trigger,
            "filter_domain": rule.filter_domain,
            "trigger_fields": rule.trigger_field_ids.mapped("name"),
            "action_state": action.state,
            "webhook_fields": sorted(payload_fields.mapped("name")),
        }
        rule_id = rule.id

    timings = {kind: [] for kind in kinds}
    webhook_time = {kind: [] for kind in kinds}
    queued = []
    current = {}

    def probe(original):
        def _run_action_webhook(self, eval_context=None):
            started = time.perf_counter()
            try:
                return original(self, eval_context=eval_context)
            finally:
                current["webhook"] = current.get("webhook", 0.0) + time.perf_counter() - started
                current["webhook_calls"] = current.get("webhook_calls", 0) + 1

        return _run_action_webhook

    calls = 0
    with _wrapped(registry["ir.actions.server"], "_run_action_webhook", probe):
        for index in range(total):
            shift = index % len(kinds)
            for kind in kinds[shift:] + kinds[:shift]:  # rotate who goes first
                with odoo_boot.environment(odoo, registry) as env:
                    order = env["sale.order"].browse(orders[kind][index])
                    order.name  # noqa: B018 - load the record outside the measure
                    current.clear()
                    started = time.perf_counter()
                    order.action_confirm()
                    env.flush_all()
                    env.cr.commit()  # committed, post-commit hooks included
                    elapsed = time.perf_counter() - started
                    calls += current.get("webhook_calls", 0)
                    if kind == "ours":
                        env.cr.execute("SELECT count(*) FROM postback_delivery WHERE order_id = %s", [order.id])
                        queued.append(env.cr.fetchone()[0])
                if index >= warmup:
                    timings[kind].append(elapsed)
                    webhook_time[kind].append(current.get("webhook", 0.0))

    with odoo_boot.environment(odoo, registry) as env:
        env["base.automation"].browse(rule_id).write({"active": False})  # unpatches sale.order
        env["postback.trigger"].browse(trigger_id).write({"state": "disabled", "active": False})
        env.cr.execute(
            "UPDATE postback_delivery SET state = 'cancelled' WHERE trigger_id = %s AND state = 'pending'",
            [trigger_id],
        )
    return {
        "n": n,
        "warmup": warmup,
        "lines_per_order": lines,
        "median_ms": {kind: statistics.median(v) * 1000 for kind, v in timings.items()},
        "mean_ms": {kind: statistics.mean(v) * 1000 for kind, v in timings.items()},
        "min_ms": {kind: min(v) * 1000 for kind, v in timings.items()},
        "max_ms": {kind: max(v) * 1000 for kind, v in timings.items()},
        "webhook_call_median_ms": {kind: statistics.median(v) * 1000 for kind, v in webhook_time.items()},
        "webhook_calls": calls,
        "confirmations_per_kind": total,
        "deliveries_per_confirmation": sorted(set(queued)),
        "rule": rule_info,
    }


# -- step 10: scaling -------------------------------------------------------------------------------------------


def _template(env, partner):
    return odoo_actions.make_template(env, partner, TYPICAL_MAPPING)


def _triggers(env, partner, urls, timeout=10.0):
    """One active trigger per URL for ``partner`` (order.received), sharing one template."""
    received = env["postback.event.type"].search([("code", "=", "order.received")])
    template = _template(env, partner)
    triggers = env["postback.trigger"].create(
        [
            {
                "name": "%s hook %s" % (partner.name, index),
                "partner_id": partner.id,
                "event_type_ids": [(6, 0, received.ids)],
                "template_id": template.id,
                "url": url,
                "timeout": timeout,
            }
            for index, url in enumerate(urls)
        ]
    )
    triggers._activate()
    return triggers


def action_enqueue_scaling(odoo, registry, spec):
    """Per point: interleaved confirmations (rolled back) of a customer with triggers and of one without."""
    mode = spec["mode"]  # "lines": orders of N lines, 1 trigger; "triggers": N matching triggers, 5 lines
    points = spec["points"]
    reps = {int(k): v for k, v in spec["reps"].items()}
    warmup = spec.get("warmup", 1)  # an int, or {point: int}
    warmups = {int(k): v for k, v in warmup.items()} if isinstance(warmup, dict) else dict.fromkeys(points, warmup)
    lines_default = spec.get("lines_per_order", 5)
    only_with = set(spec.get("only_with", []))  # points measured with trigger only (slow confirmations)
    setup_started = time.monotonic()
    plan = {}  # point -> (trigger ids, [(with order, without order)])
    with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
        products = odoo_actions._products(env, 5)
        without = odoo_actions.make_customer(env, {"customer": f"Bench Scaling {mode} without trigger"})
        shared = None
        for point in points:
            lines = point if mode == "lines" else lines_default
            n_triggers = point if mode == "triggers" else 1
            if mode == "lines" and shared is not None:
                partner, triggers = shared
            else:
                partner = odoo_actions.make_customer(env, {"customer": f"Bench Scaling {mode} {point}"})
                triggers = _triggers(env, partner, [spec["url"]] * n_triggers)
                if mode == "lines":
                    shared = (partner, triggers)
            count = reps[point] + warmups[point]
            with_orders = env["sale.order"].create(
                [odoo_actions._order_vals(env, partner, lines, products) for _ in range(count)]
            )
            if point in only_with:
                without_ids = [None] * count
            else:
                without_ids = (
                    env["sale.order"]
                    .create([odoo_actions._order_vals(env, without, lines, products) for _ in range(count)])
                    .ids
                )
            plan[point] = (triggers.ids, list(zip(with_orders.ids, without_ids, strict=True)))
    setup_seconds = time.monotonic() - setup_started

    event_class = registry["postback.event"]
    current = {}

    def probe(original):
        def _record(self, entries, origin="auto"):
            self.env.flush_all()  # what the confirmation wrote so far is not the enqueue's cost
            queries_before = self.env.cr.sql_log_count
            started = time.perf_counter()
            result = original(self, entries, origin)
            self.env.flush_all()
            current["record"] = current.get("record", 0.0) + time.perf_counter() - started
            current["record_queries"] = current.get("record_queries", 0) + self.env.cr.sql_log_count - queries_before
            return result

        return _record

    def confirm(order_id):
        with odoo_boot.environment(odoo, registry) as env:
            order = env["sale.order"].browse(order_id)
            order.name  # noqa: B018 - load the record outside the measure
            current.clear()
            queries_before = env.cr.sql_log_count
            started = time.perf_counter()
            order.action_confirm()
            env.flush_all()
            elapsed = time.perf_counter() - started
            queries = env.cr.sql_log_count - queries_before
            env.cr.execute("SELECT count(*) FROM postback_delivery WHERE order_id = %s", [order_id])
            deliveries = env.cr.fetchone()[0]
            env.cr.rollback()
        return {
            "confirm": elapsed,
            "queries": queries,
            "record": current.get("record", 0.0),
            "record_queries": current.get("record_queries", 0),
            "deliveries": deliveries,
        }

    results = {}
    with _wrapped(event_class, "_record", probe):
        for point in points:
            _trigger_ids, pairs = plan[point]
            samples = {"with": [], "without": []}
            point_started = time.monotonic()
            for index, (order_a, order_b) in enumerate(pairs):
                order = [("with", order_a), ("without", order_b)]
                for key, order_id in order if index % 2 == 0 else order[::-1]:
                    if order_id is None:
                        continue
                    sample = confirm(order_id)
                    if index >= warmups[point]:
                        samples[key].append(sample)

            def med(key, field, samples=samples):
                values = [s[field] for s in samples[key]]
                return statistics.median(values) if values else None

            results[str(point)] = {
                "n": len(samples["with"]),
                "record_ms": med("with", "record") * 1000,
                "record_queries": med("with", "record_queries"),
                "record_without_ms": ms(med("without", "record")),
                "record_without_queries": med("without", "record_queries"),
                "confirm_ms": med("with", "confirm") * 1000,
                "confirm_without_ms": ms(med("without", "confirm")),
                "extra_queries": None if point in only_with else med("with", "queries") - med("without", "queries"),
                "deliveries_per_confirmation": sorted({s["deliveries"] for s in samples["with"]}),
                "seconds": round(time.monotonic() - point_started, 1),
            }
    with odoo_boot.environment(odoo, registry) as env:
        all_triggers = [tid for ids, _pairs in plan.values() for tid in ids]
        env["postback.trigger"].browse(all_triggers).write({"state": "disabled", "active": False})
    return {"mode": mode, "points": results, "setup_seconds": round(setup_seconds, 1)}


def ms(seconds):
    return None if seconds is None else seconds * 1000


def action_endpoint_scenario(odoo, registry, spec):
    """``total`` deliveries spread evenly over one trigger per URL of one customer, interleaved."""
    urls = spec["urls"]
    total = spec["total"]
    started = time.monotonic()
    events = max(1, total // len(urls))
    events_per_order = min(spec.get("events_per_order", 10), events)
    n_orders = max(1, events // events_per_order)
    with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
        partner = odoo_actions.make_customer(env, {"customer": spec.get("customer") or "Bench Endpoints"})
        triggers = _triggers(env, partner, urls, timeout=spec.get("timeout", 10.0))
        products = odoo_actions._products(env, 5)
        orders = env["sale.order"].create(
            [odoo_actions._order_vals(env, partner, spec.get("lines_per_order", 3), products) for _ in range(n_orders)]
        )
        trigger_ids, order_ids = triggers.ids, orders.ids
    created = 0
    rounds = [(order_id, n) for n in range(events_per_order) for order_id in order_ids]
    chunk = max(1, 2000 // len(urls))  # about 2,000 deliveries per transaction
    for first in range(0, len(rounds), chunk):
        with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
            part = rounds[first : first + chunk]
            orders = env["sale.order"].browse([order_id for order_id, _n in part])
            entries = [
                {"order": order, "code": "order.received", "dedup_key": "ep-%s" % n}
                for order, (_order_id, n) in zip(orders, part, strict=True)
            ]
            created += len(env["postback.event"]._record(entries, origin="code"))
    with odoo_boot.environment(odoo, registry) as env:
        env.cr.execute(
            "SELECT count(*) FROM postback_delivery WHERE trigger_id = ANY(%s) AND state = 'pending'", [trigger_ids]
        )
        deliveries = env.cr.fetchone()[0]
    return {
        "trigger_ids": trigger_ids,
        "order_ids": order_ids,
        "events": created,
        "deliveries": deliveries,
        "events_per_order": events_per_order,
        "seconds": round(time.monotonic() - started, 2),
    }


ACTIONS = dict(
    odoo_actions.ACTIONS,
    enqueue_overhead=action_enqueue_overhead,
    claim_timing=action_claim_timing,
    webhook_compare=action_webhook_compare,
    enqueue_scaling=action_enqueue_scaling,
    endpoint_scenario=action_endpoint_scenario,
)

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    odoo_actions.main(actions=ACTIONS)
