# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from ..engine import formats, render
from ..engine_i18n import engine_text

PREVIEW_INDENT = 2


class PostbackTemplate(models.Model):
    _name = "postback.template"
    _description = "Postback Template"
    _inherit = ["mail.thread"]
    _order = "name, id"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company", default=lambda self: self.env.company, index=True
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        index=True,
        tracking=True,
        help="Leave empty for a global template that any trigger can reuse.",
    )
    event_type_id = fields.Many2one(
        "postback.event.type",
        string="Designed for",
        default=lambda self: self.env.ref(
            "postback_connector.event_type_order_received", raise_if_not_found=False
        ),
        help="The event whose sample data the template is designed against.",
    )
    sample_source = fields.Selection(
        [("event", "Sample data of the event"), ("custom", "Custom data")],
        string="Input data",
        default="event",
        required=True,
    )
    custom_sample = fields.Text(
        string="Custom data",
        help="Paste a JSON document shaped like the incoming data to design against it.",
    )
    mode = fields.Selection(
        [("mapper", "Template Mapper"), ("advanced", "Advanced (Jinja2)")],
        default="mapper",
        required=True,
        tracking=True,
    )
    payload_format = fields.Selection(
        [("json", "JSON"), ("xml", "XML"), ("form", "Form (URL-encoded)")],
        string="Format",
        default="json",
        required=True,
        tracking=True,
        help="The format of the preview, and the language of an advanced body. Each trigger sends in its own "
        "format: the same Template Mapper lines give JSON (application/json), XML (application/xml) or a form "
        "body (application/x-www-form-urlencoded, nested fields as order[lines][0][sku]); an advanced body "
        "written in XML is sent as XML only, one written in JSON as JSON or form.",
    )
    xml_root = fields.Char(
        string="XML root element", default=formats.DEFAULT_XML_ROOT,
        help="The name of the element that holds the whole message.",
    )
    xml_namespace = fields.Char(
        string="XML namespace",
        help="Optional: the default namespace of every element, e.g. urn:example:orders:1.",
    )
    line_ids = fields.One2many(
        "postback.template.line", "template_id", string="Mapping", copy=True
    )
    body = fields.Text(
        string="Advanced body",
        help="A Jinja2 text that renders JSON (for the JSON and form formats: use the tojson filter for values, "
        'e.g. {"ref": {{ order.reference | tojson }}}) or, for the XML format, the XML itself (values are '
        "escaped for XML, e.g. <ref>{{ order.reference }}</ref>).",
    )
    trigger_ids = fields.One2many("postback.trigger", "template_id", string="Triggers")
    trigger_event_type_ids = fields.Many2many(
        "postback.event.type",
        string="Events of its triggers",
        compute="_compute_trigger_event_type_ids",
        help="The events of the triggers that use this template: the template is checked against "
        "the sample data of each of them before a trigger goes live.",
    )
    trigger_count = fields.Integer(compute="_compute_trigger_count")
    input_preview = fields.Text(string="Incoming data", compute="_compute_preview")
    available_paths = fields.Text(string="Available input paths", compute="_compute_preview")
    preview_payload = fields.Text(string="Preview", compute="_compute_preview")
    preview_error = fields.Text(string="Preview error", compute="_compute_preview")

    @api.depends("trigger_ids")
    def _compute_trigger_count(self):
        groups = self.env["postback.trigger"]._read_group(
            [("template_id", "in", self.ids)], ["template_id"], ["__count"]
        )
        counts = {template.id: count for template, count in groups}
        for template in self:
            template.trigger_count = counts.get(template.id, 0)

    @api.depends("trigger_ids.event_type_ids")
    def _compute_trigger_event_type_ids(self):
        for template in self:
            # Only event types (public data) come out of the sudo: which events use the template.
            template.trigger_event_type_ids = template.sudo().with_context(active_test=False).trigger_ids.event_type_ids

    @api.depends(
        "mode",
        "body",
        "payload_format",
        "xml_root",
        "xml_namespace",
        "sample_source",
        "custom_sample",
        "event_type_id",
        "line_ids.output_path",
        "line_ids.source",
        "line_ids.default",
        "line_ids.if_missing",
        "line_ids.value_type",
        "line_ids.date_format",
        "line_ids.sequence",
    )
    def _compute_preview(self):
        for template in self:
            template.input_preview = False
            template.available_paths = False
            template.preview_payload = False
            template.preview_error = False
            try:
                data = template._get_design_data()
            except render.RenderError as error:
                template.preview_error = engine_text(self.env, error)
                continue
            template.input_preview = json.dumps(data, indent=PREVIEW_INDENT, ensure_ascii=False)
            types = template._path_type_labels()
            template.available_paths = "\n".join(
                "%s  (%s)  %s" % (path, types.get(kind, kind), example)
                for path, kind, example in render.list_paths(data)
            )
            payload, error = template._preview_for(data)
            template.preview_payload = payload
            template.preview_error = error

    def _path_type_labels(self):
        """The engine's value kinds (list_paths) in the user's language."""
        return {
            "string": self.env._("text"),
            "integer": self.env._("integer"),
            "number": self.env._("number"),
            "boolean": self.env._("true/false"),
            "list": self.env._("list"),
            "object": self.env._("object"),
            "null": self.env._("null"),
        }

    @api.constrains("custom_sample", "sample_source")
    def _check_custom_sample(self):
        for template in self.filtered(lambda t: t.sample_source == "custom"):
            if not (template.custom_sample or "").strip():
                raise ValidationError(
                    _("Template “%s”: paste the custom data, or use the sample data of the event.", template.name)
                )
            try:
                render.parse_json_sample(template.custom_sample)
            except render.RenderError as error:
                raise ValidationError(
                    _("Template “%(name)s”: %(error)s", name=template.name, error=engine_text(self.env, error))
                ) from error

    @api.constrains("payload_format", "xml_root", "xml_namespace")
    def _check_xml_root(self):
        for template in self.filtered(lambda t: t.payload_format == "xml" and t.mode == "mapper"):
            try:
                formats.check_xml_name((template.xml_root or formats.DEFAULT_XML_ROOT).strip())
                formats.check_namespace(template.xml_namespace)
            except render.RenderError as error:
                raise ValidationError(
                    _("Template “%(name)s”: %(error)s", name=template.name,
                      error=engine_text(self.env, error))
                ) from error

    @api.constrains("mode", "body", "payload_format")
    def _check_body(self):
        for template in self.filtered(lambda t: t.mode == "advanced"):
            if not (template.body or "").strip():
                raise ValidationError(
                    _("Template “%s”: write the advanced body, or switch back to the Template Mapper.",
                      template.name)
                )
            try:
                render.check_body_syntax(template.body, xml=template.payload_format == "xml")
            except render.RenderError as error:
                raise ValidationError(
                    _("Template “%(name)s”: %(error)s", name=template.name, error=engine_text(self.env, error))
                ) from error

    @api.constrains("company_id")
    def _check_company_of_triggers(self):
        for template in self.sudo():
            triggers = template.with_context(active_test=False).trigger_ids
            if template.company_id and triggers.filtered(lambda t, c=template.company_id: t.company_id != c):
                raise ValidationError(
                    _("Template “%s” is used by triggers of another company: it must stay global or in their company.",
                      template.name)
                )

    def write(self, vals):
        result = super().write(vals)
        if "company_id" in vals:
            # Record rules are checked before a write only: never move a template
            # into a company its author does not work in.
            self._check_allowed_companies()
        return result

    def _check_allowed_companies(self):
        """Global templates, or templates of the companies the user works in now."""
        if self.env.su:
            return
        if any(t.company_id and t.company_id not in self.env.companies for t in self.sudo()):
            raise AccessError(_("This template belongs to a company you are not working in."))

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        if not (default or {}).get("name"):
            for template, vals in zip(self, vals_list, strict=True):
                vals["name"] = _("%s (copy)", template.name)
        return vals_list

    def action_switch_to_advanced(self):
        """Pre-fill the advanced body from the mapping so nothing has to be retyped."""
        for template in self:
            lines = template._get_mapping_lines()
            try:
                body = render.mapping_to_xml_body(lines, template.xml_root, template.xml_namespace) \
                    if template.payload_format == "xml" else render.mapping_to_body(lines)
            except render.RenderError as error:
                raise UserError(
                    _("Template “%(name)s” cannot be converted to an advanced body: %(error)s", name=template.name,
                      error=engine_text(self.env, error))
                ) from error
            template.write({"body": body, "mode": "advanced"})
        return True

    def action_switch_to_mapper(self):
        self.write({"mode": "mapper"})
        return True

    def action_open_preview(self):
        self.ensure_one()
        self.env["postback.trigger"]._postback_check_group(_("Only Postback users can preview a template."))
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": _("Preview"),
            "res_model": "postback.template.preview",
            "view_mode": "form",
            "target": "new",
            "context": {"default_template_id": self.id},
        }

    def action_view_triggers(self):
        self.ensure_one()
        self.env["postback.trigger"]._postback_check_group()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "postback_connector.postback_trigger_action"
        )
        action["domain"] = [("template_id", "=", self.id)]
        action["context"] = {"default_template_id": self.id, "default_partner_id": self.partner_id.id}
        return action

    def action_duplicate(self):
        """Copy the template (e.g. to adapt it for another customer) and open the copy."""
        self.ensure_one()
        duplicate = self.copy()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": duplicate.id,
            "view_mode": "form",
            "target": "current",
        }

    # ------------------------------------------------------------------
    # Rendering
    # ------------------------------------------------------------------
    def _get_design_data(self):
        """The input document the template is designed against (shipped or custom sample)."""
        self.ensure_one()
        if self.sample_source == "custom" and (self.custom_sample or "").strip():
            return render.parse_json_sample(self.custom_sample)
        if self.event_type_id:
            return self.event_type_id._get_sample_data()
        return {}

    def _design_data_label(self):
        """Where :meth:`_get_design_data` comes from, for the merchant."""
        self.ensure_one()
        if self.sample_source == "custom" and (self.custom_sample or "").strip():
            return _("the custom data of template “%s”", self.name)
        if self.event_type_id:
            return _("the sample data of “%s”", self.event_type_id.name)
        return _("no data (the template is designed for no event)")

    def _get_mapping_lines(self):
        self.ensure_one()
        return [line._to_engine_line() for line in self.line_ids.sorted("sequence")]

    def _format_mismatch(self, fmt):
        """Why the template cannot be sent in ``fmt`` (an advanced body is written in one
        language), or False."""
        self.ensure_one()
        if self.mode != "advanced" or not fmt or (self.payload_format == "xml") == (fmt == "xml"):
            return False
        labels = dict(self._fields["payload_format"]._description_selection(self.env))
        return _("its advanced body is written in %(written)s, it cannot be sent as %(wanted)s: choose the "
                 "%(written)s format on the trigger, or another template",
                 written=labels.get("xml" if self.payload_format == "xml" else "json"),
                 wanted=labels.get(fmt, fmt))

    def _get_render_spec(self, fmt=None):
        """Plain, hashable description of the template rendered in ``fmt`` (by default its own
        format), safe to use outside the ORM: ``(kind, body or lines, format, XML root, XML namespace)``."""
        self.ensure_one()
        value = self.body or "" if self.mode == "advanced" else tuple(self._get_mapping_lines())
        if self.mode == "advanced":
            # The body's own language decides how it is read (a mismatch is refused before a send).
            fmt = formats.XML if self.payload_format == formats.XML else (
                fmt if fmt in (formats.JSON, formats.FORM) else formats.JSON)
        return (self.mode, value, fmt or self.payload_format or formats.JSON,
                self.xml_root or formats.DEFAULT_XML_ROOT, self.xml_namespace or None)

    @staticmethod
    def _render_spec(spec, data):
        """Render ``data`` with a spec from :meth:`_get_render_spec` into payload bytes."""
        return render.render_payload(*spec, data)

    def _render_payload(self, data, fmt=None):
        """Render the template over ``data`` in ``fmt``; return the payload bytes or raise RenderError."""
        self.ensure_one()
        return self._render_spec(self._get_render_spec(fmt), data)

    def _preview_for(self, data, fmt=None):
        """Return ``(pretty payload, error message)`` for ``data`` in ``fmt``, never raising."""
        self.ensure_one()
        mismatch = self._format_mismatch(fmt)
        if mismatch:
            return False, _("Template “%(name)s”: %(error)s.", name=self.name, error=mismatch)
        try:
            payload = self._render_payload(data, fmt)
        except render.RenderError as error:
            return False, engine_text(self.env, error)
        return formats.pretty(payload, fmt or self.payload_format), False

    def _event_failures(self, event_types, fmt=None):
        """``[(event type, error text)]`` for each event whose sample data the template fails on."""
        self.ensure_one()
        spec = self._get_render_spec(fmt)
        failures = []
        for event_type in event_types:
            try:
                self._render_spec(spec, event_type._get_sample_data())
            except render.RenderError as error:
                failures.append((event_type, engine_text(self.env, error)))
        return failures

    def _check_live_triggers(self):
        """A template used by an active trigger must render every event of those triggers."""
        triggers = self.env["postback.trigger"].sudo().search(
            [("template_id", "in", self.ids), ("state", "=", "active")]
        )
        for template in self:
            failures = []
            for trigger in triggers.filtered(lambda t, tmpl=template: t.template_id == tmpl):
                mismatch = template._format_mismatch(trigger.payload_format)
                if mismatch:
                    raise ValidationError(
                        _("Template “%(name)s” is used by the active trigger “%(trigger)s”: %(error)s.",
                          name=template.name, trigger=trigger.name, error=mismatch))
                failures += template.sudo()._event_failures(trigger.event_type_ids, trigger.payload_format)
            if failures:
                event_type, error = failures[0]
                raise ValidationError(
                    _("Template “%(name)s” is used by an active trigger and would fail on the event "
                      "“%(event)s”: %(error)s. Fix it, or deactivate the trigger first.",
                      name=template.name, event=event_type.name, error=error.rstrip("."))
                )

    @api.constrains("mode", "body", "line_ids", "payload_format", "xml_root", "xml_namespace")
    def _check_active_triggers_still_render(self):
        self._check_live_triggers()

    def _check_renders(self, data, fmt=None):
        """Raise a UserError with the render error, for buttons that need a valid payload."""
        self.ensure_one()
        mismatch = self._format_mismatch(fmt)
        if mismatch:
            raise UserError(_("Template “%(name)s”: %(error)s.", name=self.name, error=mismatch))
        try:
            return self._render_payload(data, fmt)
        except render.RenderError as error:
            raise UserError(
                _("Template “%(name)s” cannot be rendered: %(error)s", name=self.name,
                  error=engine_text(self.env, error))
            ) from error
