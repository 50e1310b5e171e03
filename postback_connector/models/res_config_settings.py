# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..engine import retry
from ..engine_i18n import engine_text


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    postback_allow_private_targets = fields.Boolean(
        string="Allow private network targets",
        config_parameter="postback_connector.allow_private_targets",
        help="Allow postbacks to private, loopback and link-local addresses (e.g. a server on your own network).",
    )
    postback_retry_schedule = fields.Char(
        string="Retry schedule",
        config_parameter="postback_connector.retry_schedule",
        default="0, 5s, 5m, 30m, 2h, 5h, 10h, 10h",
    )
    postback_retention_days = fields.Integer(
        string="Keep delivered postbacks (days)", config_parameter="postback_connector.retention_days", default=30
    )
    postback_disable_after_days = fields.Integer(
        string="Disable a failing trigger after (days)",
        config_parameter="postback_connector.disable_after_days",
        default=5,
    )
    postback_max_payload_kb = fields.Integer(
        string="Maximum payload size (KB)", config_parameter="postback_connector.max_payload_kb", default=512
    )
    postback_unordered_delivery = fields.Boolean(
        string="Send events of one order in parallel",
        config_parameter="postback_connector.unordered_delivery",
        help="By default a postback waits while an older one of the same order and trigger is not yet "
        "delivered, so a receiver never gets “shipped” before “received”. Tick to send them independently.",
    )

    postback_runner_count = fields.Integer(
        string="Parallel delivery runners",
        default=1,
        help="How many copies of the delivery cron may run at once, each in its own Odoo worker. "
        "Raise it with the number of cron workers (--max-cron-threads, or servers) for more throughput.",
    )

    @api.model
    def get_values(self):
        values = super().get_values()
        values["postback_runner_count"] = len(self.env["postback.delivery"]._get_runner_crons())
        return values

    def set_values(self):
        super().set_values()
        for settings in self:
            self.env["postback.delivery"]._set_runner_count(settings.postback_runner_count)

    @api.constrains("postback_retry_schedule")
    def _check_postback_retry_schedule(self):
        for settings in self:
            try:
                retry.parse_schedule(settings.postback_retry_schedule or "")
            except ValueError as error:
                raise ValidationError(_("Retry schedule: %s", engine_text(self.env, error))) from error
