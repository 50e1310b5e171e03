"""Make ``postback_connector.engine`` importable without Odoo.

``postback_connector/__init__.py`` imports the Odoo models, so importing
the real package would need a running Odoo. The engine never imports odoo;
registering an empty package module whose ``__path__`` points at the addon
directory lets ``from postback_connector.engine import ...`` load just the
engine modules.
"""

import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "postback_connector"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if "postback_connector" not in sys.modules:
    _package = types.ModuleType("postback_connector")
    _package.__path__ = [str(ADDON)]
    _package.__file__ = str(ADDON / "__init__.py")
    sys.modules["postback_connector"] = _package
