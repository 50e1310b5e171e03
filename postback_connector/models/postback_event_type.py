# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json

from odoo import _, api, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools.misc import file_open

from .. import compat

# The eight order events of the product, in the order the merchant reads them.
EVENT_CODES = (
    "order.received",
    "order.failed",
    "order.canceled",
    "order.returned",
    "order.completed",
    "order.delivered",
    "order.shipped",
    "order.in_transit",
)


class PostbackEventType(models.Model):
    _name = "postback.event.type"
    _description = "Postback Event Type"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    code = fields.Char(required=True, readonly=True, index=True)
    sequence = fields.Integer(default=10)
    description = fields.Text(translate=True)
    sample_payload = fields.Text(
        compute="_compute_sample_payload",
        help="A realistic example of the input data this event produces. "
        "Templates are designed against it.",
    )

    _code_unique = compat.Constraint("unique(code)", "An event type with this code already exists.")

    @api.depends("code")
    def _compute_sample_payload(self):
        for event_type in self:
            data = event_type._get_sample_data()
            event_type.sample_payload = (
                json.dumps(data, indent=2, ensure_ascii=False) if data else False
            )

    @api.model_create_multi
    def create(self, vals_list):
        self.env.registry.clear_cache()
        return super().create(vals_list)

    def write(self, vals):
        if "code" in vals:
            # The code is what the order hooks match on: fixed by the module (its data
            # files, run as the superuser), never by a user over RPC.
            if not self.env.su and any(t.code != vals["code"] for t in self):
                raise UserError(_("The code of an order event is fixed; change its name instead."))
            self.env.registry.clear_cache()
        return super().write(vals)

    @api.model
    @tools.ormcache()
    def _get_ids_by_code(self):
        """{code: id} of all event types, cached: the event hooks run on every order change."""
        return {row["code"]: row["id"] for row in self.sudo().search_read([], ["code"])}

    def _get_sample_data(self):
        """Return the shipped sample input document of this event type as a dict.

        The samples live in ``data/samples/<code>.json`` so they ship with the code
        that produces the real documents; a test keeps both in sync.
        """
        self.ensure_one()
        if not self.code:
            return {}
        path = "postback_connector/data/samples/%s.json" % self.code.replace(".", "_")
        try:
            with file_open(path, "r") as sample_file:
                return json.load(sample_file)
        except FileNotFoundError:
            return {}
