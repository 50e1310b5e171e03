# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Conditions on triggers: only the customer's orders matching a domain fire the trigger.

The condition is a domain on ``sale.order`` written by Odoo's domain editor
(team, warehouse, tags, amount, delivery country…). It is read without
running code (``engine.conditions``), checked against the fields of the
orders when it is saved, and evaluated by ``postback.event._record`` inside
the business transaction, on the orders it has already loaded: once per
distinct condition for the whole batch, never one query per order.

*Send test* and *Preview & Test* ignore it: the merchant asked for them.
"""

import logging
from collections import defaultdict

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .. import compat
from ..engine import conditions
from ..engine_i18n import engine_text

_logger = logging.getLogger(__name__)

# Field types whose values the ORM compares with < > <= >= in Python when it
# filters records in memory: a value of another kind would fail there.
_NUMBER_TYPES = ("integer", "float", "monetary")
_TEXT_TYPES = ("char", "text", "html", "selection")
_DATE_TYPES = ("date", "datetime")
_ORDERING_OPERATORS = ("<", ">", "<=", ">=")


class PostbackTrigger(models.Model):
    _inherit = "postback.trigger"

    condition_domain = fields.Char(
        string="Only for orders",
        default="[]",
        tracking=True,
        help="Leave empty for every order of the customer. Otherwise only the orders matching these conditions "
        "(sales team, tags, amount, delivery country…) fire the trigger. Send test and Preview & Test ignore them.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        triggers = super().create(vals_list)
        if not self.env.su and any(vals.get("condition_domain") for vals in vals_list):
            triggers._check_condition_domain()  # as the user (Odoo 19 runs constraints as superuser)
        return triggers

    def write(self, vals):
        result = super().write(vals)
        if not self.env.su and vals.get("condition_domain"):
            # As the user: the fields a condition reads must be readable by who writes it
            # (Odoo 19 runs @api.constrains as superuser, where every field is readable).
            self._check_condition_domain()
        return result

    @api.constrains("condition_domain")
    def _check_condition_domain(self):
        for trigger in self:
            try:
                domain = conditions.parse_condition(trigger.condition_domain)
            except conditions.ConditionError as error:
                raise ValidationError(
                    _("Trigger “%(name)s”: %(error)s.", name=trigger.name, error=engine_text(self.env, error))
                ) from error
            if not domain:
                continue
            trigger._check_condition_fields(self.env["sale.order"], domain)
            try:
                compat.check_domain(self.env["sale.order"].sudo(), domain)
            except (ValueError, TypeError, KeyError, AttributeError) as error:
                raise ValidationError(
                    _("Trigger “%(name)s”: the condition cannot be applied to orders (%(error)s).",
                      name=trigger.name, error=" ".join(str(error).split()))
                ) from error

    def _check_condition_fields(self, model, domain, prefix=""):
        """Every path of ``domain`` names fields of ``model`` the user may read, with operators and
        values the orders can be compared with; ``any`` sub-domains are checked on their model."""
        self.ensure_one()
        for path, operator, value in conditions.leaves(domain):
            field, field_model = self._condition_field(model, path, prefix)
            shown = prefix + path
            if operator not in compat.DOMAIN_OPERATORS:
                raise ValidationError(
                    _("Trigger “%(name)s”: the condition on “%(path)s” uses the operator “%(operator)s”, which "
                      "Odoo does not know.", name=self.name, path=shown, operator=operator)
                )
            if operator in conditions.SUBDOMAIN_OPERATORS:
                if not field.relational:
                    raise ValidationError(
                        _("Trigger “%(name)s”: “%(operator)s” needs a field with related records, and “%(path)s” "
                          "is not one.", name=self.name, operator=operator, path=shown)
                    )
                self._check_condition_fields(self.env[field.comodel_name], value, prefix=shown + ".")
                continue
            if not self._condition_value_fits(field, operator, value):
                raise ValidationError(
                    _("Trigger “%(name)s”: the condition compares “%(path)s” (%(type)s) with %(value)s, which is "
                      "not a value of that kind.", name=self.name, path=shown,
                      type=field._description_string(field_model.env), value=repr(value))
                )

    def _condition_field(self, model, path, prefix):
        """The last field of ``path`` (``partner_shipping_id.country_id``) and its model; a clear
        error for an unknown field, a step through a field without related records, or a field the
        user may not read."""
        names = path.removesuffix(".id").split(".") if path != "id" else ["id"]
        field = None
        for index, name in enumerate(names):
            if field is not None:
                if not field.relational:
                    raise ValidationError(
                        _("Trigger “%(name)s”: the condition uses “%(path)s”, but “%(field)s” has no fields of "
                          "its own.", name=self.name, path=prefix + path, field=".".join(names[:index]))
                    )
                model = self.env[field.comodel_name]
            field = model._fields.get(name)
            if field is None:
                raise ValidationError(
                    _("Trigger “%(name)s”: the condition uses “%(path)s”, but %(model)s has no field “%(field)s”.",
                      name=self.name, path=prefix + path, model=self.env["ir.model"].sudo()._get(model._name).name,
                      field=name)
                )
            if not compat.field_readable(model, field):
                raise ValidationError(
                    _("Trigger “%(name)s”: the condition uses “%(path)s”, which you are not allowed to read.",
                      name=self.name, path=prefix + path)
                )
        return field, model

    @api.model
    def _condition_value_fits(self, field, operator, value):
        """Can the ORM compare this field with ``value`` in memory? (Equality never fails; ordering and
        dates do, on a value of another kind.)"""
        values = value if operator in ("in", "not in") and isinstance(value, (list, tuple)) else [value]
        if field.type in _DATE_TYPES and "like" not in operator:
            for item in values:
                if item is False or item is None:
                    continue
                try:
                    if not isinstance(item, str) or not fields.Datetime.to_datetime(item):
                        return False
                except ValueError:
                    return False
            return True
        if operator not in _ORDERING_OPERATORS:
            return True
        if field.type in _NUMBER_TYPES:
            return isinstance(value, (int, float))
        if field.type in _TEXT_TYPES:
            return isinstance(value, str)
        return True

    # ------------------------------------------------------------------
    # Evaluation, inside the business transaction
    # ------------------------------------------------------------------
    def _postback_condition_matches(self, orders):
        """``{trigger id: ids of the orders matching its condition}`` for the triggers of ``self``
        that have a condition (a trigger not in the result fires for every order of its customer).

        Each distinct condition is evaluated once, as the superuser, on the orders of the batch
        that belong to its triggers' customers: ``filtered_domain`` reads the fields it needs for
        all of them at once (they share one prefetch set), so the queries do not grow with the
        number of orders.
        """
        by_condition = defaultdict(list)
        for trigger in self:
            if conditions.has_condition(trigger.condition_domain):
                by_condition[trigger.condition_domain].append(trigger)
        matches = {}
        if not by_condition:
            return matches
        orders = orders.sudo()
        for text, triggers in by_condition.items():
            partner_ids = {trigger.commercial_partner_id.id for trigger in triggers}
            candidates = orders.browse(
                [order.id for order in orders if order.partner_id.commercial_partner_id.id in partner_ids])
            matching = set(self._postback_filter_condition(candidates, text, triggers)._ids) if candidates else set()
            for trigger in triggers:
                matches[trigger.id] = matching
        return matches

    @api.model
    def _postback_filter_condition(self, orders, text, triggers):
        """The orders of ``orders`` matching the condition ``text`` of ``triggers`` (a list).

        A condition that no longer applies (a field removed with its module since it was saved)
        matches no order: the business transaction goes on, and the log says which triggers
        were skipped.
        """
        try:
            return orders.filtered_domain(conditions.parse_condition(text))
        except (conditions.ConditionError, ValueError, TypeError, KeyError, AttributeError) as error:
            _logger.warning(
                "Postback triggers %s: their condition cannot be evaluated (%s); no delivery for orders %s",
                [trigger.id for trigger in triggers], error, orders.ids,
            )
            return orders.browse()

