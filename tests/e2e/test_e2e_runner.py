"""End to end: real cron runner processes, a real database, a real receiver on 127.0.0.1.

What a merchant's customer would notice: every postback arrives, none is
sent twice by two runners, every signature verifies with the public
Standard Webhooks library, the postbacks of one order arrive in order, and
a runner killed in the middle of a batch loses nothing (a repeat carries
the same webhook-id and body, so the receiver can de-duplicate).
"""

import collections
import json
import signal
import time

import harness
import pytest

WORKER_TIMEOUT = 180


def _verify_all(received, secret):
    webhooks = pytest.importorskip("standardwebhooks.webhooks")
    hook = webhooks.Webhook(secret)
    bad = []
    for item in received:
        try:
            hook.verify(item.body, item.headers)
        except webhooks.WebhookVerificationError as exc:
            bad.append((item.headers.get("webhook-id"), str(exc)))
    assert not bad, f"{len(bad)} postbacks fail signature verification, e.g. {bad[:3]}"


def _deliveries(odoo_setup, db, trigger_id):
    rows = odoo_setup.query(
        db,
        "SELECT webhook_id, id, order_id, state, attempt_count FROM postback_delivery WHERE trigger_id = %s",
        [trigger_id],
    )
    return {row[0]: row[1:] for row in rows}


def test_two_runners_deliver_every_postback_once_signed_and_in_order(odoo_setup, e2e_db, receivers, logdir, processes):
    pytest.importorskip("standardwebhooks")
    with receivers.HttpReceiver() as receiver:
        scenario = odoo_setup.run_action(
            e2e_db,
            "scenario",
            {"customer": "E2E Two Runners", "url": receiver.url, "n_orders": 200, "events_per_order": 10},
        )
        assert scenario["deliveries"] == 2000
        go_file = logdir / "go"
        workers = [
            odoo_setup.spawn_worker(
                e2e_db,
                name=name,
                logdir=logdir,
                batch_size=50,
                time_budget=5,
                max_seconds=150,
                trigger_ids=scenario["trigger_id"],
                go_file=go_file,
            )
            for name in ("runner_a", "runner_b")
        ]
        processes.extend(workers)
        harness.wait_workers_ready(workers)
        go_file.touch()  # both runners start claiming at the same moment
        results = [harness.worker_result(proc, WORKER_TIMEOUT) for proc in workers]
        time.sleep(0.2)  # let the receiver record the last answers
        received = list(receiver.received)

    assert all(not r["timed_out"] and r["pending"] == 0 for r in results), results
    # both runners really worked on the shared queue
    assert all(r["sent"] > 0 for r in results), results
    assert sum(r["sent"] for r in results) == 2000, results

    ids = [item.headers.get("webhook-id") for item in received]
    counts = collections.Counter(ids)
    twice = {wid: n for wid, n in counts.items() if n > 1}
    assert not twice, f"{len(twice)} postbacks arrived more than once: {list(twice.items())[:5]}"
    rows = _deliveries(odoo_setup, e2e_db, scenario["trigger_id"])
    assert set(ids) == set(rows), "the receiver did not get exactly the queued deliveries"
    assert len(received) == 2000
    # the database agrees: each delivered after a single attempt
    assert {state for _id, _order, state, _n in rows.values()} == {"delivered"}
    assert {n for _id, _order, _state, n in rows.values()} == {1}

    _verify_all(received, scenario["secret"])

    # per-order ordering: the postbacks of one order arrive in the order they were queued
    by_order = collections.defaultdict(list)
    for item in received:
        delivery_id, order_id, _state, _n = rows[item.headers["webhook-id"]]
        by_order[order_id].append(delivery_id)
    out_of_order = [order for order, seq in by_order.items() if seq != sorted(seq)]
    assert not out_of_order, f"postbacks of {len(out_of_order)} orders arrived out of order"
    # the body is the rendered template of the order's event
    sample = json.loads(received[0].body)
    assert sample["status"] == "order.received" and sample["event_id"].startswith("evt_")


def test_runner_killed_mid_batch_loses_nothing(odoo_setup, e2e_db, receivers, logdir, processes):
    pytest.importorskip("standardwebhooks")
    total, batch = 1000, 200
    with receivers.HttpReceiver(delay=0.02) as receiver:
        scenario = odoo_setup.run_action(
            e2e_db,
            "scenario",
            {"customer": "E2E Killed Runner", "url": receiver.url, "n_orders": 200, "events_per_order": 5},
        )
        assert scenario["deliveries"] == total
        options = {"batch_size": batch, "time_budget": 60, "max_seconds": 150, "trigger_ids": scenario["trigger_id"]}
        first = odoo_setup.spawn_worker(e2e_db, name="doomed", logdir=logdir, **options)
        processes.append(first)
        # wait until the second batch is half sent, then SIGKILL the runner (no cleanup at all)
        assert harness.wait_until(lambda: len(receiver.received) >= batch + batch // 2 or first.poll() is not None, 90)
        harness.stop_process(first, sig=signal.SIGKILL)
        assert first.returncode == -signal.SIGKILL, "the runner finished before it could be killed"
        time.sleep(0.5)  # requests already in flight at the receiver finish
        received_at_kill = {item.headers["webhook-id"] for item in receiver.received}
        delivered_at_kill = odoo_setup.query(
            e2e_db,
            "SELECT count(*) FROM postback_delivery WHERE trigger_id = %s AND state = 'delivered'",
            [scenario["trigger_id"]],
        )[0][0]
        # outcomes are committed as they come: at the kill, at most the requests in flight
        # (16 worker threads) and the last ~25 ms of answers are not recorded yet
        assert 0 <= len(received_at_kill) - delivered_at_kill <= 64, (len(received_at_kill), delivered_at_kill)

        second = odoo_setup.spawn_worker(e2e_db, name="restarted", logdir=logdir, **options)
        processes.append(second)
        result = harness.worker_result(second, WORKER_TIMEOUT)
        time.sleep(0.2)
        received = list(receiver.received)

    assert not result["timed_out"] and result["pending"] == 0, result
    rows = _deliveries(odoo_setup, e2e_db, scenario["trigger_id"])
    assert len(rows) == total
    assert {state for _id, _order, state, _n in rows.values()} == {"delivered"}, "the database shows undelivered rows"

    by_id = collections.defaultdict(list)
    for item in received:
        by_id[item.headers["webhook-id"]].append(item)
    assert set(by_id) == set(rows), "some deliveries never arrived"
    repeats = {wid: items for wid, items in by_id.items() if len(items) > 1}
    # at-least-once: what was in flight at the kill may be sent again, with the same id and body,
    # and nothing else: never a whole batch
    assert len(repeats) <= 64, len(repeats)
    assert set(repeats) <= received_at_kill
    for items in repeats.values():
        assert len({item.body for item in items}) == 1, "a repeat must carry the same body"
    # one webhook-id per event: a repeat never shows up under a new id
    ids_per_event = collections.defaultdict(set)
    for item in received:
        ids_per_event[json.loads(item.body)["event_id"]].add(item.headers["webhook-id"])
    assert len(ids_per_event) == total
    assert all(len(ids) == 1 for ids in ids_per_event.values())
    _verify_all(received, scenario["secret"])


def test_one_endpoint_timing_out_does_not_stop_the_others(odoo_setup, e2e_db, receivers, logdir, processes):
    """A customer whose server never answers (timeout 1 s) must not block or break the other customers'
    postbacks: theirs all arrive, the runner keeps going, the dead endpoint's deliveries wait for a retry."""
    with receivers.HttpReceiver() as receiver, harness.HangingEndpoint() as dead_endpoint:
        scenario = odoo_setup.run_action(
            e2e_db,
            "scenario",
            {
                "customers": [
                    {"customer": "E2E Healthy", "url": receiver.url, "n_orders": 100, "events_per_order": 5},
                    # one event on each of 100 orders: every batch holds more deliveries for the dead
                    # endpoint than the runner opens connections to one host (8), so some are skipped
                    {
                        "customer": "E2E Dead Endpoint",
                        "url": dead_endpoint.url,
                        "timeout": 1.0,
                        "n_orders": 100,
                        "events_per_order": 1,
                    },
                ]
            },
        )
        healthy, dead = scenario["customers"]
        assert (healthy["deliveries"], dead["deliveries"]) == (500, 100)
        worker = odoo_setup.spawn_worker(
            e2e_db,
            name="runner",
            logdir=logdir,
            batch_size=100,
            time_budget=30,
            max_seconds=120,
            trigger_ids=healthy["trigger_id"],
        )
        processes.append(worker)
        result = harness.worker_result(worker, WORKER_TIMEOUT)
        received = list(receiver.received)
        assert dead_endpoint.requests > 0

    assert not result["timed_out"] and result["pending"] == 0, result
    assert result["returncode"] == 0
    ids = {item.headers["webhook-id"] for item in received}
    assert ids == set(_deliveries(odoo_setup, e2e_db, healthy["trigger_id"])), "healthy postbacks are missing"
    assert len(received) == len(ids) == 500, "a healthy postback was sent twice"
    # the dead endpoint's deliveries are neither lost nor given up: still pending, waiting for a retry
    dead_rows = _deliveries(odoo_setup, e2e_db, dead["trigger_id"])
    assert {state for _id, _order, state, _n in dead_rows.values()} == {"pending"}
    outcomes = dict(
        odoo_setup.query(
            e2e_db,
            "SELECT a.outcome, count(*) FROM postback_delivery_attempt a"
            " JOIN postback_delivery d ON d.id = a.delivery_id WHERE d.trigger_id = %s GROUP BY a.outcome",
            [dead["trigger_id"]],
        )
    )
    assert outcomes.get("retry", 0) > 0, outcomes
    # The circuit breaker spared the runner most timeouts: about one wave of lanes
    # (8 per endpoint) timed out, the rest was postponed without an attempt row.
    assert outcomes.get("retry", 0) <= 16, outcomes
    assert "skipped" not in outcomes, outcomes
    odoo_setup.run_action(e2e_db, "deactivate", {"trigger_ids": [dead["trigger_id"]]})


def _most_in_one_second(times):
    times, best, first = sorted(times), 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def test_a_rate_limit_holds_across_two_runners_without_slowing_the_other_endpoints(
        odoo_setup, e2e_db, receivers, logdir, processes):
    """Two runner processes share one throttled endpoint (10 requests per second): the receiver never
    sees more than 10 in any second, while another endpoint gets its postbacks at full speed."""
    rate = 10
    with receivers.HttpReceiver() as throttled, receivers.HttpReceiver() as free:
        scenario = odoo_setup.run_action(
            e2e_db,
            "scenario",
            {
                "customers": [
                    {"customer": "E2E Throttled", "url": throttled.url, "n_orders": 40, "events_per_order": 1,
                     "rate_limit": rate},
                    {"customer": "E2E Free", "url": free.url, "n_orders": 100, "events_per_order": 5},
                ]
            },
        )
        slow, fast = scenario["customers"]
        assert (slow["deliveries"], fast["deliveries"]) == (40, 500)
        go_file = logdir / "go_throttle"
        workers = [
            odoo_setup.spawn_worker(
                e2e_db, name=name, logdir=logdir, batch_size=50, time_budget=5, max_seconds=90,
                trigger_ids=f"{slow['trigger_id']},{fast['trigger_id']}", go_file=go_file,
            )
            for name in ("throttle_a", "throttle_b")
        ]
        processes.extend(workers)
        harness.wait_workers_ready(workers)
        go_file.touch()
        results = [harness.worker_result(proc, WORKER_TIMEOUT) for proc in workers]
        time.sleep(0.2)
        slow_received, fast_received = list(throttled.received), list(free.received)

    assert all(not r["timed_out"] and r["pending"] == 0 for r in results), results
    assert len({item.headers["webhook-id"] for item in slow_received}) == len(slow_received) == 40
    assert len({item.headers["webhook-id"] for item in fast_received}) == len(fast_received) == 500
    slow_times = sorted(item.at for item in slow_received)
    assert _most_in_one_second(slow_times) <= rate, [round(t - slow_times[0], 2) for t in slow_times]
    assert slow_times[-1] - slow_times[0] >= (40 - rate) / rate * 0.95
    # the free endpoint was not held up by the throttled one: its 500 postbacks took a fraction of the
    # throttled endpoint's 4.7 s (at the throttled pace they would take 50 s) and were all in before it
    # finished. Typically 1.35 s; 2 of 55 runs took 3.4 s: the receiver, a thread of this process,
    # answered in 0.3 s on average then, so the runner deferred its excess (a slow endpoint's excess waits
    # in the database, not in a runner) for half a second or more at a time.
    fast_times = sorted(item.at for item in fast_received)
    assert fast_times[-1] - fast_times[0] < 4.0, fast_times[-1] - fast_times[0]
    assert fast_times[-1] < slow_times[-1] - 0.5
    # postponed deliveries were no attempts: one attempt each
    counts = odoo_setup.query(e2e_db, "SELECT attempt_count, count(*) FROM postback_delivery WHERE trigger_id = %s"
                              " GROUP BY 1", [slow["trigger_id"]])
    assert counts == [(1, 40)], counts
