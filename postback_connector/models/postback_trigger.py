# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
import time
import uuid

from markupsafe import escape

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import email_normalize

from ..engine import formats, lifecycle, netcheck, render, signing
from ..engine import http as engine_http
from ..engine_i18n import engine_text

DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 60.0
DEFAULT_EMAIL_SUBJECT = "{{ event.type }} – order {{ order.reference }}"
# How long the previous signing secret stays valid after a rotation.
SECRET_ROTATION_OVERLAP_HOURS = 24
TEST_RESPONSE_PREVIEW = 1000


class PostbackTrigger(models.Model):
    _name = "postback.trigger"
    _description = "Postback Trigger"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "partner_id, name, id"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company, index=True
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        ondelete="cascade",
        index=True,
        tracking=True,
        domain="[('parent_id', '=', False)]",
    )
    commercial_partner_id = fields.Many2one(
        related="partner_id.commercial_partner_id", store=True, index=True, string="Commercial Entity"
    )
    user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        tracking=True,
        help="Notified when the trigger is disabled because its deliveries keep failing.",
    )
    event_type_ids = fields.Many2many(
        "postback.event.type", string="Events", help="The order events that fire this trigger."
    )
    template_id = fields.Many2one(
        "postback.template",
        string="Template",
        tracking=True,
        ondelete="restrict",
        domain="['|', ('partner_id', '=', False), ('partner_id', '=', partner_id)]",
    )
    channel = fields.Selection(
        [("url", "URL"), ("email", "Email")],
        string="Delivery method",
        required=True,
        default="url",
        tracking=True,
    )
    url = fields.Char(string="URL", tracking=True)
    endpoint_id = fields.Many2one(
        "postback.endpoint", string="Endpoint", readonly=True, index=True, copy=False, ondelete="set null",
        help="The receiving server (scheme, host and port) and its health, shared by every trigger sending there.",
    )
    endpoint_health = fields.Selection(related="endpoint_id.health", string="Endpoint health")
    endpoint_cooldown_until = fields.Datetime(related="endpoint_id.cooldown_until", string="Endpoint paused until")
    endpoint_last_error = fields.Text(related="endpoint_id.last_error", string="Endpoint last error")
    http_method = fields.Selection(
        [("POST", "POST"), ("PUT", "PUT")], string="Method", default="POST", required=True
    )
    payload_format = fields.Selection(
        [("json", "JSON"), ("xml", "XML"), ("form", "Form (URL-encoded)")],
        string="Format", default="json", required=True, tracking=True,
        help="How the body is written: JSON (application/json), XML (application/xml) or a form body "
        "(application/x-www-form-urlencoded). An email attaches it as a .json, .xml or .txt file.",
    )
    header_ids = fields.One2many(
        "postback.trigger.header", "trigger_id", string="Custom headers", copy=True
    )
    timeout = fields.Float(
        string="Timeout (seconds)",
        default=DEFAULT_TIMEOUT,
        help="Seconds to wait for the customer's server to answer, from connecting to the last byte.",
    )
    retry_on_failure = fields.Boolean(
        string="Retry on Failure",
        default=True,
        help="Retry a failed delivery on a schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) "
        "instead of giving up after the first failure.",
    )
    secret = fields.Char(
        string="Signing secret (full)",
        copy=False,
        groups="postback_connector.group_postback_manager",
        default=lambda self: signing.generate_secret(),
    )
    secret_previous = fields.Char(
        string="Previous signing secret", copy=False, groups="postback_connector.group_postback_manager"
    )
    secret_previous_expires_at = fields.Datetime(
        string="Previous secret valid until", copy=False, groups="postback_connector.group_postback_manager"
    )
    secret_hint = fields.Char(
        string="Signing secret (hint)", compute="_compute_secret_hint", compute_sudo=True
    )
    secret_revealed = fields.Boolean(
        string="Secret already shown", copy=False, groups="postback_connector.group_postback_manager"
    )
    email_to = fields.Char(
        string="Email address",
        compute="_compute_email_to",
        store=True,
        readonly=False,
        help="Defaults to the customer's email address.",
    )
    email_subject = fields.Char(default=DEFAULT_EMAIL_SUBJECT, translate=False)
    state = fields.Selection(
        # "paused": stopped by a person (Pause), resumes with Activate; "disabled": stopped
        # by the addon itself (the receiver kept failing or said 410 Gone), with its reason.
        [("draft", "Draft"), ("active", "Active"), ("paused", "Paused"), ("disabled", "Disabled by failures")],
        default="draft",
        required=True,
        tracking=True,
        copy=False,
        index=True,
    )
    disabled_reason = fields.Text(copy=False, readonly=True)
    failing_since = fields.Datetime(
        copy=False, readonly=True, help="Set while the trigger's deliveries keep failing."
    )
    last_test_date = fields.Datetime(string="Last test on", copy=False, readonly=True)
    last_test_ok = fields.Boolean(string="Last test succeeded", copy=False, readonly=True)
    last_test_status = fields.Integer(string="Last test status code", copy=False, readonly=True)
    last_test_duration_ms = fields.Float(string="Last test duration (ms)", copy=False, readonly=True)
    last_test_result = fields.Text(string="Last test result", copy=False, readonly=True)
    last_test_data = fields.Char(
        string="Tested with", copy=False, readonly=True,
        help="The data the last test was rendered from: an event's sample, the custom data or a real order.",
    )
    delivery_ids = fields.One2many("postback.delivery", "trigger_id", string="Deliveries")
    delivery_count = fields.Integer(compute="_compute_delivery_counts")
    failed_delivery_count = fields.Integer(compute="_compute_delivery_counts")

    @api.depends("partner_id.email")
    def _compute_email_to(self):
        for trigger in self:
            if not trigger.email_to:
                trigger.email_to = trigger.partner_id.email or False

    def _compute_secret_hint(self):
        for trigger in self:
            secret = trigger.secret or ""
            # Enough to recognise a secret, never enough to use it.
            trigger.secret_hint = "%s…%s" % (secret[:9], secret[-4:]) if secret else False

    def _compute_delivery_counts(self):
        groups = self.env["postback.delivery"]._read_group(
            [("trigger_id", "in", self.ids)], ["trigger_id", "state"], ["__count"]
        )
        totals, failures = {}, {}
        for trigger, state, count in groups:
            totals[trigger.id] = totals.get(trigger.id, 0) + count
            if state == "failed":
                failures[trigger.id] = count
        for trigger in self:
            trigger.delivery_count = totals.get(trigger.id, 0)
            trigger.failed_delivery_count = failures.get(trigger.id, 0)

    @api.constrains("channel", "url")
    def _check_url(self):
        for trigger in self.filtered(lambda t: t.channel == "url"):
            if not trigger.url:
                raise ValidationError(_("Trigger “%s”: enter the URL the postbacks are sent to.", trigger.name))
            try:
                netcheck.validate_url(trigger.url)
            except ValueError as error:
                raise ValidationError(
                    _("Trigger “%(name)s”: %(error)s.", name=trigger.name, error=engine_text(self.env, error))
                ) from error

    @api.constrains("channel", "email_to")
    def _check_email(self):
        for trigger in self.filtered(lambda t: t.channel == "email"):
            if not trigger.email_to:
                raise ValidationError(
                    _("Trigger “%s”: enter the email address the postbacks are sent to.", trigger.name)
                )
            if not all(email_normalize(part) for part in trigger.email_to.split(",")):
                raise ValidationError(
                    _("Trigger “%(name)s”: “%(email)s” is not a valid email address.",
                      name=trigger.name, email=trigger.email_to)
                )

    @api.constrains("timeout")
    def _check_timeout(self):
        for trigger in self:
            if trigger.timeout <= 0 or trigger.timeout > MAX_TIMEOUT:
                raise ValidationError(
                    _("Trigger “%(name)s”: the timeout must be between 1 and %(max)s seconds.",
                      name=trigger.name, max=int(MAX_TIMEOUT))
                )

    @api.constrains("template_id", "partner_id")
    def _check_template_customer(self):
        for trigger in self:
            template_partner = trigger.template_id.partner_id
            if template_partner and template_partner.commercial_partner_id != trigger.commercial_partner_id:
                raise ValidationError(
                    _("Trigger “%(name)s”: the template “%(template)s” belongs to another customer.",
                      name=trigger.name, template=trigger.template_id.name)
                )

    @api.constrains("template_id", "company_id")
    def _check_template_company(self):
        # A trigger renders its template in its company's runner: a template of
        # another company would leak that company's design (and let it change ours).
        for trigger in self.sudo():
            template_company = trigger.template_id.company_id
            if template_company and template_company != trigger.company_id:
                # The template's name is not echoed: the user may not be allowed to see it.
                raise ValidationError(
                    _("Trigger “%s”: its template belongs to another company; choose a template of the "
                      "trigger's company or a global one.", trigger.name)
                )

    @api.constrains("email_subject")
    def _check_email_subject(self):
        for trigger in self.filtered("email_subject"):
            try:
                render.check_text_syntax(trigger.email_subject)
            except render.RenderError as error:
                raise ValidationError(
                    _("Trigger “%(name)s”: the email subject is not valid: %(error)s", name=trigger.name,
                      error=engine_text(self.env, error))
                ) from error

    @api.model_create_multi
    def create(self, vals_list):
        triggers = super().create(vals_list)
        triggers._sync_endpoint()
        return triggers

    def write(self, vals):
        if vals.get("active") is False:
            vals.setdefault("state", "paused")
        was_running = self.filtered(lambda t: t.state == "active" and t.active)
        result = super().write(vals)
        if "company_id" in vals:
            # Record rules are checked before a write only: never let a trigger move
            # into a company its author does not work in (it would listen to that
            # company's orders).
            self._check_allowed_companies()
        if "url" in vals or "channel" in vals:
            self._sync_endpoint()
        if "state" in vals or "active" in vals:
            running = self.filtered(lambda t: t.state == "active" and t.active)
            deliveries = self.env["postback.delivery"]
            deliveries._hold_for_triggers(was_running - running, hold=True)
            deliveries._hold_for_triggers(running - was_running, hold=False)
        return result

    # ------------------------------------------------------------------
    # Buttons
    # ------------------------------------------------------------------
    def action_activate(self):
        """Activate; an untested trigger first asks for confirmation."""
        self._check_can_manage()
        untested = self.filtered(lambda t: not t.last_test_ok)
        if untested and not self.env.context.get("postback_skip_test_check"):
            return {
                "type": "ir.actions.act_window",
                "name": _("Activate without a successful test?"),
                "res_model": "postback.trigger.activate",
                "view_mode": "form",
                "target": "new",
                "context": {"default_trigger_ids": self.ids},
            }
        self._activate()
        return True

    def _activate(self):
        for trigger in self:
            if not trigger.event_type_ids:
                raise UserError(_("Trigger “%s”: choose at least one order event.", trigger.name))
            if not trigger.template_id:
                raise UserError(_("Trigger “%s”: choose or create a template first.", trigger.name))
            failure = trigger._template_failure()
            if failure and failure.pop("mismatch", False):
                raise UserError(_("Trigger “%(trigger)s” cannot be activated: its template “%(template)s”: "
                                  "%(error)s.", **failure))
            if failure:
                raise UserError(
                    _("Trigger “%(trigger)s” cannot be activated: its template “%(template)s” fails on the "
                      "event “%(event)s”: %(error)s.", **failure)
                )
        # Just checked: the constraint below need not render the same samples again.
        self.with_context(postback_templates_checked=True).write(
            {"state": "active", "active": True, "disabled_reason": False, "failing_since": False})

    def _template_failure(self):
        """The first event whose sample data the template fails on, as message arguments (or None)."""
        self.ensure_one()
        mismatch = self.template_id.sudo()._format_mismatch(self.payload_format)
        if mismatch:
            return {"trigger": self.name, "template": self.template_id.name, "event": "",
                    "error": mismatch, "mismatch": True}
        failures = self.template_id.sudo()._event_failures(self.event_type_ids, self.payload_format)
        if not failures:
            return None
        event_type, error = failures[0]
        return {"trigger": self.name, "template": self.template_id.name, "event": event_type.name,
                "error": error.rstrip(".")}

    @api.onchange("template_id")
    def _onchange_template_format(self):
        """An advanced body is written in one language: follow it."""
        template = self.template_id
        if template.mode == "advanced" and template._format_mismatch(self.payload_format):
            self.payload_format = "xml" if template.payload_format == "xml" else "json"

    @api.constrains("event_type_ids", "template_id", "state", "payload_format")
    def _check_active_template_renders(self):
        if self.env.context.get("postback_templates_checked"):
            return
        for trigger in self.filtered(lambda t: t.state == "active" and t.template_id):
            failure = trigger._template_failure()
            if failure and failure.pop("mismatch", False):
                raise ValidationError(_("Trigger “%(trigger)s” is active and its template “%(template)s”: "
                                        "%(error)s.", **failure))
            if failure:
                raise ValidationError(
                    _("Trigger “%(trigger)s” is active and its template “%(template)s” would fail on the "
                      "event “%(event)s”: %(error)s.", **failure)
                )

    def action_deactivate(self):
        """Pause: no new deliveries go out (they wait, held) until the trigger is activated again."""
        self._check_can_manage()
        self.write({"state": "paused", "disabled_reason": False})
        self.message_post(body=_("Paused by %s.", self.env.user.name), subtype_xmlid="mail.mt_note")
        return True

    def action_reset_to_draft(self):
        self._check_can_manage()
        self.write({"state": "draft"})
        return True

    def action_open_preview(self):
        self.ensure_one()
        self._check_can_read(_("Only Postback users can preview a trigger."))
        if not self.template_id:
            raise UserError(_("Choose or create a template first."))
        return {
            "type": "ir.actions.act_window",
            "name": _("Preview & Test"),
            "res_model": "postback.template.preview",
            "view_mode": "form",
            "target": "new",
            "context": {"default_template_id": self.template_id.id, "default_trigger_id": self.id},
        }

    def action_test_send(self):
        """Send a test through the real channel, saying which event's data it uses.

        It goes out at once with the template's custom data, the sample of the
        event the template is designed for when the trigger fires on it, or the
        sample of the trigger's only event; otherwise (several events, none of
        them the design event) the merchant picks one in *Preview & Test*.
        """
        self.ensure_one()
        # Checked before anything is rendered or leaves: the user may test this trigger.
        self._check_can_test()
        if not self.template_id:
            raise UserError(_("Choose or create a template first."))
        template = self.template_id
        if template.sample_source == "custom" and (template.custom_sample or "").strip():
            data, label = template._get_design_data(), template._design_data_label()
        elif template.event_type_id and template.event_type_id in self.event_type_ids:
            data, label = template._get_design_data(), template._design_data_label()
        elif len(self.event_type_ids) == 1:
            data = self.event_type_ids._get_sample_data()
            label = _("the sample data of “%s”", self.event_type_ids.name)
        else:
            return self.action_open_preview()
        # Only the result of the test is written (last_test_*): Postback users
        # cannot edit triggers.
        self.sudo()._send_test(data, label)
        self.sudo()._hide_header_values_in_test_result()
        return self._notify_test_result()

    def action_view_deliveries(self):
        self.ensure_one()
        self._check_can_read(_("Only Postback users can see the deliveries."))
        action = self.env["ir.actions.act_window"]._for_xml_id("postback_connector.postback_delivery_action")
        action["domain"] = [("trigger_id", "=", self.id)]
        action["context"] = {"search_default_trigger_id": self.id}
        return action

    def action_view_failed_deliveries(self):
        action = self.action_view_deliveries()
        action["context"] = dict(action["context"], search_default_failed=1)
        return action

    def action_rotate_secret(self):
        """Generate a new secret; the previous one stays valid for an overlap period."""
        self.ensure_one()
        self._check_manager()
        trigger = self.sudo()
        trigger.write(
            {
                "secret_previous": trigger.secret,
                "secret_previous_expires_at": fields.Datetime.add(
                    fields.Datetime.now(), hours=SECRET_ROTATION_OVERLAP_HOURS
                ),
                "secret": signing.generate_secret(),
                "secret_revealed": False,
            }
        )
        self.message_post(body=_("Signing secret rotated; the previous one stays valid for %(hours)s hours.",
                                 hours=SECRET_ROTATION_OVERLAP_HOURS))
        return self.action_reveal_secret()

    def action_reveal_secret(self):
        """Show the secret once, right after creation or rotation; afterwards only a hint."""
        self.ensure_one()
        self._check_manager()
        trigger = self.sudo()
        if trigger.secret_revealed:
            raise UserError(
                _("For safety the signing secret is shown only once. Rotate it to get a new one.")
            )
        trigger.secret_revealed = True
        # Created by this button only (nobody has the create right): the wizard is
        # readable by its creator only (record rule), the secret by managers only.
        wizard = self.env["postback.secret"].sudo().create({"trigger_id": self.id, "secret": trigger.secret})
        return {
            "type": "ir.actions.act_window",
            "name": _("Signing secret"),
            "res_model": "postback.secret",
            "res_id": wizard.id,
            "view_mode": "form",
            "target": "new",
        }

    # ------------------------------------------------------------------
    # Business methods
    # ------------------------------------------------------------------
    @api.model
    def _sync_all_endpoints(self):
        self.with_context(active_test=False).sudo().search([("channel", "=", "url")])._sync_endpoint()

    def _sync_endpoint(self):
        """Link each URL trigger to the endpoint of its URL (created on first use)."""
        endpoints = self.env["postback.endpoint"].sudo()
        for trigger in self:
            endpoint = endpoints._for_url(trigger.url) if trigger.channel == "url" and trigger.url else endpoints
            if trigger.endpoint_id != endpoint:
                super(PostbackTrigger, trigger.sudo()).write({"endpoint_id": endpoint.id or False})

    def _check_manager(self):
        """Signing secrets: managers only, and only of triggers they may edit (their companies)."""
        if not self.env.su and not self.env.user.has_group("postback_connector.group_postback_manager"):
            raise AccessError(_("Only Postback managers can see or rotate signing secrets."))
        self._check_can_manage()

    # ------------------------------------------------------------------
    # Permissions: checked explicitly by every button and wizard, before any
    # sudo(); readonly fields and hidden buttons are only the interface.
    # ------------------------------------------------------------------
    @api.model
    def _postback_check_group(self, message=None, manager=False):
        """Raise a translated AccessError unless the user is a Postback user (or manager)."""
        if self.env.su:
            return
        group = "postback_connector.group_postback_manager" if manager else "postback_connector.group_postback_user"
        if not self.env.user.has_group(group):
            if message is None:
                message = _("Only Postback managers can do this.") if manager else _(
                    "Only Postback users can do this: ask your administrator for the Postback / User access.")
            raise AccessError(message)

    def _check_allowed_companies(self):
        """The triggers belong to companies the user works in now (the allowed companies)."""
        if self.env.su:
            return
        if any(trigger.company_id not in self.env.companies for trigger in self.sudo()):
            raise AccessError(_("This trigger belongs to a company you are not working in."))

    def _check_can_read(self, message=None):
        """Postback user with read access to these triggers (record rules included)."""
        self._postback_check_group(message)
        self.check_access("read")
        self._check_allowed_companies()

    def _check_can_test(self):
        """May the user send a test through these triggers? (before anything leaves)"""
        self._check_can_read(_("Only Postback users can send a test."))

    def _check_can_manage(self):
        """Postback manager allowed to edit these triggers (activate, deactivate, recover, secrets)."""
        self._postback_check_group(manager=True)
        self.check_access("write")
        self._check_allowed_companies()

    def _hide_header_values_in_test_result(self):
        """A receiver may echo the request's headers in its answer (debug endpoints
        do): the custom header values are secrets, never shown in the test result."""
        self.ensure_one()
        trigger = self.sudo()
        result = trigger.last_test_result or ""
        hidden = trigger._hide_header_values(result)
        if hidden != result:
            trigger.last_test_result = hidden

    def _header_secrets(self):
        """The custom header values (and their longer words, e.g. the token of
        ``Bearer <token>``), longest first: what must never be shown."""
        secrets = set()
        for value in self.sudo().header_ids.mapped("value"):
            if value and len(value) >= 4:
                secrets.add(value)
                secrets.update(word for word in value.split() if len(word) >= 8)
        return sorted(secrets, key=len, reverse=True)

    def _hide_header_values(self, text, secrets=None):
        """``text`` with every custom header value replaced by a mask."""
        if not text:
            return text
        for secret in self._header_secrets() if secrets is None else secrets:
            text = text.replace(secret, "••••••")
        return text

    def _get_signing_secrets(self):
        """Secrets that sign a delivery now: the current one, plus the previous during the overlap."""
        self.ensure_one()
        trigger = self.sudo()
        secrets = [trigger.secret] if trigger.secret else []
        if trigger.secret_previous and trigger.secret_previous_expires_at and (
            trigger.secret_previous_expires_at > fields.Datetime.now()
        ):
            secrets.append(trigger.secret_previous)
        return secrets

    def _allow_private_targets(self):
        return self.env["ir.config_parameter"].sudo().get_param(
            "postback_connector.allow_private_targets"
        ) in ("1", "True", "true")

    def _http_request_factory(self):
        """A function ``(key, body, webhook_id) -> OutgoingRequest`` for this trigger.

        The trigger's settings (headers, secrets, URL) are read once, so the runner
        pays only the signature per delivery. The requests are plain data, safe to
        hand to the sender's threads.
        """
        self.ensure_one()
        method, url, timeout = self.http_method, self.url, self.timeout or DEFAULT_TIMEOUT
        base_headers = {"Content-Type": formats.content_type(self.payload_format)}
        base_headers.update({h.name.strip(): h.value or "" for h in self.sudo().header_ids})
        secrets = self._get_signing_secrets()
        # Authentication and signature scheme: postback_trigger_auth.py.
        scheme, signature_header = self.signature_scheme, (self.signature_header or "").strip() or None
        auth = self._request_auth()

        def make(key, body, webhook_id):
            headers = dict(base_headers)
            # The signature replaces a custom header of the same name, whatever its case.
            engine_http.merge_headers(headers, signing.signature_headers(
                scheme, webhook_id, int(time.time()), body, secrets, header=signature_header))
            return engine_http.OutgoingRequest(
                key=key, method=method, url=url, headers=headers, body=body, timeout=timeout, auth=auth
            )

        # Whoever holds the cursor keeps the OAuth2 token it fetches (_keep_oauth2_token).
        make.auth = auth
        return make

    def _prepare_http_request(self, key, body, webhook_id):
        """The outgoing HTTP request of one delivery."""
        return self._http_request_factory()(key, body, webhook_id)

    def _url_checker(self):
        allow_private = self._allow_private_targets()

        def check(url):
            return netcheck.check_target(url, allow_private=allow_private)

        return check

    def _render_email_subject(self, data):
        self.ensure_one()
        try:
            subject = render.render_text(self.email_subject or DEFAULT_EMAIL_SUBJECT, data)
        except render.RenderError:
            # A subject must never block a delivery: fall back to a plain one.
            subject = "%s %s" % (
                (data.get("event") or {}).get("type", ""), (data.get("order") or {}).get("reference", ""))
        # One line: a line break in a subject header would make every send fail.
        return " ".join(str(subject).split())[:250]

    def _prepare_mail_values(self, body, data, webhook_id):
        """Values of the mail.mail of one email delivery: the body shown in the email, and attached
        in the template's format (.json, .xml, .txt for a form body)."""
        self.ensure_one()
        fmt = self.payload_format or formats.JSON
        pretty = formats.pretty(body, fmt)
        extension, mimetype = formats.ATTACHMENTS.get(fmt, formats.ATTACHMENTS[formats.JSON])
        order_ref = (data.get("order") or {}).get("reference") or "order"
        filename = "%s-%s.%s" % (
            order_ref.replace("/", "-"), (data.get("event") or {}).get("type", "event"), extension)
        return {
            "subject": self._render_email_subject(data),
            "email_to": self.email_to,
            "email_from": self.company_id.email_formatted or self.env.user.email_formatted,
            "body_html": "<pre>%s</pre>" % escape(pretty),
            "auto_delete": False,
            "headers": json.dumps({"X-Postback-Id": webhook_id}),
            "attachment_ids": [(0, 0, {"name": filename, "raw": body, "mimetype": mimetype})],
        }

    def _send_email_now(self, key, body, data, webhook_id):
        """Send one email postback through Odoo's mail on this cursor; an engine Outcome.

        The email channel of the runner and of *Send test*: accepted by the SMTP
        server = delivered (no error), otherwise the error is the attempt's.
        """
        self.ensure_one()
        start = time.monotonic()
        error = None
        try:
            with self.env.cr.savepoint():
                mail = self.env["mail.mail"].sudo().create(self._prepare_mail_values(body, data, webhook_id))
                mail.send(raise_exception=False)
                if mail.state != "sent":
                    reason = " ".join((mail.failure_reason or "").split())
                    error = _("The email could not be sent: the mail server did not accept it (%s).", reason) \
                        if reason else _("The email could not be sent.")
        except Exception as exc:  # noqa: BLE001 - recorded as the attempt's error, never stops the others
            error = _("The email could not be sent (%s).", " ".join(str(exc).split()) or type(exc).__name__)
        return engine_http.Outcome(
            key=key, status=None, duration_ms=(time.monotonic() - start) * 1000,
            error=engine_http.clean_text(error, 2000) if error else None,
        )

    def _send_test(self, data, data_label=None):
        """Render ``data`` and send it through the trigger's channel; store the result.

        ``data_label`` says where ``data`` comes from ("the sample data of “Order shipped”").
        """
        self.ensure_one()
        body = self.template_id._check_renders(data, self.payload_format)
        webhook_id = "msg_test_%s" % uuid.uuid4().hex
        values = {"last_test_date": fields.Datetime.now()}
        if self.channel == "email":
            outcome = self._send_email_now("test", body, data, webhook_id)
        else:
            request = self._prepare_http_request("test", body, webhook_id)
            with engine_http.HttpSender(max_workers=1, per_host=1, check=self._url_checker()) as sender:
                outcome = sender.send_all([request])[0]
            self._keep_oauth2_token(request.auth)
        # The runner's success rule: what would a real delivery do with this answer?
        step = lifecycle.next_step(outcome, retries_done=0, schedule=(0,), retry_on_failure=False)
        ok = step.state == lifecycle.DELIVERED
        if self.channel == "email":
            result = _("Email sent to %s.", self.email_to) if ok else (
                outcome.error or _("The email could not be sent."))
        elif outcome.status is None:
            result = engine_text(self.env, outcome.error_message) if outcome.error_message else outcome.error
        else:
            result = _("HTTP %(status)s in %(ms)s ms\n%(body)s", status=outcome.status,
                       ms=round(outcome.duration_ms), body=(outcome.body or "")[:TEST_RESPONSE_PREVIEW])
            if outcome.error:
                result = "%s\n%s" % (outcome.error, result)
        values.update(
            last_test_ok=ok,
            last_test_status=outcome.status or 0,
            last_test_duration_ms=round(outcome.duration_ms, 1),
            last_test_result="%s\n%s" % (_("Tested with %s.", data_label), result) if data_label else result,
            last_test_data=data_label or False,
        )
        self.write(values)
        return ok

    def _notify_test_result(self):
        self.ensure_one()
        message = self.last_test_result or ""
        if self.last_test_data:
            message = _("%(result)s\nSent with %(data)s.", result=message, data=self.last_test_data)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Test sent") if self.last_test_ok else _("Test failed"),
                "message": message,
                "type": "success" if self.last_test_ok else "danger",
                "sticky": not self.last_test_ok,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    # ------------------------------------------------------------------
    # Health: auto-disable after persistent failures
    # ------------------------------------------------------------------
    @api.model
    def _update_health(self, delivered_ids, failed_ids, gone, settings):
        """Track failing triggers after a batch; disable the ones failing for too long or gone.

        ``failed_ids`` maps a trigger id to its first failed attempt of the batch: a new
        failing spell starts then, floored to the second, so that *Recover failed
        deliveries since* includes that very failure.
        """
        now = fields.Datetime.now()
        if delivered_ids:
            recovered = self.browse(delivered_ids).filtered("failing_since")
            if recovered:
                recovered.write({"failing_since": False})
        still_failing = self.browse(set(failed_ids) - set(delivered_ids) - set(gone))
        if still_failing:
            newly = still_failing.filtered(lambda t: not t.failing_since)
            for since, group in newly.grouped(
                    lambda t: min(failed_ids.get(t.id) or now, now).replace(microsecond=0)).items():
                group.write({"failing_since": since})
            limit = fields.Datetime.subtract(now, days=settings["disable_after_days"])
            expired = still_failing.filtered(lambda t: t.failing_since and t.failing_since <= limit)
            for trigger in expired:
                trigger._disable_with_notice(
                    _("Disabled automatically: its deliveries have been failing since %s.",
                      fields.Datetime.to_string(trigger.failing_since))
                )
        for trigger in gone.values():
            trigger._disable_with_notice(
                _("Disabled automatically: the receiver answered 410 Gone, meaning it no longer wants these postbacks.")
            )

    def _disable_with_notice(self, reason):
        """Disable the trigger and tell its responsible user (chatter + activity)."""
        self.ensure_one()
        if self.state == "disabled":
            return
        self.write({"state": "disabled", "disabled_reason": reason})
        self.message_post(body=reason, subtype_xmlid="mail.mt_note")
        # Someone must hear about it: the responsible, else the creator, else the administrator.
        candidates = self.user_id | self.create_uid | self.env.ref("base.user_admin", raise_if_not_found=False)
        user = candidates.filtered("active")[:1]
        if user:
            self.activity_schedule(
                "postback_connector.mail_activity_trigger_disabled",
                user_id=user.id,
                summary=_("Postback trigger “%s” was disabled", self.name),
                note=reason,
            )

    def action_recover(self):
        """Open the wizard that re-enables the trigger and re-queues failed deliveries."""
        self.ensure_one()
        self._check_can_manage()
        return {
            "type": "ir.actions.act_window",
            "name": _("Re-enable and recover"),
            "res_model": "postback.trigger.activate",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_trigger_ids": self.ids,
                "default_mode": "recover",
                "default_recover_since": self.failing_since or fields.Datetime.subtract(fields.Datetime.now(), days=1),
            },
        }
