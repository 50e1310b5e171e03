# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Where Odoo 18.0 and 19.0 differ, and nowhere else.

One constant or function per difference, each saying which version does
what. The rest of the addon is written once, against these names; the
Odoo-free engine (``engine/``) does not depend on Odoo at all.
"""

import contextlib
from unittest import mock

from odoo import models, release

#: The Odoo major version the addon runs on (18 or 19).
ODOO_MAJOR = release.version_info[0]


# 19.0 ignores ``_sql_constraints`` (and logs a warning for it): table
# constraints are ``models.Constraint`` attributes. 18.0 has no
# ``models.Constraint``; there the same attribute adds its entry to the
# model's ``_sql_constraints``. Both name the database constraint
# ``<table>_<attribute name without its leading underscore>``, so a database
# upgraded from 18.0 to 19.0 keeps its constraints.
if hasattr(models, "Constraint"):  # 19.0
    Constraint = models.Constraint
else:  # 18.0

    class Constraint:
        """``_name = Constraint("UNIQUE(...)", "message")`` on an 18.0 model class."""

        def __init__(self, definition, message=""):
            self.definition = definition
            self.message = message

        def __set_name__(self, owner, name):
            assert name.startswith("_"), "a constraint attribute's name starts with '_'"
            own = list(owner.__dict__.get("_sql_constraints", ()))
            own.append((name[1:], self.definition, self.message))
            owner._sql_constraints = own


def cron_report_done(env, done):
    """Tell the running ir.cron job that this call did ``done`` items and nothing is left.

    18.0: ``ir.cron._notify_progress(done=, remaining=)``. 19.0 deprecates it for
    ``ir.cron._commit_progress(processed, remaining=)``, which also commits (the
    runner has already committed all its work) and, outside a cron job, only
    commits: it is then not called at all.
    """
    cron = env["ir.cron"]
    if ODOO_MAJOR >= 19:
        if env.context.get("ir_cron_progress_id"):
            cron._commit_progress(done, remaining=0)
    else:
        cron._notify_progress(done=done, remaining=0)


def set_groups_category(env, category_xmlid, group_xmlids, privilege_name):
    """File the addon's groups under its application in the user form.

    18.0: ``res.groups.category_id`` is the ``ir.module.category``. 19.0 has
    ``res.groups.privilege_id`` instead: a ``res.groups.privilege`` (with
    the category) that this creates once, under an external ID of the addon.
    Called from the security data file on install and on every upgrade.
    """
    category = env.ref(category_xmlid)
    groups = env["res.groups"].browse(env.ref(xmlid).id for xmlid in group_xmlids)
    if ODOO_MAJOR < 19:
        groups.write({"category_id": category.id})
        return
    module, _dot, name = category_xmlid.partition(".")
    privilege = env["res.groups.privilege"]._load_records(
        [
            {
                "xml_id": f"{module}.res_groups_privilege_{name.removeprefix('module_category_')}",
                "values": {"name": privilege_name, "category_id": category.id, "sequence": category.sequence},
                "noupdate": False,
            }
        ]
    )
    groups.write({"privilege_id": privilege.id})


#: The unit of measure of an order line: ``sale.order.line.product_uom`` in
#: 18.0, renamed ``product_uom_id`` in 19.0 (``stock.move.product_uom`` keeps
#: its name in both).
SALE_LINE_UOM_FIELD = "product_uom_id" if ODOO_MAJOR >= 19 else "product_uom"


def http_test_lock(registry):
    """What a test takes so it never uses its cursor while a request of ``url_open`` does.

    18.0: the registry's ``test_lock``, which the request thread holds until it has
    closed its test cursor. 19.0 has no ``registry.test_lock``: the test thread
    holds the registry test lock itself, and ``url_open`` releases it only while
    the request runs; nothing more to take.
    """
    if ODOO_MAJOR >= 19:
        return contextlib.nullcontext()
    return registry.test_lock


def real_email_in_tests():
    """Let the tests' mail reach their real SMTP server on 127.0.0.1.

    19.0: ``ir.mail_server._disable_send()`` is true during every test (pytest-odoo
    sets ``current_test``), and Odoo's own tests switch it off this way. 18.0
    checks ``current_test`` inline, which pytest-odoo leaves unset there: mail
    goes out as it is.
    """
    if ODOO_MAJOR < 19:
        return contextlib.nullcontext()
    from odoo.addons.base.models.ir_mail_server import IrMail_Server  # noqa: PLC0415 - 19.0's class name

    return mock.patch.object(IrMail_Server, "_disable_send", classmethod(lambda cls: False))


# The operators a domain condition may use, and the ORM's own check of a
# domain on a model. 18.0: ``odoo.osv.expression`` (``TERM_OPERATORS``, plus
# ``<>`` for ``!=``; building the ``expression`` checks every field and
# operator without running the query). 19.0: ``odoo.fields.Domain``
# (``odoo.orm.domains``): the condition operators but the internal ``any!``
# and ``not any!``, and ``Domain.validate(model)``.
if ODOO_MAJOR >= 19:
    from odoo.orm import domains as _domains  # 19.0 only

    DOMAIN_OPERATORS = frozenset(_domains.CONDITION_OPERATORS - _domains.INTERNAL_CONDITION_OPERATORS)

    def check_domain(model, domain):
        """Raise ValueError (or TypeError) when ``domain`` does not apply to ``model``."""
        _domains.Domain(domain).validate(model)

else:
    from odoo.osv import expression as _expression  # 18.0 only

    DOMAIN_OPERATORS = frozenset((*_expression.TERM_OPERATORS, "<>"))

    def check_domain(model, domain):
        """Raise ValueError (or TypeError) when ``domain`` does not apply to ``model``."""
        _expression.expression(domain, model)


def field_readable(model, field):
    """May the user of ``model``'s environment read ``field`` (its ``groups``)?

    19.0: ``model._has_field_access(field, "read")`` (``check_field_access_rights``
    is deprecated there). 18.0: ``field.is_accessible(env)``.
    """
    if ODOO_MAJOR >= 19:
        return model._has_field_access(field, "read")
    return field.is_accessible(model.env)
