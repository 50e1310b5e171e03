"""Load an Odoo registry in a plain Python process (child processes of the e2e tests and the benchmark).

Only imported by the child scripts, never by the pytest process.
"""

import contextlib
import os
import sys


def load_registry(db, log_level="warn"):
    """Parse the config (POSTBACK_ODOO_CONF) for ``db`` and return ``(odoo, registry)``."""
    src = os.environ.get("ODOO_SRC") or next(
        (p for p in ("/opt/odoo-18", "/opt/odoo-19") if os.path.isfile(os.path.join(p, "odoo", "release.py"))),
        "/opt/odoo-18",
    )
    if src not in sys.path:
        sys.path.insert(0, src)
    import odoo  # noqa: PLC0415
    from odoo.modules.registry import Registry  # noqa: PLC0415

    conf = os.environ.get("POSTBACK_ODOO_CONF")
    if not conf:
        raise SystemExit("POSTBACK_ODOO_CONF is not set (the harness sets it for its child processes)")
    odoo.tools.config.parse_config(["-c", conf, "-d", db, "--log-level", log_level])
    return odoo, Registry(db)


@contextlib.contextmanager
def environment(odoo, registry, context=None):
    """A superuser environment on a new cursor; commits when the block ends without an exception."""
    with registry.cursor() as cr:
        yield odoo.api.Environment(cr, odoo.SUPERUSER_ID, dict(context or {}))
