"""The engine must stay importable and usable without Odoo."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "postback_connector" / "engine"

SCRIPT = f"""
import sys, types
package = types.ModuleType("postback_connector")
package.__path__ = [{str(ROOT / "postback_connector")!r}]
sys.modules["postback_connector"] = package
sys.path.insert(0, {str(ROOT)!r})
from postback_connector.engine import render, signing, retry, netcheck, http
render.render_to_bytes(render.render_mapping([render.MappingLine("a", "b")], {{"b": 1}}))
print(sorted(name for name in sys.modules if name == "odoo" or name.startswith("odoo.")))
"""


def test_engine_imports_without_odoo_in_a_fresh_interpreter():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_engine_sources_never_import_odoo():
    for path in ENGINE.glob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            assert not stripped.startswith(("import odoo", "from odoo")), f"{path.name}: {line}"
