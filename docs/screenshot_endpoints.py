"""Regenerate docs/screenshots/endpoints_list.png and endpoint_form.png.

    python docs/screenshot_endpoints.py --browser-python /path/to/venv-with-playwright/bin/python

Builds a scratch database (the test base + the addon), queues postbacks to a healthy
receiver and to an endpoint that never answers, runs the real runner once, starts Odoo
and takes the screenshots with Playwright driving the system's Chromium. Loopback only.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

import harness  # noqa: E402
from _browser import shoot  # noqa: E402

DB = "postback_screens"
SHOT = r'''
    page.goto(base + "/odoo/action-postback_connector.postback_endpoint_action")
    page.wait_for_selector(".o_list_renderer .o_data_row", timeout=60000)
    page.wait_for_timeout(800)
    page.screenshot(path=out + "/endpoints_list.png")
    page.click(".o_data_row:has-text('Paused') td.o_data_cell >> nth=0")
    page.wait_for_selector(".o_form_view", timeout=60000)
    page.wait_for_timeout(800)
    page.screenshot(path=out + "/endpoint_form.png")
'''


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--browser-python", required=True, help="a Python with playwright installed")
    args = parser.parse_args()
    setup = harness.detect()
    setup.create_db(DB)
    receivers = harness.load_receivers()
    processes = []
    try:
        with receivers.HttpReceiver() as healthy, harness.HangingEndpoint() as dead:
            spec = {"customers": [
                {"customer": "Rossi Forniture S.r.l.", "url": healthy.url, "n_orders": 40, "events_per_order": 1},
                {"customer": "Bianchi Logistica", "url": dead.url, "n_orders": 20, "events_per_order": 1,
                 "timeout": 2.0},
            ]}
            setup.run_action(DB, "scenario", spec)
            with tempfile.TemporaryDirectory() as logdir:
                worker = setup.spawn_worker(DB, name="screens", logdir=logdir, time_budget=5, max_seconds=20)
                worker.wait(timeout=120)
            harness.quiet_other_crons(setup, DB)
            port = harness.free_port()
            with tempfile.TemporaryDirectory() as tmp:
                server = setup.start_server(DB, port, Path(tmp) / "odoo.log")
                processes.append(server)
                harness.wait_http(f"http://127.0.0.1:{port}/web/login", timeout=120, proc=server)
                dead_name = "http://127.0.0.1:%s" % dead.url.split(":")[2].split("/")[0]

                def paused():
                    return setup.query(DB, "SELECT cooldown_until > (now() AT TIME ZONE 'UTC') + interval '20 s'"
                                       " FROM postback_endpoint WHERE name = %s", [dead_name])[0][0]

                # the server's own cron probes the dead endpoint again when its pause ends
                harness.wait_until(paused, 120, interval=0.5)
                harness.wait_until(lambda: False, 1)
                out = HERE / "screenshots"
                shoot(args.browser_python, SHOT, f"http://127.0.0.1:{port}", out)
    finally:
        for proc in processes:
            harness.stop_process(proc, timeout=20)
        setup.drop_db(DB)
    sys.stdout.write(json.dumps({"ok": True}) + "\n")


if __name__ == "__main__":
    main()
