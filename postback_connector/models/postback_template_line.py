# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..engine import render

VALUE_TYPE_SELECTION = [
    ("auto", "As is"),
    ("string", "Text"),
    ("integer", "Integer"),
    ("number", "Number"),
    ("boolean", "Yes/No"),
    ("date", "Date"),
    ("datetime", "Date and time"),
    ("list", "List"),
    ("json", "Raw JSON"),
]


class PostbackTemplateLine(models.Model):
    _name = "postback.template.line"
    _description = "Postback Template Mapping Line"
    _order = "template_id, sequence, id"

    template_id = fields.Many2one(
        "postback.template", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer(default=10)
    output_path = fields.Char(
        string="Output field",
        required=True,
        help="Where the value goes in the payload, e.g. order_id, shipment.tracking.code "
        "or items[].sku for one entry per order line.",
    )
    source = fields.Char(
        required=True,
        help="Where the value comes from: a path of the incoming data such as "
        "order.reference or order.lines[].sku, or an expression such as "
        "order.amount_total * 100.",
    )
    default = fields.Char(
        help="Used when the source has no value. Left empty, a missing value is sent empty (null)."
    )
    required = fields.Boolean(
        help="Do not send the postback when this value is missing or empty: it fails with an error "
        "naming the value instead (the default is not used).",
    )
    value_type = fields.Selection(VALUE_TYPE_SELECTION, string="Type", default="auto", required=True)
    date_format = fields.Char(
        string="Format", help="For dates: a strftime format such as %d/%m/%Y. Empty = ISO 8601."
    )

    @api.constrains("output_path", "source")
    def _check_paths(self):
        for line in self:
            try:
                render.check_mapping_line(line._to_engine_line())
            except render.RenderError as error:
                raise ValidationError(
                    _("Mapping line “%(output)s”: %(error)s", output=line.output_path, error=error)
                ) from error

    # Record rules are checked before a write only: a line moved (or added) to a
    # template is a change of that template, allowed only to who may edit it.
    @api.model_create_multi
    def create(self, vals_list):
        lines = super().create(vals_list)
        lines._check_template_editable()
        return lines

    def write(self, vals):
        result = super().write(vals)
        if "template_id" in vals:
            self._check_template_editable()
        return result

    def _check_template_editable(self):
        if self.env.su:
            return
        templates = self.sudo().template_id.with_env(self.env)
        templates.check_access("write")
        templates._check_allowed_companies()

    def _to_engine_line(self):
        self.ensure_one()
        return render.MappingLine(
            output_path=(self.output_path or "").strip(),
            source=(self.source or "").strip(),
            default=self.default if self.default not in (False, "") else None,
            value_type=self.value_type or "auto",
            fmt=self.date_format or None,
            required=self.required,
        )
