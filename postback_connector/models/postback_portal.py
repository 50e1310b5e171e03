# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The customer's side of postbacks, in Odoo's customer portal.

Every method here is private (not callable over RPC) and is called by
``controllers/portal.py`` only. The access rule is explicit and the same for
every route: a logged-in user sees the triggers whose commercial entity is
their own commercial entity, when the merchant switched the portal on for that
customer; anything else does not exist for them (``MissingError``, a 404).
Each self-service action is switched on separately by the merchant
(``AccessError``, a 403), rate-limited per customer (counted in the database,
so across workers), and recorded in the trigger's chatter with the portal
user's name. Only after those checks do the methods work as the system.
"""

import json

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError

from ..engine import developer, formats, signing
from ..engine import render as engine_render
from ..engine_i18n import engine_text
from .postback_trigger import SECRET_ROTATION_OVERLAP_HOURS

#: Self-service actions and the customer flag that switches each on.
PORTAL_ACTIONS = {
    "resend": "postback_portal_resend",
    "test": "postback_portal_test",
    "secret": "postback_portal_secret",
    "endpoint": "postback_portal_endpoint",
}
#: Portal actions a customer may take per minute (all its users together), by default.
DEFAULT_ACTIONS_PER_MINUTE = 10
#: At most this many failed deliveries are queued again by one "resend failed since".
MAX_RESEND_AT_ONCE = 10000
#: First key of the advisory lock that serialises one customer's portal actions.
PORTAL_LOCK_CLASS = 7270


class ResPartner(models.Model):
    _inherit = "res.partner"

    postback_portal = fields.Boolean(
        string="Postbacks in the portal",
        groups="postback_connector.group_postback_manager",
        help="The customer's portal users see their triggers, deliveries, the answers their server gave "
        "and the developer page (events, payload schema, signature code) under My Account › Postbacks.",
    )
    postback_portal_resend = fields.Boolean(
        string="Portal: resend deliveries", groups="postback_connector.group_postback_manager",
        help="Portal users may send a delivery again, or all failed ones since a date.")
    postback_portal_test = fields.Boolean(
        string="Portal: send tests", groups="postback_connector.group_postback_manager",
        help="Portal users may send a test of an event of their choice (sample data) to their endpoint.")
    postback_portal_secret = fields.Boolean(
        string="Portal: signing secret", groups="postback_connector.group_postback_manager",
        help="Portal users may reveal the signing secret once and rotate it (the previous one stays valid "
        "during the overlap).")
    postback_portal_endpoint = fields.Boolean(
        string="Portal: change URL, pause and resume", groups="postback_connector.group_postback_manager",
        help="Portal users may change their endpoint's URL (the same address policy applies) and pause or "
        "resume their triggers.")

    def _postback_portal_settings(self):
        """{flag: bool} of this customer's commercial entity (read as the system)."""
        partner = self.commercial_partner_id.sudo()
        names = ["postback_portal", *PORTAL_ACTIONS.values()]
        return {name: bool(partner[name]) for name in names}


class PostbackTrigger(models.Model):
    _inherit = "postback.trigger"

    # ------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------
    @api.model
    def _portal_partner(self):
        """The current user's commercial entity when the merchant opened the portal to it, else empty."""
        user = self.env.user
        partners = self.env["res.partner"]
        if not user or user._is_public():
            return partners
        partner = user.partner_id.commercial_partner_id
        return partner if partner._postback_portal_settings()["postback_portal"] else partners

    @api.model
    def _portal_triggers(self):
        """Every trigger the current user may see in the portal (as the system: checked here)."""
        partner = self._portal_partner()
        if not partner:
            return self.sudo().browse()
        return self.sudo().search([("commercial_partner_id", "=", partner.id), ("state", "!=", "draft")],
                                  order="name, id")

    @api.model
    def _portal_get(self, trigger_id):
        """The trigger ``trigger_id`` (as the system) if the current user may see it; else MissingError."""
        trigger = self._portal_triggers().filtered(lambda t: t.id == trigger_id)
        if not trigger:
            raise MissingError(_("This postback endpoint does not exist or is not yours."))
        return trigger

    def _portal_allow(self, action):
        """Raise AccessError unless the merchant lets this customer take ``action``; then rate-limit."""
        self.ensure_one()
        partner = self._portal_partner()
        if not partner or self.commercial_partner_id != partner:
            raise MissingError(_("This postback endpoint does not exist or is not yours."))
        if not partner._postback_portal_settings()[PORTAL_ACTIONS[action]]:
            raise AccessError(_("Your supplier has not enabled this action in the portal. Ask them to."))
        self._portal_check_rate(partner)

    def _portal_check_rate(self, partner):
        """At most N portal actions per minute per customer, counted on the chatter in the database."""
        limit = int(self.env["ir.config_parameter"].sudo().get_param(
            "postback_connector.portal_actions_per_minute", DEFAULT_ACTIONS_PER_MINUTE) or 0)
        cr = self.env.cr
        # One portal action of a customer at a time (every worker, until the transaction ends):
        # the count below cannot be raced. An advisory lock, so the merchant's own edits of the
        # customer never wait for it.
        cr.execute("SELECT pg_advisory_xact_lock(%s, %s)", (PORTAL_LOCK_CLASS, partner.id))
        cr.execute(
            """SELECT count(*) FROM mail_message m
               JOIN res_partner author ON author.id = m.author_id
               WHERE m.model = 'postback.trigger' AND m.message_type = 'comment'
                 AND author.commercial_partner_id = %s
                 AND m.create_date > (now() at time zone 'UTC') - interval '1 minute'""",
            (partner.id,),
        )
        if limit > 0 and cr.fetchone()[0] >= limit:
            raise UserError(_("Too many actions in a minute: wait a minute and try again."))

    def _portal_log(self, text):
        """Record a portal action in the trigger's chatter, by the portal user (also the rate count)."""
        user = self.env.user
        body = _("%(text)s (by %(user)s, in the customer portal)", text=text, user=user.name)
        # Plain text: message_post escapes it (a URL typed by the customer stays text).
        self.sudo().message_post(body=body, author_id=user.partner_id.id, message_type="comment",
                                 subtype_xmlid="mail.mt_note")

    # ------------------------------------------------------------------
    # What the portal shows
    # ------------------------------------------------------------------
    def _portal_deliveries_domain(self, filters):
        """Domain of this trigger's deliveries matching the portal's search filters (already parsed)."""
        self.ensure_one()
        domain = [("trigger_id", "=", self.id)]
        if filters.get("event_type_id"):
            domain.append(("event_type_id", "=", filters["event_type_id"]))
        if filters.get("state"):
            domain.append(("state", "=", filters["state"]))
        if filters.get("order"):
            domain.append(("order_id.name", "ilike", filters["order"]))
        if filters.get("date_from"):
            domain.append(("create_date", ">=", filters["date_from"]))
        if filters.get("date_to"):
            domain.append(("create_date", "<", fields.Date.add(filters["date_to"], days=1)))
        return domain

    def _portal_catalogue(self):
        """Per event of this trigger: what it is, a sample payload, its JSON Schema (or None), or the error."""
        self.ensure_one()
        entries = []
        fmt = self.payload_format or formats.JSON
        for event_type in self.event_type_ids.sorted("sequence"):
            entry = {"event": event_type, "code": event_type.code, "sample": False, "schema": False,
                     "error": False}
            if self.template_id:
                try:
                    payload = self.template_id._render_payload(event_type._get_sample_data(), fmt)
                except engine_render.RenderError as error:
                    entry["error"] = engine_text(self.env, error)
                else:
                    entry["sample"] = formats.pretty(payload, fmt)
                    schema = developer.payload_schema(payload, fmt, title=event_type.name)
                    entry["schema"] = json.dumps(schema, indent=2, ensure_ascii=False) if schema else False
            entries.append(entry)
        return entries

    def _portal_verify_code(self):
        self.ensure_one()
        return developer.verify_snippets(self.signature_scheme, self.signature_header)

    # ------------------------------------------------------------------
    # Self-service actions (each: _portal_allow first, then as the system)
    # ------------------------------------------------------------------
    def _portal_resend_failed(self, since):
        """Queue again every failed delivery of this trigger created since ``since`` (a date); their number."""
        self._portal_allow("resend")
        deliveries = self.env["postback.delivery"].sudo().search(
            [("trigger_id", "=", self.id), ("state", "=", "failed"), ("create_date", ">=", since)],
            order="id", limit=MAX_RESEND_AT_ONCE)
        if not deliveries:
            raise UserError(_("No failed delivery since %s.", fields.Date.to_string(since)))
        deliveries.action_resend()
        self._portal_log(_("%(count)s failed deliveries since %(date)s queued again",
                           count=len(deliveries), date=fields.Date.to_string(since)))
        return len(deliveries)

    def _portal_send_test(self, event_type_id):
        """Send a test of one of this trigger's events with its sample data; True when it was delivered."""
        self._portal_allow("test")
        event_type = self.event_type_ids.filtered(lambda e: e.id == event_type_id)
        if not event_type:
            raise UserError(_("Choose one of the events of this endpoint."))
        if not self.template_id:
            raise UserError(_("This endpoint has no template yet: ask your supplier."))
        ok = self._send_test(event_type._get_sample_data(), _("the sample data of “%s”", event_type.name))
        self._hide_header_values_in_test_result()
        self._portal_log(_("Test of “%(event)s” sent: %(result)s", event=event_type.name,
                           result=_("delivered") if ok else _("failed")))
        return ok

    def _portal_reveal_secret(self):
        """The signing secret, once (after creation or a rotation); afterwards UserError."""
        self._portal_allow("secret")
        if self.channel != "url" or not self.secret:
            raise UserError(_("This endpoint has no signing secret."))
        if self.secret_revealed:
            raise UserError(_("For safety the signing secret is shown only once. Rotate it to get a new one."))
        self.secret_revealed = True
        self._portal_log(_("Signing secret revealed"))
        return self.secret

    def _portal_rotate_secret(self):
        """A new signing secret (returned, shown once); the previous one stays valid during the overlap."""
        self._portal_allow("secret")
        if self.channel != "url":
            raise UserError(_("This endpoint has no signing secret."))
        self.write({
            "secret_previous": self.secret,
            "secret_previous_expires_at": fields.Datetime.add(fields.Datetime.now(),
                                                              hours=SECRET_ROTATION_OVERLAP_HOURS),
            "secret": signing.generate_secret(),
            "secret_revealed": True,
        })
        self._portal_log(_("Signing secret rotated; the previous one stays valid for %(hours)s hours",
                           hours=SECRET_ROTATION_OVERLAP_HOURS))
        return self.secret

    def _portal_set_url(self, url):
        """Change the endpoint's URL (the merchant's address policy applies: ValidationError)."""
        self._portal_allow("endpoint")
        url = (url or "").strip()
        if self.channel != "url":
            raise UserError(_("This endpoint is delivered by email: ask your supplier to change it."))
        if not url:
            raise UserError(_("Enter the URL of your endpoint."))
        old = self.url
        if url == old:
            return False
        try:
            # The merchant's address policy, at once (the runner applies it again on every send:
            # a name can be pointed elsewhere later).
            self._url_checker()(url)
        except ValueError as error:
            raise UserError(engine_text(self.env, error)) from error
        try:
            with self.env.cr.savepoint():
                self.write({"url": url})
        except ValidationError as error:
            raise UserError(error.args[0]) from error
        self._portal_log(_("Endpoint URL changed from %(old)s to %(new)s", old=old, new=url))
        return True

    def _portal_pause(self):
        self._portal_allow("endpoint")
        if self.state != "active":
            raise UserError(_("Only an active endpoint can be paused."))
        self.write({"state": "paused", "disabled_reason": False})
        self._portal_log(_("Paused: waiting deliveries are held until it is resumed"))

    def _portal_resume(self):
        self._portal_allow("endpoint")
        if self.state not in ("paused", "disabled"):
            raise UserError(_("Only a paused or disabled endpoint can be resumed."))
        self._activate()
        self._portal_log(_("Resumed: waiting deliveries go out now"))


class PostbackDelivery(models.Model):
    _inherit = "postback.delivery"

    @api.model
    def _portal_get(self, delivery_id):
        """The delivery ``delivery_id`` (as the system) if the current user may see it; else MissingError."""
        delivery = self.sudo().browse(delivery_id).exists()
        if not delivery or delivery.trigger_id not in self.env["postback.trigger"]._portal_triggers():
            raise MissingError(_("This delivery does not exist or is not yours."))
        return delivery

    def _portal_resend(self):
        self.ensure_one()
        self.trigger_id._portal_allow("resend")
        self.action_resend()
        self.trigger_id._portal_log(_("Delivery %(id)s (%(event)s) queued again", id=self.webhook_id,
                                      event=self.event_type_id.name or ""))
