"""End to end, through a real Odoo server with one cron thread: retries go out on time on an
idle queue, and a killed runner's leftovers are sent within seconds of the restart.

Odoo's cron workers wake on a NOTIFY for work due now, otherwise once a minute; the runner
therefore schedules a wake-up for the next due retry, and a restarted server hands the
leases of a dead runner back to the cron at once.
"""

import signal
import time

import harness

STARTUP_TIMEOUT = 120


def _start(odoo_setup, db, tmp_path, processes):
    harness.quiet_other_crons(odoo_setup, db)
    port = harness.free_port()
    logfile = tmp_path / "odoo-server.log"
    server = odoo_setup.start_server(db, port, logfile)
    processes.append(server)
    harness.wait_http(f"http://127.0.0.1:{port}/web/login", timeout=STARTUP_TIMEOUT, proc=server)
    return server, logfile


def test_a_retry_goes_out_after_its_retry_after_and_within_about_a_second_of_it(
    odoo_setup, e2e_db, receivers, tmp_path, processes
):
    odoo_setup.set_param(e2e_db, "postback_connector.retry_schedule", "0, 2s, 1h")
    try:
        with receivers.HttpReceiver() as receiver:
            receiver.queue((503, {"Retry-After": "3"}, "busy"))
            scenario = odoo_setup.run_action(
                e2e_db, "scenario", {"customer": "E2E On Time", "url": receiver.url, "n_orders": 0})
            order = odoo_setup.run_action(
                e2e_db, "orders", {"partner_id": scenario["partner_id"], "count": 1, "lines_per_order": 1})
            server, logfile = _start(odoo_setup, e2e_db, tmp_path, processes)
            try:
                time.sleep(2.0)  # the cron thread's start-up pass is over: an idle queue
                odoo_setup.run_action(e2e_db, "confirm", {"order_ids": order["order_ids"]})
                arrived = receiver.wait_for(2, timeout=20)
                received = list(receiver.received)
            finally:
                harness.stop_process(server, timeout=20)
    finally:
        odoo_setup.set_param(e2e_db, "postback_connector.retry_schedule", "0, 5s, 5m, 30m, 2h, 5h, 10h, 10h")
    log = logfile.read_text() if logfile.exists() else ""
    assert arrived, "the retry never arrived; server log tail:\n" + log[-3000:]
    first, second = received[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    waited = second.at - first.at
    # Retry-After 3 s beats the 2 s step; rounding up to the second and the cron wake-up
    # add at most about a second (the cron's own interval is a minute).
    assert waited >= 3.0, f"the retry went out {waited:.2f}s after a Retry-After of 3 s"
    assert waited <= 5.0, f"the retry waited {waited:.2f}s instead of about 3-4 s"


def test_a_killed_runners_leftovers_go_out_within_seconds_of_the_restart(
    odoo_setup, e2e_db, receivers, tmp_path, processes
):
    total = 300
    logdir = tmp_path / "logs"
    with receivers.HttpReceiver(delay=0.05) as receiver:
        scenario = odoo_setup.run_action(
            e2e_db, "scenario",
            {"customer": "E2E Restart", "url": receiver.url, "n_orders": total, "events_per_order": 1})
        doomed = odoo_setup.spawn_worker(
            e2e_db, name="doomed", logdir=logdir, batch_size=100, time_budget=60, max_seconds=120,
            trigger_ids=scenario["trigger_id"])
        processes.append(doomed)
        assert harness.wait_until(lambda: len(receiver.received) >= 60 or doomed.poll() is not None, 90)
        harness.stop_process(doomed, sig=signal.SIGKILL)
        assert doomed.returncode == -signal.SIGKILL
        leased = odoo_setup.query(
            e2e_db, "SELECT count(*) FROM postback_delivery WHERE trigger_id = %s AND state = 'pending'"
            " AND claim_token IS NOT NULL", [scenario["trigger_id"]])[0][0]
        assert leased > 0, "the runner was killed while it held leases"
        started = time.time()
        server, logfile = _start(odoo_setup, e2e_db, tmp_path, processes)
        try:
            def all_delivered():
                return not odoo_setup.query(
                    e2e_db, "SELECT 1 FROM postback_delivery WHERE trigger_id = %s AND state <> 'delivered'"
                    " LIMIT 1", [scenario["trigger_id"]])
            done = harness.wait_until(all_delivered, 60, interval=0.2)
            finished = time.time()
        finally:
            harness.stop_process(server, timeout=20)
    log = logfile.read_text() if logfile.exists() else ""
    assert done, "leftovers still pending a minute after the restart; log tail:\n" + log[-3000:]
    # the lease of the killed runner would last its whole call (over a minute)
    assert finished - started < 40, f"leftovers delivered {finished - started:.1f}s after the restart"
    ids = [item.headers["webhook-id"] for item in receiver.received]
    assert len(set(ids)) == total
    assert len(ids) - len(set(ids)) <= 64, "only what was in flight at the kill may be sent twice"
