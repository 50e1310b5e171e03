# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..engine import netcheck

# Headers the connector sets itself; letting a merchant override them would break
# signature verification or the request framing.
RESERVED_HEADERS = {
    "content-length",
    "content-type",
    "host",
    "transfer-encoding",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
}


def header_value_problem(value):
    """What makes ``value`` unfit for an HTTP header field, or None.

    HTTP carries visible ASCII and Latin-1 text (RFC 9110 field-value: VCHAR,
    obs-text, inner spaces); ``requests``/``http.client`` refuse anything else at
    send time, so it is refused here, when the merchant can still fix it:

    - ``"edges"``: leading or trailing whitespace, including the non-breaking
      space (U+00A0) that copy-paste brings along with tokens;
    - ``"line_break"``: CR or LF (would split the request);
    - ``"control"``: any other control character (C0, DEL, C1);
    - ``"charset"``: a character outside Latin-1 (emoji, typographic quotes...).

    The value itself never goes into a message: it is a secret.
    """
    if not value:
        return None
    if value != value.strip() or value[0] == "\u00a0" or value[-1] == "\u00a0":
        return "edges"
    for char in value:
        code = ord(char)
        if char in "\r\n":
            return "line_break"
        if code < 0x20 or code == 0x7F or 0x80 <= code <= 0x9F:
            return "control"
        if code > 0xFF:
            return "charset"
    return None


class PostbackTriggerHeader(models.Model):
    _name = "postback.trigger.header"
    _description = "Postback Custom HTTP Header"
    _order = "trigger_id, id"

    trigger_id = fields.Many2one("postback.trigger", required=True, ondelete="cascade", index=True)
    name = fields.Char(required=True, help="e.g. Authorization or X-Api-Key")
    # A secret (Authorization tokens, API keys): managers only, like the signing
    # secret; never tracked, logged, echoed in a message or stored in an attempt.
    value = fields.Char(groups="postback_connector.group_postback_manager")

    @api.constrains("name", "value")
    def _check_header(self):
        for header in self.sudo():
            name = (header.name or "").strip()
            if not netcheck.is_valid_header_name(name):
                # Not echoed: a token pasted in the wrong column would end up in the message.
                raise ValidationError(
                    _("A custom header name is not valid: use letters, digits and - only, without spaces "
                      "(e.g. Authorization or X-Api-Key).")
                )
            if name.lower() in RESERVED_HEADERS:
                raise ValidationError(_("The header “%s” is set by the connector and cannot be overridden.", name))
            problem = header_value_problem(header.value)
            if problem == "edges":
                raise ValidationError(
                    _("The value of header “%s” starts or ends with a space (maybe a non-breaking space "
                      "copied with it): remove it.", name)
                )
            if problem == "line_break":
                raise ValidationError(_("The value of header “%s” cannot contain line breaks.", name))
            if problem == "control":
                raise ValidationError(
                    _("The value of header “%s” contains invisible control characters: type it again.", name)
                )
            if problem == "charset":
                raise ValidationError(
                    _("The value of header “%s” contains characters an HTTP header cannot carry: use plain "
                      "text (letters, digits and symbols of ASCII or Latin-1, no emoji or typographic quotes).",
                      name)
                )

    # Record rules are checked before a write only: a header moved (or added) to a
    # trigger is a change of that trigger, allowed only to who may edit it.
    @api.model_create_multi
    def create(self, vals_list):
        headers = super().create(vals_list)
        headers._check_trigger_editable()
        return headers

    def write(self, vals):
        result = super().write(vals)
        if "trigger_id" in vals:
            self._check_trigger_editable()
        return result

    def _check_trigger_editable(self):
        if self.env.su:
            return
        triggers = self.sudo().trigger_id.with_env(self.env)
        triggers.check_access("write")
        triggers._check_allowed_companies()
