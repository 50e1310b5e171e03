# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The customer's technical contact hears about a failing trigger.

A trigger may name a technical contact (one or more email addresses). During
a failing spell (``failing_since`` set, see ``_update_health``) the contact is
emailed, at most once each: when the deliveries have been failing for a while,
shortly before the automatic disable, and when the trigger is disabled (too
long failing, or 410 Gone); and again when a manager re-enables it. The
decision of what is due is ``engine.contact_notice``; the emails are
``mail.template`` records (``data/mail_template_data.xml``) queued in Odoo's
mail queue, in the customer's language, and kept in the trigger's chatter.

Checked where the runner already updates trigger health (no extra query per
delivery) and by a cron every few minutes, for spells during which nothing is
sent (every delivery waiting for a retry hours away). The responsible user's
activity on disable is unchanged.
"""
import logging
import math

import psycopg2
from markupsafe import Markup, escape

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import email_normalize

from ..engine import contact_notice

# The runner (imported before this file) owns the disable delay and the parameter names.
from .postback_delivery_runner import DEFAULT_DISABLE_AFTER_DAYS, PARAM_PREFIX

_logger = logging.getLogger(__name__)

DEFAULT_NOTICE_AFTER_HOURS = 1.0
DEFAULT_WARN_BEFORE_HOURS = 24.0
#: Triggers the cron looks at per call (the others wait for its next call).
CRON_BATCH = 200
#: Characters of the receiver's last answer quoted in an email.
LAST_ANSWER_LIMIT = 500
#: Context key naming why ``_disable_with_notice`` disables ("failing", "gone").
DISABLE_CAUSE_KEY = "postback_disable_cause"
TEMPLATES = {
    contact_notice.FAILING: "postback_connector.mail_template_trigger_failing",
    contact_notice.WARNING: "postback_connector.mail_template_trigger_disable_warning",
    "disabled": "postback_connector.mail_template_trigger_disabled",
    "resumed": "postback_connector.mail_template_trigger_resumed",
}


class PostbackTrigger(models.Model):
    _inherit = "postback.trigger"

    technical_contact_email = fields.Char(
        string="Technical contact",
        tracking=True,
        help="The customer's technical contact (several addresses: separate them with commas). Emailed when "
        "the postbacks have been failing for a while, shortly before the trigger is disabled automatically, "
        "and when it is disabled or re-enabled. Empty: only the responsible user is told.",
    )
    failure_notice_sent_at = fields.Datetime(
        string="Contact told of the failures on", copy=False, readonly=True,
        help="When the technical contact was told that the postbacks are failing (this failing spell).",
    )
    disable_warning_sent_at = fields.Datetime(
        string="Contact warned of the disable on", copy=False, readonly=True,
        help="When the technical contact was warned that the trigger will be disabled (this failing spell).",
    )

    @api.constrains("technical_contact_email")
    def _check_technical_contact_email(self):
        for trigger in self.filtered("technical_contact_email"):
            if not all(email_normalize(part) for part in trigger.technical_contact_email.split(",")):
                raise ValidationError(
                    _("Trigger “%(name)s”: “%(email)s” is not a valid email address for the technical contact; "
                      "separate several addresses with commas.",
                      name=trigger.name, email=trigger.technical_contact_email)
                )

    def write(self, vals):
        if "failing_since" in vals and not vals["failing_since"]:
            # The failing spell is over (a delivery got through, or re-enabled): the
            # next spell tells the contact again.
            vals = dict(vals, failure_notice_sent_at=False, disable_warning_sent_at=False)
        return super().write(vals)

    # ------------------------------------------------------------------
    # The moments
    # ------------------------------------------------------------------
    @api.model
    def _update_health(self, delivered_ids, failed_ids, gone, settings):
        # The cause rides on the records' context down to _disable_with_notice.
        failing = self.with_context(**{DISABLE_CAUSE_KEY: "failing"})
        gone_now = self.with_context(**{DISABLE_CAUSE_KEY: "gone"})
        result = super(PostbackTrigger, failing)._update_health(
            delivered_ids, failed_ids, {tid: gone_now.browse(tid) for tid in gone}, settings)
        still_failing = self.browse(set(failed_ids) - set(delivered_ids) - set(gone))
        if still_failing:
            # Read from the cache filled by super(): no query unless an email is due.
            policy = self._contact_notice_policy(settings["disable_after_days"])
            still_failing._send_due_contact_notices(policy, fields.Datetime.now())
        return result

    def _disable_with_notice(self, reason):
        was_disabled = self.state == "disabled"
        result = super()._disable_with_notice(reason)
        if not was_disabled and self.state == "disabled":
            self._tell_technical_contact("disabled")
        return result

    def _activate(self):
        re_enabled = self.filtered(lambda t: t.state == "disabled")
        result = super()._activate()
        re_enabled._tell_technical_contact("resumed")
        return result

    @api.model
    def _cron_notify_technical_contacts(self, limit=CRON_BATCH):
        """Tell the contacts of failing triggers whose notice is due, also when nothing is being sent.

        One search of the active failing triggers with a contact and a notice due.
        """
        policy = self._contact_notice_policy()
        now = fields.Datetime.now()
        domain = [
            ("state", "=", "active"),
            ("technical_contact_email", "!=", False),
            ("failing_since", "<=", policy.earliest_failing_since(now)),
        ]
        if policy.warn_before:
            domain += ["|", ("failure_notice_sent_at", "=", False),
                       "&", ("disable_warning_sent_at", "=", False),
                       ("failing_since", "<=", policy.warning_failing_since(now))]
        else:
            domain.append(("failure_notice_sent_at", "=", False))
        triggers = self.sudo().search(domain, order="failing_since, id", limit=limit)
        triggers._send_due_contact_notices(policy, now)
        return len(triggers)

    def _send_due_contact_notices(self, policy, now):
        """Send each active trigger's due notice (failing, or the disable warning), once per spell."""
        for trigger in self:
            if trigger.state != "active" or not trigger.active or not trigger.technical_contact_email:
                continue
            notice = contact_notice.due_notice(
                policy, now, trigger.failing_since,
                failure_sent=bool(trigger.failure_notice_sent_at),
                warning_sent=bool(trigger.disable_warning_sent_at))
            if notice and trigger._tell_technical_contact(notice):
                values = {"failure_notice_sent_at": trigger.failure_notice_sent_at or now}
                if notice == contact_notice.WARNING:
                    values["disable_warning_sent_at"] = now
                trigger.write(values)

    # ------------------------------------------------------------------
    # The emails
    # ------------------------------------------------------------------
    def _tell_technical_contact(self, kind):
        """Queue the email ``kind`` (see TEMPLATES) to the triggers' technical contacts.

        The email goes through Odoo's mail queue (woken at once); its message stays
        in the trigger's chatter, saying to whom it went. An email that cannot be
        made never stops what called it (the runner, an activation): it is logged
        and noted once in the chatter, and counts as told (no note every few
        minutes). False when nothing was tried: no contact, or the template is gone.
        """
        triggers = self.filtered("technical_contact_email")
        template = self.env.ref(TEMPLATES[kind], raise_if_not_found=False)
        if not triggers or not template:
            return False
        template = template.sudo().with_context(**{DISABLE_CAUSE_KEY: self.env.context.get(DISABLE_CAUSE_KEY)})
        for trigger in triggers:
            try:
                with self.env.cr.savepoint():
                    # Only the technical contact: never the record's default recipients (Odoo 19's
                    # templates add the trigger's customer unless told otherwise).
                    mail = self.env["mail.mail"].sudo().browse(template.send_mail(
                        trigger.id, email_values={"email_to": trigger.technical_contact_email,
                                                  "recipient_ids": [(6, 0, [])]}))
                    # The chatter says who got it; the email itself (body_html) is unchanged.
                    mail.mail_message_id.body = Markup("<p><em>%s</em></p>%s") % (
                        _("Sent to the technical contact %s:", trigger.technical_contact_email),
                        Markup(mail.body_html or ""))
            except psycopg2.errors.SerializationFailure:
                raise  # the runner retries the whole health update
            except Exception as error:  # a notice never stops the runner or an activation
                _logger.warning("Postback trigger %s: the technical contact could not be emailed",
                                trigger.id, exc_info=True)
                detail = trigger._hide_header_values(" ".join(str(error).split())) or type(error).__name__
                trigger.sudo().message_post(
                    body=escape(_("The technical contact could not be emailed (%s). Check the email templates "
                                  "in Settings → Technical → Email Templates.", detail)),
                    subtype_xmlid="mail.mt_note")
        cron = self.env.ref("mail.ir_cron_mail_scheduler_action", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger()
        return True

    def _contact_notice_values(self):
        """What the technical contact's emails show (read by the mail templates).

        The target without query string, the last error and the receiver's last
        answer with every custom header value masked: nothing secret.
        """
        self.ensure_one()
        trigger = self.sudo()
        secrets = trigger._header_secrets()
        deliveries = self.env["postback.delivery"].sudo()
        counts = dict(deliveries._read_group(
            [("trigger_id", "=", trigger.id), ("state", "in", ("pending", "held", "failed"))],
            ["state"], ["__count"]))
        last = deliveries.search(
            [("trigger_id", "=", trigger.id), ("last_error", "!=", False),
             ("state", "in", ("pending", "held", "failed"))],
            order="write_date desc, id desc", limit=1)
        attempt = last.attempt_ids.sorted(lambda a: (a.attempted_at, a.id), reverse=True)[:1]
        answer = ""
        if attempt.status_code:
            answer = "HTTP %s %s" % (attempt.status_code, attempt.response_body or "")
        answer = trigger._hide_header_values(answer.strip(), secrets)
        if len(answer) > LAST_ANSWER_LIMIT:
            answer = answer[:LAST_ANSWER_LIMIT] + " [...]"
        target = contact_notice.public_url(trigger.url) if trigger.channel == "url" else trigger.email_to
        policy = self._contact_notice_policy()
        return {
            "target": trigger._hide_header_values(target or "", secrets),
            "failing_since": trigger.failing_since,
            "disable_on": policy.disable_at(trigger.failing_since) if trigger.failing_since else False,
            "last_error": trigger._hide_header_values(last.last_error or "", secrets),
            "last_answer": answer,
            "waiting": counts.get("pending", 0) + counts.get("held", 0),
            "failed": counts.get("failed", 0),
            "tz": trigger.partner_id.tz or trigger.user_id.tz or "UTC",
            "company": trigger.company_id.name,
            "cause": self.env.context.get(DISABLE_CAUSE_KEY),
        }

    # ------------------------------------------------------------------
    # Settings
    # ------------------------------------------------------------------
    @api.model
    def _contact_notice_policy(self, disable_after_days=None):
        if disable_after_days is None:
            disable_after_days = self.env["postback.delivery"]._get_int_param(
                "disable_after_days", DEFAULT_DISABLE_AFTER_DAYS)
        return contact_notice.NoticePolicy.from_hours(
            self._get_float_param("contact_notice_after_hours", DEFAULT_NOTICE_AFTER_HOURS),
            self._get_float_param("contact_warn_before_hours", DEFAULT_WARN_BEFORE_HOURS),
            disable_after_days,
        )

    @api.model
    def _get_float_param(self, key, default):
        value = self.env["ir.config_parameter"].sudo().get_param(PARAM_PREFIX + key)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return default
        return number if math.isfinite(number) else default
