"""Regenerate docs/screenshots/portal_endpoint.png and portal_delivery.png.

    python docs/screenshot_portal.py --browser-python /path/to/venv-with-playwright/bin/python

Builds a scratch database (the test base + the addon), gives a customer the portal
with every self-service action and a portal user, queues 12 postbacks to a real
receiver that refuses two orders, runs the real runner once, starts Odoo and takes
the screenshots as that portal user (Playwright driving the system's Chromium).
Loopback only.
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

DB = "postback_screens_portal"
ACTIONS = HERE / "_portal_actions.py"
SHOT = r'''
    page.goto(base + "/web/session/logout")
    page.goto(base + "/web/login")
    page.fill("input[name=login]", "dev@azure.example")
    page.fill("input[name=password]", "portal-screens-1")
    page.click("button[type=submit]")
    page.wait_for_selector("a[href='/my/postbacks']", timeout=60000)
    page.goto(base + "/my/postbacks/%s" % TRIGGER)
    page.wait_for_selector("tr.o_postback_portal_delivery", timeout=60000)
    page.wait_for_timeout(500)
    page.screenshot(path=out + "/portal_endpoint.png", full_page=True)
    page.goto(base + "/my/postbacks/delivery/%s" % DELIVERY)
    page.wait_for_selector(".o_postback_attempt", timeout=60000)
    page.wait_for_timeout(500)
    page.screenshot(path=out + "/portal_delivery.png", full_page=True)
'''


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--browser-python", required=True, help="a Python with playwright installed")
    args = parser.parse_args()
    setup = harness.detect()
    setup.create_db(DB)
    receivers = harness.load_receivers()
    processes = []
    refused = set()

    def answer(body):
        text = body.decode("utf-8", "replace")
        if any(name in text for name in refused):
            return 422, {"Content-Type": "application/json"}, '{"error": "unknown order", "code": "E_ORDER"}'
        return 200, {"Content-Type": "application/json"}, '{"ok": true}'

    try:
        with receivers.HttpReceiver(responder=answer) as receiver:
            result = setup.run_action(DB, "portal", {"url": receiver.url}, script=ACTIONS)
            refused.update(result["refused"])
            with tempfile.TemporaryDirectory() as logdir:
                worker = setup.spawn_worker(DB, name="screens", logdir=logdir, time_budget=5, max_seconds=20)
                worker.wait(timeout=120)
            harness.quiet_other_crons(setup, DB)
            delivery = setup.query(DB, "SELECT id FROM postback_delivery WHERE state = 'failed' ORDER BY id LIMIT 1")
            port = harness.free_port()
            with tempfile.TemporaryDirectory() as tmp:
                server = setup.start_server(DB, port, Path(tmp) / "odoo.log")
                processes.append(server)
                harness.wait_http(f"http://127.0.0.1:{port}/web/login", timeout=120, proc=server)
                steps = SHOT.replace("TRIGGER", str(result["trigger_id"])).replace("DELIVERY", str(delivery[0][0]))
                shoot(args.browser_python, steps, f"http://127.0.0.1:{port}", HERE / "screenshots",
                      viewport=(1300, 900))
    finally:
        for proc in processes:
            harness.stop_process(proc, timeout=20)
        setup.drop_db(DB)
    sys.stdout.write(json.dumps({"ok": True}) + "\n")


if __name__ == "__main__":
    main()
