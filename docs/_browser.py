"""What the docs/screenshot_*.py scripts share: the browser's start and login.

A screenshot script is ``LOGIN + its own steps``, run by ``shoot`` in a Python that
has Playwright (the system's Chromium, loopback only). The script sees ``page``,
logged in as admin, ``base`` (the server's URL) and ``out`` (the screenshots folder).
"""

import subprocess

LOGIN = r'''
import sys
from playwright.sync_api import sync_playwright
base, out, width, height = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(base + "/web/login")
    page.fill("input[name=login]", "admin")
    page.fill("input[name=password]", "admin")
    page.click("button[type=submit]")
    page.wait_for_selector(".o_main_navbar", timeout=60000)
'''


def shoot(browser_python, steps, base, out, viewport=(1400, 700)):
    """Run ``LOGIN + steps`` (indented like the login's body) in ``browser_python``."""
    script = LOGIN + steps + "    browser.close()\n"
    subprocess.run([browser_python, "-c", script, base, str(out), *map(str, viewport)], check=True, timeout=300)
