"""Odoo-side measurements of the benchmark, run in a child process.

    python bench/bench_actions.py --db DB ACTION 'JSON spec'

Adds to the e2e actions (tests/e2e/odoo_actions.py: scenario, orders,
confirm, deactivate):

* ``enqueue_overhead``: median time of ``order.action_confirm()`` for orders
  of a customer with one matching active trigger vs a customer without
  any trigger (same order shape), interleaved, each confirmation in its own
  transaction that is rolled back;
* ``claim_timing``: median time of ``_claim_due_batch(200)`` (each claim
  rolled back) and the EXPLAIN ANALYZE of the claim query under the claim's
  own planner settings (``CLAIM_SETTINGS``).
"""

import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import odoo_actions  # noqa: E402
import odoo_boot  # noqa: E402
from mapping import TYPICAL_MAPPING  # noqa: E402


def action_enqueue_overhead(odoo, registry, spec):
    n, warmup = spec.get("n", 40), spec.get("warmup", 5)
    total = n + warmup
    with odoo_boot.environment(odoo, registry, odoo_actions.CONTEXT) as env:
        with_trigger = odoo_actions.make_customer(env, {"customer": "Bench Enqueue With Trigger"})
        trigger = odoo_actions.make_trigger(env, with_trigger, {"url": spec["url"], "template_lines": TYPICAL_MAPPING})
        without = odoo_actions.make_customer(env, {"customer": "Bench Enqueue Without Trigger"})
        products = odoo_actions._products(env, 5)
        lines = spec.get("lines_per_order", 5)
        orders_a = env["sale.order"].create(
            [odoo_actions._order_vals(env, with_trigger, lines, products) for _ in range(total)]
        )
        orders_b = env["sale.order"].create(
            [odoo_actions._order_vals(env, without, lines, products) for _ in range(total)]
        )
        pairs = list(zip(orders_a.ids, orders_b.ids, strict=True))
        trigger_id = trigger.id

    timings = {"with": [], "without": []}
    record_timings = {"with": [], "without": []}
    queries = {"with": [], "without": []}
    queued = []
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
            if key == "with":
                env.cr.execute("SELECT count(*) FROM postback_delivery WHERE order_id = %s", [order_id])
                queued.append(env.cr.fetchone()[0])
            env.cr.rollback()
        if record:
            timings[key].append(elapsed)
            record_timings[key].append(current.get("record", 0.0))
            queries[key].append(query_count)

    for index, (order_a, order_b) in enumerate(pairs):
        record = index >= warmup
        # alternate which one goes first so neither always runs on a warmer cache
        if index % 2:
            confirm(order_b, "without", record)
            confirm(order_a, "with", record)
        else:
            confirm(order_a, "with", record)
            confirm(order_b, "without", record)

    with odoo_boot.environment(odoo, registry) as env:
        env["postback.trigger"].browse(trigger_id).write({"state": "disabled", "active": False})
    median_with = statistics.median(timings["with"])
    median_without = statistics.median(timings["without"])
    return {
        "n": n,
        "lines_per_order": lines,
        "median_with_ms": median_with * 1000,
        "median_without_ms": median_without * 1000,
        "mean_with_ms": statistics.mean(timings["with"]) * 1000,
        "mean_without_ms": statistics.mean(timings["without"]) * 1000,
        "overhead_pct": (median_with / median_without - 1) * 100,
        "deliveries_per_confirmation": sorted(set(queued)),
        "record_with_ms": statistics.median(record_timings["with"]) * 1000,
        "record_without_ms": statistics.median(record_timings["without"]) * 1000,
        "extra_queries": statistics.median(queries["with"]) - statistics.median(queries["without"]),
    }


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


ACTIONS = dict(
    odoo_actions.ACTIONS,
    enqueue_overhead=action_enqueue_overhead,
    claim_timing=action_claim_timing,
)

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    odoo_actions.main(actions=ACTIONS)
