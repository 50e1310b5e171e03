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


class PostbackTriggerHeader(models.Model):
    _name = "postback.trigger.header"
    _description = "Postback Custom HTTP Header"
    _order = "trigger_id, id"

    trigger_id = fields.Many2one("postback.trigger", required=True, ondelete="cascade", index=True)
    name = fields.Char(required=True, help="e.g. Authorization or X-Api-Key")
    value = fields.Char(groups="postback_connector.group_postback_manager")

    @api.constrains("name", "value")
    def _check_header(self):
        for header in self.sudo():
            name = (header.name or "").strip()
            if not netcheck.is_valid_header_name(name):
                raise ValidationError(
                    _("“%s” is not a valid HTTP header name: use letters, digits and - only, without spaces.")
                    % header.name
                )
            if name.lower() in RESERVED_HEADERS:
                raise ValidationError(_("The header “%s” is set by the connector and cannot be overridden.") % name)
            if header.value and not netcheck.is_valid_header_value(header.value):
                raise ValidationError(_("The value of header “%s” cannot contain line breaks.") % name)
