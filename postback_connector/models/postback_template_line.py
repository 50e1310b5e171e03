# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..engine import render
from ..engine_i18n import engine_text

IF_MISSING_SELECTION = [
    ("default", "Use the default"),
    ("omit", "Leave the field out"),
    ("null", "Send null"),
    ("required", "Required"),
]

#: Characters of a line's value shown in the Template Mapper's Value column.
PREVIEW_VALUE_LIMIT = 80

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
        help="Used when the source has no value (with “Use the default”). Left empty, the empty value "
        "is sent: empty text, an empty list, or null for numbers, dates and yes/no."
    )
    if_missing = fields.Selection(
        IF_MISSING_SELECTION,
        string="When missing",
        default="default",
        required=True,
        help="What is sent when the source has no value: the path does not exist, an object on the way "
        "is missing (no shipment yet on a received order), or the value is empty.\n"
        "Use the default: the Default column (an empty default is the empty value).\n"
        "Leave the field out: the output has no such field.\n"
        "Send null: the JSON value null.\n"
        "Required: the postback is not sent; it fails with an error naming the value.",
    )
    value_type = fields.Selection(VALUE_TYPE_SELECTION, string="Type", default="auto", required=True)
    date_format = fields.Char(
        string="Format", help="For dates: a strftime format such as %d/%m/%Y. Empty = ISO 8601."
    )

    preview_value = fields.Char(
        string="Value",
        compute="_compute_preview_value",
        help="What this line sends on the template's current input data (sample, custom data), "
        "or why it fails.",
    )
    preview_failed = fields.Boolean(compute="_compute_preview_value")

    @api.depends(
        "output_path",
        "source",
        "default",
        "if_missing",
        "value_type",
        "date_format",
        "template_id.sample_source",
        "template_id.custom_sample",
        "template_id.event_type_id",
        "template_id.line_ids.output_path",
        "template_id.line_ids.source",
    )
    def _compute_preview_value(self):
        self.preview_value = False
        self.preview_failed = False
        for template in self.template_id:
            try:
                data = template._get_design_data()
            except render.RenderError:
                continue  # the template's preview already says what is wrong with its data
            # A row still being typed (no output field or source yet) has no value
            # and must not turn the others' values into errors.
            siblings = template.line_ids.sorted("sequence").filtered(
                lambda line: (line.output_path or "").strip() and (line.source or "").strip()
            )
            results = render.preview_lines([line._to_engine_line() for line in siblings], data)
            for line, (value, error) in zip(siblings, results, strict=True):
                if line not in self:
                    continue
                if error is not None:
                    line.preview_failed = True
                    line.preview_value = engine_text(self.env, error)
                else:
                    line.preview_value = self._preview_text(value)

    def _preview_text(self, value):
        if value is render.LEFT_OUT:
            return self.env._("(left out)")
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        if len(text) > PREVIEW_VALUE_LIMIT:
            text = text[: PREVIEW_VALUE_LIMIT - 1] + "…"
        return text

    @api.constrains("output_path", "source")
    def _check_paths(self):
        for line in self:
            try:
                render.check_mapping_line(line._to_engine_line())
            except render.RenderError as error:
                raise ValidationError(
                    _("Mapping line “%(output)s”: %(error)s", output=line.output_path,
                      error=engine_text(self.env, error))
                ) from error

    @api.constrains("output_path", "source", "default", "value_type", "date_format", "if_missing")
    def _check_active_triggers_still_render(self):
        self.template_id._check_live_triggers()

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
            if_missing=self.if_missing or "default",
        )
