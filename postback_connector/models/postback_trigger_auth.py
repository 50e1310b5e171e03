# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Authentication and signature scheme of URL triggers.

The credentials are secrets like the signing secret: managers only, never
copied, never shown again, masked wherever a receiver could echo them. The
requests get them through an ``engine.auth`` object (``_request_auth``)
that the sender asks in its worker thread; an OAuth2 token obtained there is
kept on the trigger (``_keep_oauth2_token``) so that every runner uses it
until 30 s before it expires.
"""
import logging
from datetime import UTC, datetime

import psycopg2

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..engine import auth as engine_auth
from ..engine import netcheck, signing
from ..engine_i18n import engine_text
from .postback_trigger_header import RESERVED_HEADERS, header_value_problem

_logger = logging.getLogger(__name__)

MANAGER = "postback_connector.group_postback_manager"
#: Any change of these makes the kept OAuth2 token useless.
OAUTH2_FIELDS = ("auth_type", "oauth2_token_url", "oauth2_client_id", "oauth2_client_secret", "oauth2_scope",
                 "oauth2_audience")
#: Headers the signature and the API key may not be carried in.
NOT_FOR_CREDENTIALS = RESERVED_HEADERS | {"accept", "user-agent", "connection", "authorization"}


def _epoch(value):
    return value.replace(tzinfo=UTC).timestamp() if value else None


def _utc(epoch):
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


class PostbackTrigger(models.Model):
    _inherit = "postback.trigger"

    auth_type = fields.Selection(
        [("none", "None"), ("bearer", "Bearer token"), ("basic", "Basic (user and password)"),
         ("api_key", "API key in a header"), ("oauth2", "OAuth2 client credentials")],
        string="Authentication", default="none", required=True, tracking=True,
        help="How the customer's server recognises the postbacks. Custom headers can still add anything else.",
    )
    auth_token = fields.Char(string="Bearer token", copy=False, groups=MANAGER,
                             help="Sent as “Authorization: Bearer <token>”.")
    auth_username = fields.Char(string="User name", help="Basic authentication: the user name (no colon).")
    auth_password = fields.Char(string="Password", copy=False, groups=MANAGER)
    auth_api_key_header = fields.Char(string="API key header", default=engine_auth.DEFAULT_API_KEY_HEADER,
                                      help="The header that carries the API key, e.g. X-API-Key.")
    auth_api_key = fields.Char(string="API key", copy=False, groups=MANAGER)
    oauth2_token_url = fields.Char(string="Token URL", help="Where the access token is requested "
                                   "(OAuth2 client credentials grant), e.g. https://auth.customer.example/oauth/token.")
    oauth2_client_id = fields.Char(string="Client ID")
    oauth2_client_secret = fields.Char(string="Client secret", copy=False, groups=MANAGER)
    oauth2_scope = fields.Char(string="Scope", help="Optional: the scopes to ask for, separated by spaces.")
    oauth2_audience = fields.Char(string="Audience", help="Optional: the API the token is for (Auth0, Okta…).")
    # The token cache, shared by every runner: refreshed 30 s before it expires,
    # dropped when the receiver answers 401 or the client settings change.
    oauth2_access_token = fields.Char(string="OAuth2 access token", copy=False, readonly=True, groups=MANAGER)
    oauth2_token_expires_at = fields.Datetime(string="OAuth2 token expires at", copy=False, readonly=True,
                                              groups=MANAGER)
    signature_scheme = fields.Selection(
        [("standard", "Standard Webhooks"), ("github", "GitHub style (X-Hub-Signature-256)"),
         ("hmac_base64", "HMAC-SHA256 base64 in a header")],
        string="Signature", default="standard", required=True, tracking=True,
        help="Standard Webhooks: webhook-signature over id, timestamp and body. GitHub style: "
        "X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>. HMAC base64: the base64 HMAC-SHA256 of the "
        "body in the header below. The two HMAC-of-body schemes use the signing secret text as the key.",
    )
    signature_header = fields.Char(string="Signature header", default=signing.DEFAULT_SIGNATURE_HEADER,
                                   help="The header that carries the base64 HMAC-SHA256 of the body.")

    @api.constrains("channel", "state", "auth_type", "auth_token", "auth_username", "auth_password",
                    "auth_api_key_header", "auth_api_key", "oauth2_token_url", "oauth2_client_id",
                    "oauth2_client_secret")
    def _check_authentication(self):
        # The secrets themselves are needed to go live only: a duplicated trigger
        # (secrets are not copied) stays a valid draft until they are entered.
        for trigger in self.sudo().filtered(lambda t: t.channel == "url" and t.auth_type != "none"):
            live = trigger.state == "active"
            kind = trigger.auth_type
            if kind == "bearer":
                trigger._check_secret(trigger.auth_token, _("the Bearer token"), live)
            elif kind == "basic":
                if not trigger.auth_username:
                    raise ValidationError(_("Trigger “%s”: enter the user name for Basic authentication.",
                                            trigger.name))
                if ":" in trigger.auth_username:
                    raise ValidationError(_("Trigger “%s”: a user name for Basic authentication cannot contain "
                                            "a colon (:).", trigger.name))
                if any(ord(char) < 0x20 or ord(char) == 0x7F for char in
                       (trigger.auth_username or "") + (trigger.auth_password or "")):
                    raise ValidationError(_("Trigger “%s”: the user name or password contains invisible control "
                                            "characters: type them again.", trigger.name))
            elif kind == "api_key":
                trigger._check_credential_header(trigger.auth_api_key_header, _("the API key"))
                trigger._check_secret(trigger.auth_api_key, _("the API key"), live)
            elif kind == "oauth2":
                if not trigger.oauth2_token_url:
                    raise ValidationError(_("Trigger “%s”: enter the OAuth2 token URL.", trigger.name))
                try:
                    netcheck.validate_url(trigger.oauth2_token_url)
                except ValueError as error:
                    raise ValidationError(_("Trigger “%(name)s”: the OAuth2 token URL is not usable: %(error)s.",
                                            name=trigger.name, error=engine_text(self.env, error))) from error
                if not trigger.oauth2_client_id:
                    raise ValidationError(_("Trigger “%s”: enter the OAuth2 client ID.", trigger.name))
                if live and not trigger.oauth2_client_secret:
                    raise ValidationError(_("Trigger “%s”: enter the OAuth2 client secret before activating it.",
                                            trigger.name))

    @api.constrains("channel", "signature_scheme", "signature_header", "auth_type", "auth_api_key_header",
                    "header_ids")
    def _check_credential_headers(self):
        for trigger in self.sudo().filtered(lambda t: t.channel == "url"):
            if trigger.signature_scheme == "hmac_base64":
                trigger._check_credential_header(trigger.signature_header, _("the signature"))
            own = {name.lower(): label for name, label in trigger._credential_header_names().items()}
            if trigger.auth_type == "api_key" and trigger.signature_scheme == "hmac_base64" and (
                    (trigger.auth_api_key_header or "").strip().lower() == (trigger.signature_header or "")
                    .strip().lower()):
                raise ValidationError(_("Trigger “%s”: the API key and the signature need two different headers.",
                                        trigger.name))
            for header in trigger.header_ids:
                label = own.get((header.name or "").strip().lower())
                if label:
                    raise ValidationError(
                        _("Trigger “%(name)s”: the custom header “%(header)s” would replace %(what)s: remove it "
                          "(the connector sets this header itself).",
                          name=trigger.name, header=header.name.strip(), what=label))

    def _check_secret(self, value, label, live):
        if live and not value:
            raise ValidationError(_("Trigger “%(name)s”: enter %(what)s before activating it.",
                                    name=self.name, what=label))
        if header_value_problem(value):
            # The value itself is never shown: it is a secret.
            raise ValidationError(_("Trigger “%(name)s”: %(what)s contains spaces at its ends, line breaks or "
                                    "characters an HTTP header cannot carry: paste it again.",
                                    name=self.name, what=label))

    def _check_credential_header(self, name, label):
        name = (name or "").strip()
        if not netcheck.is_valid_header_name(name):
            raise ValidationError(_("Trigger “%(name)s”: the header for %(what)s is not a valid header name: use "
                                    "letters, digits and - only (e.g. X-API-Key).", name=self.name, what=label))
        if name.lower() in NOT_FOR_CREDENTIALS:
            raise ValidationError(_("Trigger “%(name)s”: the header “%(header)s” cannot carry %(what)s; choose "
                                    "another name (e.g. X-API-Key or X-Signature).",
                                    name=self.name, header=name, what=label))

    def _credential_header_names(self):
        """The headers the connector sets for the authentication and the signature: {name: what}."""
        self.ensure_one()
        names = {}
        if self.auth_type in ("bearer", "basic", "oauth2"):
            names["Authorization"] = _("the authentication")
        elif self.auth_type == "api_key" and self.auth_api_key_header:
            names[self.auth_api_key_header.strip()] = _("the API key")
        if self.signature_scheme == "github":
            names[signing.GITHUB_HEADER] = _("the signature")
        elif self.signature_scheme == "hmac_base64" and self.signature_header:
            names[self.signature_header.strip()] = _("the signature")
        return names

    def write(self, vals):
        if any(name in vals for name in OAUTH2_FIELDS) and "oauth2_access_token" not in vals:
            # A token of other client settings must not be used any more.
            vals = dict(vals, oauth2_access_token=False, oauth2_token_expires_at=False)
        return super().write(vals)

    # ------------------------------------------------------------------
    # Requests
    # ------------------------------------------------------------------
    def _request_auth(self):
        """The ``auth`` object (engine.auth) of this trigger's requests, or None without authentication."""
        self.ensure_one()
        trigger = self.sudo()
        kind = trigger.auth_type or "none"
        if kind == "none":
            return None
        if kind == "oauth2":
            if not trigger.oauth2_client_secret:
                return engine_auth.Unavailable(engine_auth.missing_client_secret())
            config = engine_auth.OAuth2Config(
                token_url=trigger.oauth2_token_url, client_id=trigger.oauth2_client_id,
                client_secret=trigger.oauth2_client_secret, scope=trigger.oauth2_scope or "",
                audience=trigger.oauth2_audience or "")
            # The token URL obeys the same address policy as the trigger's URL.
            return engine_auth.OAuth2ClientCredentials(
                config, check=self._url_checker(), token=trigger.oauth2_access_token or None,
                expires_at=_epoch(trigger.oauth2_token_expires_at))
        try:
            headers = engine_auth.auth_headers(
                kind, token=trigger.auth_token, username=trigger.auth_username, password=trigger.auth_password,
                header=(trigger.auth_api_key_header or "").strip() or None, api_key=trigger.auth_api_key)
        except engine_auth.AuthError as error:
            return engine_auth.Unavailable(error)
        return engine_auth.StaticAuth(headers, secrets=[trigger.auth_password or ""])

    def _keep_oauth2_token(self, auth):
        """Keep on the trigger the token ``auth`` obtained (or dropped) since the last call.

        Called where the cursor is (the runner's loop, the test send), never in
        the sender's threads. Written in a savepoint: when another runner is
        writing the same trigger, this one's token is simply not kept.
        """
        self.ensure_one()
        update = auth.take_update() if auth is not None else None
        if not update:
            return
        token, expires_at = update
        trigger = self.sudo().with_context(tracking_disable=True)
        try:
            with self.env.cr.savepoint():
                if trigger.exists():
                    trigger.write({"oauth2_access_token": token or False,
                                   "oauth2_token_expires_at": _utc(expires_at) if expires_at else False})
        except (psycopg2.errors.SerializationFailure, psycopg2.errors.LockNotAvailable):
            _logger.info("Postback trigger %s: its new OAuth2 token is written by another runner", self.id)

    def _header_secrets(self):
        """The custom header values and every credential of the authentication (and the
        Basic credentials as sent), longest first: what must never be shown."""
        secrets = set(super()._header_secrets())
        for trigger in self.sudo():
            values = [trigger.auth_token, trigger.auth_password, trigger.auth_api_key,
                      trigger.oauth2_client_secret, trigger.oauth2_access_token]
            if trigger.auth_username and trigger.auth_type == "basic":
                values.append(engine_auth.basic_credentials(trigger.auth_username, trigger.auth_password))
            if trigger.oauth2_client_id and trigger.oauth2_client_secret:
                values.extend(engine_auth.client_secrets(engine_auth.OAuth2Config(
                    trigger.oauth2_token_url or "", trigger.oauth2_client_id, trigger.oauth2_client_secret)))
            secrets.update(value for value in engine_auth.secret_words(*values) if len(value) >= 4)
        return sorted(secrets, key=len, reverse=True)

