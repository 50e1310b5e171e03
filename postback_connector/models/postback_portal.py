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
from urllib.parse import urlsplit

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, MissingError, UserError, ValidationError
from odoo.sql_db import Cursor

from ..engine import developer, formats, netcheck, signing
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
#: Of which tests (each holds an Odoo worker for up to the trigger's timeout).
TESTS_PER_MINUTE = 3
#: At most this many failed deliveries are queued again by one "resend failed since",
#: and none older than this many days.
MAX_RESEND_AT_ONCE = 1000
MAX_RESEND_DAYS = 30
#: How long the log of portal actions (the rate limit's count) is kept.
ACTION_LOG_DAYS = 30
#: First key of the advisory lock that serialises the count of one customer's portal actions.
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

    paused_from_portal = fields.Boolean(
        string="Paused in the portal", copy=False, readonly=True,
        help="Paused by the customer in the portal (they may resume it there); any other change of state "
        "clears it.")

    def write(self, vals):
        if "state" in vals and "paused_from_portal" not in vals:
            vals = dict(vals, paused_from_portal=False)
        return super().write(vals)

    # ------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------
    @api.model
    def _portal_partner(self):
        """The current user's commercial entity when the merchant opened the portal to it, else empty."""
        user = self.env.user
        partners = self.env["res.partner"]
        # Portal (share) users only: an internal user who can edit contacts could otherwise
        # attach their own contact to a customer and reach what only Postback managers see.
        if not user or not user.share or user._is_public():
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
        self._portal_check_rate(partner, action)

    def _portal_check_rate(self, partner, action):
        """At most N portal actions a minute per customer (tests: fewer), every attempt counted.

        The count and the log row are a short READ COMMITTED transaction of their own,
        committed at once under a per-customer advisory lock: parallel requests from
        several workers each see the others' rows (a request's own REPEATABLE READ
        snapshot would not), nothing waits for a slow action (a test send), and an
        attempt that then fails still counts.
        """
        limit = int(self.env["ir.config_parameter"].sudo().get_param(
            "postback_connector.portal_actions_per_minute", DEFAULT_ACTIONS_PER_MINUTE) or 0)
        values = {"partner": partner.id, "user": self.env.uid, "trigger": self.id, "action": action,
                  "lock": PORTAL_LOCK_CLASS, "keep": "%s days" % ACTION_LOG_DAYS}
        with self.env.registry.cursor() as cr:
            if isinstance(cr, Cursor):  # a real transaction (under tests: the test's own cursor)
                cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cr.execute("SELECT pg_advisory_xact_lock(%(lock)s, %(partner)s)", values)
            cr.execute(
                """SELECT count(*), count(*) FILTER (WHERE action = 'test') FROM postback_portal_action
                   WHERE partner_id = %(partner)s
                     AND create_date > (now() at time zone 'UTC') - interval '1 minute'""", values)
            done, tests = cr.fetchone()
            if limit > 0 and (done >= limit or (action == "test" and tests >= min(limit, TESTS_PER_MINUTE))):
                return self._portal_refuse_rate()
            cr.execute(
                """DELETE FROM postback_portal_action WHERE partner_id = %(partner)s
                   AND create_date < (now() at time zone 'UTC') - %(keep)s::interval""", values)
            cr.execute(
                """INSERT INTO postback_portal_action
                       (partner_id, user_id, trigger_id, action, create_uid, create_date, write_uid, write_date)
                   VALUES (%(partner)s, %(user)s, %(trigger)s, %(action)s, %(user)s, now() at time zone 'UTC',
                           %(user)s, now() at time zone 'UTC')""", values)
        return True

    @staticmethod
    def _portal_refuse_rate():
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
        domain = self._portal_delivery_scope()
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

    def _portal_failed_counts(self):
        """{trigger id: failed deliveries made for its current customer}, one query."""
        if not self:
            return {}
        rows = self.env["postback.delivery"].sudo()._read_group(
            [("trigger_id", "in", self.ids), ("state", "=", "failed"),
             ("partner_id.commercial_partner_id", "in", self.commercial_partner_id.ids)],
            ["trigger_id"], ["__count"])
        return {trigger.id: count for trigger, count in rows}

    def _portal_delivery_scope(self):
        """This trigger's deliveries made for the current customer (not a previous owner's history)."""
        self.ensure_one()
        return [("trigger_id", "=", self.id), ("partner_id.commercial_partner_id", "=", self.commercial_partner_id.id)]

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
        """Python and Node.js code checking this trigger's signatures (None for email: not signed)."""
        self.ensure_one()
        if self.channel != "url":
            return None
        header = self.signature_header if netcheck.is_valid_header_name(self.signature_header or "") else None
        return developer.verify_snippets(self.signature_scheme, header)

    # ------------------------------------------------------------------
    # Self-service actions (each: _portal_allow first, then as the system)
    # ------------------------------------------------------------------
    def _portal_resend_failed(self, since):
        """Queue again every failed delivery of this trigger created since ``since`` (a date); their number."""
        self._portal_allow("resend")
        oldest = fields.Date.subtract(fields.Date.context_today(self), days=MAX_RESEND_DAYS)
        if since < oldest:
            raise UserError(_("Choose a date in the last %s days.", MAX_RESEND_DAYS))
        deliveries = self.env["postback.delivery"].sudo().search(
            [*self._portal_delivery_scope(), ("state", "=", "failed"), ("create_date", ">=", since)],
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
            netcheck.validate_url(url)
        except ValueError as error:
            raise UserError(engine_text(self.env, error)) from error
        if _origin(url) != _origin(old):
            # Another server. The credentials the merchant set up go with every postback:
            # only the merchant may send them elsewhere. And the server must be public,
            # whatever the merchant allows for its own targets (no portal user may aim the
            # merchant's Odoo at its internal network); the runner checks again on every send.
            if (self.auth_type or "none") != "none" or self.header_ids:
                raise UserError(_("This endpoint sends credentials your supplier set up: only they can move it "
                                  "to another server. You can change the path on the same server."))
            try:
                netcheck.check_target(url, allow_private=False)
            except ValueError as error:
                raise UserError(_("This address cannot receive postbacks: use a public http(s) server.")) \
                    from error
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
        self.write({"state": "paused", "disabled_reason": False, "paused_from_portal": True})
        self._portal_log(_("Paused: waiting deliveries are held until it is resumed"))

    def _portal_resume(self):
        self._portal_allow("endpoint")
        # Only the customer's own pause: a pause by the merchant or a disable by the addon
        # (failures, 410 Gone) is the merchant's to lift.
        if self.state != "paused" or not self.paused_from_portal:
            raise UserError(_("Only a pause made here can be resumed here: ask your supplier."))
        self._activate()
        self._portal_log(_("Resumed: waiting deliveries go out now"))


def _origin(url):
    parts = urlsplit(url or "")
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


class PostbackPortalAction(models.Model):
    """What the customer's portal users did: the rate limit's count, and an audit trail."""

    _name = "postback.portal.action"
    _description = "Postback portal action"
    _order = "id desc"
    _log_access = True

    partner_id = fields.Many2one("res.partner", string="Customer", required=True, readonly=True, index=True,
                                 ondelete="cascade")
    user_id = fields.Many2one("res.users", string="Portal user", readonly=True, ondelete="set null")
    trigger_id = fields.Many2one("postback.trigger", readonly=True, ondelete="set null")
    action = fields.Char(readonly=True)

    def init(self):
        self.env.cr.execute(
            "CREATE INDEX IF NOT EXISTS postback_portal_action_partner_date_idx"
            " ON postback_portal_action (partner_id, create_date)")


class PostbackDelivery(models.Model):
    _inherit = "postback.delivery"

    @api.model
    def _portal_get(self, delivery_id):
        """The delivery ``delivery_id`` (as the system) if the current user may see it; else MissingError."""
        delivery = self.sudo().browse(delivery_id).exists()
        partner = self.env["postback.trigger"]._portal_partner()
        # Its trigger is the customer's, and so was the delivery when it was made (a trigger
        # the merchant moves to another customer does not take its history along).
        if (not delivery or delivery.trigger_id not in self.env["postback.trigger"]._portal_triggers()
                or delivery.partner_id.commercial_partner_id != partner):
            raise MissingError(_("This delivery does not exist or is not yours."))
        return delivery

    def _portal_resend(self):
        self.ensure_one()
        self.trigger_id._portal_allow("resend")
        self.action_resend()
        self.trigger_id._portal_log(_("Delivery %(id)s (%(event)s) queued again", id=self.webhook_id,
                                      event=self.event_type_id.name or ""))
