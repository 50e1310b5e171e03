# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""``/my/postbacks``: the customer's developers see, test and replay their postbacks.

Every route is ``auth="public"`` so that whoever is not signed in gets a 403
page (with a sign-in link), never a redirect that would tell a scanner which
ids exist; every id that is not the user's own is a 404. The access rule
itself lives in the models (``postback.trigger._portal_get`` and friends); the
routes only translate its refusals: MissingError -> 404, AccessError -> 403.
Every POST carries Odoo's CSRF token (the routes' default).
"""

from werkzeug.exceptions import Forbidden, NotFound

from odoo import _, fields, http
from odoo.addons.portal.controllers.portal import CustomerPortal
from odoo.addons.portal.controllers.portal import pager as portal_pager
from odoo.exceptions import AccessError, MissingError, UserError
from odoo.http import request

DELIVERIES_PER_PAGE = 30
NOTICE_KEY = "postback_portal_notice"
MAX_URL_LENGTH = 2048


class PostbackPortal(CustomerPortal):
    def _prepare_home_portal_values(self, counters):
        values = super()._prepare_home_portal_values(counters)
        if "postback_count" in counters:
            values["postback_count"] = len(request.env["postback.trigger"]._portal_triggers())
        return values

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _postback_signed_in():
        """None for a signed-in user; else the 403 page that offers to sign in."""
        if not request.env.user._is_public():
            return None
        return request.render("postback_connector.portal_postback_sign_in",
                              {"redirect": request.httprequest.path}, status=403)

    def _postback_values(self, page_name, **values):
        result = self._prepare_portal_layout_values()
        notice = request.session.pop(NOTICE_KEY, None)
        result.update(page_name=page_name, postback_notice=notice, **values)
        return result

    @staticmethod
    def _postback_notice(kind, text):
        request.session[NOTICE_KEY] = {"kind": kind, "text": str(text)}

    def _postback_act(self, target_url, action):
        """Run ``action()`` (a portal model method) and come back to ``target_url`` with its notice.

        Its refusals: not yours -> 404, not enabled -> 403, anything the customer can fix
        (UserError) -> the page again with the message, and nothing of it written.
        """
        try:
            with request.env.cr.savepoint():
                message = action()
        except MissingError as error:
            raise NotFound() from error
        except AccessError as error:
            raise Forbidden(error.args[0]) from error
        except UserError as error:
            self._postback_notice("danger", error.args[0])
        else:
            if isinstance(message, tuple):
                self._postback_notice(*message)
            elif message:
                self._postback_notice("success", message)
        return request.redirect(target_url, code=303)

    @staticmethod
    def _postback_trigger(trigger_id):
        try:
            return request.env["postback.trigger"]._portal_get(trigger_id)
        except MissingError as error:
            raise NotFound() from error

    @staticmethod
    def _postback_delivery(delivery_id):
        try:
            return request.env["postback.delivery"]._portal_get(delivery_id)
        except MissingError as error:
            raise NotFound() from error

    @staticmethod
    def _postback_int(value):
        try:
            return int(value)
        except (TypeError, ValueError):
            return 0

    @staticmethod
    def _postback_date(value):
        try:
            return fields.Date.to_date(value) if value else None
        except (TypeError, ValueError):
            return None

    # ------------------------------------------------------------------ pages
    @http.route("/my/postbacks", type="http", auth="public", website=True, methods=["GET"])
    def portal_my_postbacks(self, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        triggers = request.env["postback.trigger"]._portal_triggers()
        if not triggers and not request.env["postback.trigger"]._portal_partner():
            raise NotFound()
        return request.render("postback_connector.portal_my_postbacks", self._postback_values(
            "postbacks", triggers=triggers, failed_counts=triggers._portal_failed_counts()))

    @http.route(["/my/postbacks/<int:trigger_id>", "/my/postbacks/<int:trigger_id>/page/<int:page>"],
                type="http", auth="public", website=True, methods=["GET"])
    def portal_postback_trigger(self, trigger_id, page=1, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        trigger = self._postback_trigger(trigger_id)
        states = dict(request.env["postback.delivery"]._fields["state"]._description_selection(request.env))
        event, state = self._postback_int(kw.get("event")), kw.get("state")
        filters = {
            "event_type_id": event if event in trigger.event_type_ids.ids else 0,
            "state": state if state in states else "",
            "order": str(kw.get("order") or "").strip()[:64],
            "date_from": self._postback_date(kw.get("date_from")),
            "date_to": self._postback_date(kw.get("date_to")),
        }
        domain = trigger._portal_deliveries_domain(filters)
        deliveries_model = request.env["postback.delivery"].sudo()
        total = deliveries_model.search_count(domain)
        url_args = {key: value for key, value in {
            "event": filters["event_type_id"] or "", "state": filters["state"], "order": filters["order"],
            "date_from": fields.Date.to_string(filters["date_from"]) if filters["date_from"] else "",
            "date_to": fields.Date.to_string(filters["date_to"]) if filters["date_to"] else "",
        }.items() if value}
        pager = portal_pager(url="/my/postbacks/%s" % trigger.id, url_args=url_args, total=total, page=page,
                             step=DELIVERIES_PER_PAGE)
        deliveries = deliveries_model.search(domain, order="id desc", limit=DELIVERIES_PER_PAGE,
                                             offset=pager["offset"])
        settings = trigger.partner_id._postback_portal_settings()
        return request.render("postback_connector.portal_postback_trigger", self._postback_values(
            "postback_trigger", trigger=trigger, deliveries=deliveries, pager=pager, filters=url_args,
            states=states, settings=settings, total=total))

    @http.route("/my/postbacks/delivery/<int:delivery_id>", type="http", auth="public", website=True,
                methods=["GET"])
    def portal_postback_delivery(self, delivery_id, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        delivery = self._postback_delivery(delivery_id)
        # A link to the portal's own order page when this user may open it there (no access
        # token is made or handed out).
        order = delivery.order_id.with_env(request.env(su=False))
        order_url = order.access_url if order and order.has_access("read") else False
        return request.render("postback_connector.portal_postback_delivery", self._postback_values(
            "postback_delivery", delivery=delivery, trigger=delivery.trigger_id, order_url=order_url,
            attempts=delivery.attempt_ids.sorted(lambda a: (a.attempted_at, a.id), reverse=True),
            settings=delivery.trigger_id.partner_id._postback_portal_settings()))

    @http.route("/my/postbacks/<int:trigger_id>/developer", type="http", auth="public", website=True,
                methods=["GET"])
    def portal_postback_developer(self, trigger_id, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        trigger = self._postback_trigger(trigger_id)
        return request.render("postback_connector.portal_postback_developer", self._postback_values(
            "postback_developer", trigger=trigger, catalogue=trigger._portal_catalogue(),
            code=trigger._portal_verify_code()))

    # ------------------------------------------------------------------ actions
    @http.route("/my/postbacks/delivery/<int:delivery_id>/resend", type="http", auth="public", website=True,
                methods=["POST"])
    def portal_postback_resend(self, delivery_id, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        delivery = self._postback_delivery(delivery_id)

        def resend():
            delivery._portal_resend()
            return _("The delivery is queued again: it goes out within seconds, with the same webhook-id and body.")
        return self._postback_act("/my/postbacks/delivery/%s" % delivery.id, resend)

    @http.route("/my/postbacks/<int:trigger_id>/resend_failed", type="http", auth="public", website=True,
                methods=["POST"])
    def portal_postback_resend_failed(self, trigger_id, since=None, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        trigger = self._postback_trigger(trigger_id)

        def resend_failed():
            day = self._postback_date(since)
            if not day:
                raise UserError(_("Choose the date from which failed deliveries are sent again."))
            count = trigger._portal_resend_failed(day)
            return _("%s failed deliveries are queued again.", count)
        return self._postback_act("/my/postbacks/%s" % trigger.id, resend_failed)

    @http.route("/my/postbacks/<int:trigger_id>/test", type="http", auth="public", website=True,
                methods=["POST"])
    def portal_postback_test(self, trigger_id, event_type_id=None, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        trigger = self._postback_trigger(trigger_id)

        def send_test():
            # A failed test is a result, not a mistake: recorded (chatter, last test), never rolled back.
            ok = trigger._portal_send_test(self._postback_int(event_type_id))
            if ok:
                return _("Test delivered: %s", trigger.last_test_result or "")
            return "danger", _("Test failed: %s", trigger.last_test_result or "")
        return self._postback_act("/my/postbacks/%s" % trigger.id, send_test)

    @http.route(["/my/postbacks/<int:trigger_id>/secret", "/my/postbacks/<int:trigger_id>/secret/rotate"],
                type="http", auth="public", website=True, methods=["POST"])
    def portal_postback_secret(self, trigger_id, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        trigger = self._postback_trigger(trigger_id)
        rotate = request.httprequest.path.rstrip("/").endswith("/rotate")
        try:
            with request.env.cr.savepoint():
                secret = trigger._portal_rotate_secret() if rotate else trigger._portal_reveal_secret()
        except AccessError as error:
            raise Forbidden(error.args[0]) from error
        except UserError as error:
            self._postback_notice("danger", error.args[0])
            return request.redirect("/my/postbacks/%s" % trigger.id, code=303)
        response = request.render("postback_connector.portal_postback_secret", self._postback_values(
            "postback_secret", trigger=trigger, secret=secret, rotated=rotate))
        response.headers["Cache-Control"] = "no-store"
        return response

    @http.route("/my/postbacks/<int:trigger_id>/url", type="http", auth="public", website=True,
                methods=["POST"])
    def portal_postback_url(self, trigger_id, url=None, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        trigger = self._postback_trigger(trigger_id)

        def set_url():
            if len(url or "") > MAX_URL_LENGTH:
                raise UserError(_("This URL is too long."))
            return _("The endpoint URL is changed.") if trigger._portal_set_url(url) else None
        return self._postback_act("/my/postbacks/%s" % trigger.id, set_url)

    @http.route(["/my/postbacks/<int:trigger_id>/pause", "/my/postbacks/<int:trigger_id>/resume"],
                type="http", auth="public", website=True, methods=["POST"])
    def portal_postback_pause(self, trigger_id, **kw):
        refused = self._postback_signed_in()
        if refused:
            return refused
        trigger = self._postback_trigger(trigger_id)
        resume = request.httprequest.path.rstrip("/").endswith("/resume")

        def switch():
            if resume:
                trigger._portal_resume()
                return _("Resumed: waiting deliveries go out now.")
            trigger._portal_pause()
            return _("Paused: nothing is sent to this endpoint until you resume it, and order events in the "
                     "meantime are not queued for it.")
        return self._postback_act("/my/postbacks/%s" % trigger.id, switch)
