"""Regenerate docs/screenshots/template_form.png: the Template Mapper with its data tree.

    python docs/screenshot_template.py --browser-python /path/to/venv-with-playwright/bin/python

Builds a scratch database (the test base + the addon and its demo data), starts Odoo
and opens the demo template of the Order shipped event with Playwright driving
the system's Chromium: a line is being edited (its Source completes paths), the
Value column shows each line's value on the sample. Loopback only.
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

DB = "postback_screens_template"
SHOT = r'''
    page.goto(base + "/odoo/action-postback_connector.postback_template_action")
    page.wait_for_selector(".o_list_renderer .o_data_row", timeout=60000)
    page.click(".o_data_row:has-text('Order shipped') td.o_data_cell >> nth=0")
    page.wait_for_selector(".o_postback_data_tree .o_postback_tree_node", timeout=60000)
    page.click(".o_field_widget[name=line_ids] .o_data_row >> nth=1 >> td.o_data_cell[name=source]")
    page.wait_for_selector(".o_data_row.o_selected_row .o_field_widget[name=source] input", timeout=30000)
    page.wait_for_timeout(800)
    page.screenshot(path=out + "/template_form.png")
'''


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--browser-python", required=True, help="a Python with playwright installed")
    args = parser.parse_args()
    setup = harness.detect()
    setup.create_db(DB)
    processes = []
    try:
        harness.quiet_other_crons(setup, DB)
        port = harness.free_port()
        with tempfile.TemporaryDirectory() as tmp:
            server = setup.start_server(DB, port, Path(tmp) / "odoo.log")
            processes.append(server)
            harness.wait_http(f"http://127.0.0.1:{port}/web/login", timeout=120, proc=server)
            out = HERE / "screenshots"
            shoot(args.browser_python, SHOT, f"http://127.0.0.1:{port}", out, viewport=(1500, 1000))
    finally:
        for proc in processes:
            harness.stop_process(proc, timeout=20)
        setup.drop_db(DB)
    sys.stdout.write(json.dumps({"ok": True}) + "\n")


if __name__ == "__main__":
    main()
