"""End to end: a real Odoo server with one cron thread sends the postback of a confirmed order at once.

Confirming the order (in another process) queues the delivery and calls
``ir.cron._trigger()``, which NOTIFYs the server's cron thread after the
commit: the customer's receiver gets the postback within seconds, without
waiting for the cron's one-minute interval.
"""

import json
import time

import harness

LATENCY_LIMIT = 5.0


def test_idle_server_sends_the_postback_of_a_confirmed_order_within_seconds(
    odoo_setup, e2e_db, receivers, tmp_path, processes
):
    with receivers.HttpReceiver() as receiver:
        scenario = odoo_setup.run_action(
            e2e_db, "scenario", {"customer": "E2E Live Server", "url": receiver.url, "n_orders": 0}
        )
        order = odoo_setup.run_action(
            e2e_db, "orders", {"partner_id": scenario["partner_id"], "count": 1, "lines_per_order": 3}
        )
        harness.quiet_other_crons(odoo_setup, e2e_db)
        port = harness.free_port()
        logfile = tmp_path / "odoo-server.log"
        server = odoo_setup.start_server(e2e_db, port, logfile)
        processes.append(server)
        try:
            harness.wait_http(f"http://127.0.0.1:{port}/web/login", timeout=120, proc=server)
            # let the cron thread finish its start-up pass so the queue is idle
            time.sleep(2.0)
            assert not receiver.received
            confirmed = odoo_setup.run_action(e2e_db, "confirm", {"order_ids": order["order_ids"]})["confirmed"][0]
            arrived = receiver.wait_for(1, timeout=LATENCY_LIMIT + 10)
            received = list(receiver.received)
        finally:
            harness.stop_process(server, timeout=20)
        server_log = logfile.read_text() if logfile.exists() else ""
    assert arrived, "no postback received; server log tail:\n" + server_log[-3000:]
    first = received[0]
    latency = first.at - confirmed["committed_at"]
    body = json.loads(first.body)
    assert body["order_number"] == confirmed["name"]
    assert body["status"] == "order.received"
    assert latency < LATENCY_LIMIT, f"postback arrived {latency:.2f}s after the order was confirmed"
    assert len(received) == 1
