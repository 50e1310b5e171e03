# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The attack suite: every model and button of the addon, probed through JSON-RPC
as each role, against a real Odoo and real HTTP receivers on 127.0.0.1.

One table (``PROBES``) lists every probe: role, model, operation, arguments and
the expected outcome. ``test_attack_table`` replays it through
``/web/dataset/call_kw`` with an authenticated session of the role (no Python
call that skips the access checks), each probe in a savepoint rolled back after
it, and asserts for every probe:

- the outcome (allowed, allowed but nothing visible, refused with an
  AccessError / UserError / ValidationError; any other error fails);
- a refused probe changed nothing: every table of the addon, its chatter and
  the cron wake-ups are identical before and after;
- nothing was sent: the receivers (one per company, the URL of every trigger)
  got no request, except the one signed test of an allowed *Send test*;
- nothing leaked: no RPC response body contains a signing secret, a header
  value or another company's data the role may not see, and no log line holds
  a secret or a header value.

``docs/security-matrix.md`` is rendered from the same table
(``render_security_matrix``); ``test_security_matrix_is_up_to_date`` keeps it in
sync (``POSTBACK_WRITE_SECURITY_MATRIX=1`` rewrites it).
"""

import json
import logging
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest.mock import patch

import requests
from standardwebhooks.webhooks import Webhook

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import SQL

from .. import compat
from .common import MAPPING, _loopback_only_send
from .receivers import HttpReceiver

MATRIX_PATH = Path(__file__).resolve().parents[2] / "docs" / "security-matrix.md"

# ---------------------------------------------------------------------------
# Roles
# ---------------------------------------------------------------------------
PORTAL, INTERNAL, USER, MANAGER, OTHER = "portal", "internal", "pb_user", "pb_manager", "other_manager"
ROLES = (PORTAL, INTERNAL, USER, MANAGER, OTHER)
ROLE_TITLES = {
    PORTAL: "Portal user",
    INTERNAL: "Internal user (no Postback group)",
    USER: "Postback / User (company A; salesman, own orders)",
    MANAGER: "Postback / Manager (company A)",
    OTHER: "Postback / Manager of company B (all B orders)",
}
ROLE_GROUPS = {
    PORTAL: "base.group_portal",
    INTERNAL: "base.group_user",
    USER: "base.group_user,postback_connector.group_postback_user,sales_team.group_sale_salesman,"
    "base.group_allow_export",
    MANAGER: "base.group_user,postback_connector.group_postback_manager,base.group_allow_export",
    OTHER: "base.group_user,postback_connector.group_postback_manager,"
    "sales_team.group_sale_salesman_all_leads,base.group_allow_export",
}
# What each role may legitimately see in an answer (see MARKERS in the test).
ROLE_VISIBLE = {
    PORTAL: set(),
    INTERNAL: set(),
    USER: {"data_a"},
    MANAGER: {"data_a", "secret_a", "header_a"},
    OTHER: {"data_b", "secret_b", "header_b"},
}

# ---------------------------------------------------------------------------
# Outcomes: one letter per role, in ROLES order ("-": not probed)
# ---------------------------------------------------------------------------
OK, SENDS, EMPTY, REFUSED = "ok", "sends", "empty", "refused"
CODES = {"O": OK, "S": SENDS, "E": EMPTY, "R": REFUSED}
REFUSALS = {"odoo.exceptions.AccessError", "odoo.exceptions.UserError", "odoo.exceptions.ValidationError"}
SYMBOLS = {OK: "✅", SENDS: "✅ 📤", EMPTY: "∅", REFUSED: "⛔"}

FORGED = "ATK-FORGED-BODY"
BAD = "ATK-BAD-VALUE"


class R:
    """A fixture reference in a probe's arguments, resolved to an id when the probe runs."""

    def __init__(self, name, fmt=None):
        self.name, self.fmt = name, fmt

    def __repr__(self):
        return self.name


def ids(*names):
    return [R(name) for name in names]


def _row(model, operation, method, args, codes, *, kwargs=None):
    assert len(codes) == len(ROLES), (model, operation, codes)
    return (model, operation, method, tuple(args), kwargs or {}, codes)


def _spec():
    T, H, D = "postback.trigger", "postback.trigger.header", "postback.delivery"
    rows = [
        # --- event types (global) --------------------------------------------------------
        _row("postback.event.type", "read", "read", [ids("type_received"), ["name", "code"]], "RROOO"),
        _row("postback.event.type", "search_read", "search_read", [[], ["code"]], "RROOO"),
        _row("postback.event.type", "write name", "write", [ids("type_received"), {"name": "ATK"}], "RRROO"),
        _row("postback.event.type", "write code", "write", [ids("type_received"), {"code": "order.atk"}], "RRRRR"),
        _row("postback.event.type", "create", "create", [{"name": "ATK", "code": "order.atk"}], "RRRRR"),
        _row("postback.event.type", "unlink", "unlink", [ids("type_received")], "RRRRR"),
        # --- templates ----------------------------------------------------------------
        _row("postback.template", "read", "read", [ids("template_a"), ["name", "line_ids"]], "RROOR"),
        _row("postback.template", "search_read", "search_read", [[("id", "=", R("template_a"))], ["name"]], "RROOE"),
        _row("postback.template", "write", "write", [ids("template_a"), {"name": "ATK renamed"}], "RRROR"),
        _row(
            "postback.template",
            "write company → a company not the user's",
            "write",
            [ids("template_spare_a"), {"company_id": R("company_b")}],
            "---R-",
        ),
        _row(
            "postback.template",
            "write company → company A (from B)",
            "write",
            [ids("template_spare_b"), {"company_id": R("company_a")}],
            "----R",
        ),
        _row(
            "postback.template",
            "create in company A",
            "create",
            [{"name": "ATK new template", "company_id": R("company_a")}],
            "RRROR",
        ),
        _row("postback.template", "unlink", "unlink", [ids("template_spare_a")], "RRROR"),
        _row("postback.template", "copy", "copy", [ids("template_a")], "RRROR"),
        _row("postback.template", "action_duplicate", "action_duplicate", [ids("template_a")], "RRROR"),
        _row("postback.template", "action_open_preview", "action_open_preview", [ids("template_a")], "RROOR"),
        _row(
            "postback.template", "action_switch_to_advanced", "action_switch_to_advanced", [ids("template_a")], "RRROR"
        ),
        _row("postback.template", "action_view_triggers", "action_view_triggers", [ids("template_a")], "RROOR"),
        # --- template lines -----------------------------------------------------------
        _row("postback.template.line", "read", "read", [ids("line_a"), ["output_path", "source"]], "RROOR"),
        _row(
            "postback.template.line",
            "search_read",
            "search_read",
            [[("template_id", "=", R("template_a"))], ["source"]],
            "RROOE",
        ),
        _row("postback.template.line", "write", "write", [ids("line_a"), {"source": "order.state"}], "RRROR"),
        _row(
            "postback.template.line",
            "create on template A",
            "create",
            [{"template_id": R("template_a"), "output_path": "atk", "source": "order.reference"}],
            "RRROR",
        ),
        _row(
            "postback.template.line",
            "move a line → template of company B",
            "write",
            [ids("line_a"), {"template_id": R("template_b")}],
            "---R-",
        ),
        _row(
            "postback.template.line",
            "move a line → template of company A",
            "write",
            [ids("line_b"), {"template_id": R("template_a")}],
            "----R",
        ),
        _row("postback.template.line", "unlink", "unlink", [ids("line_a")], "RRROR"),
        # --- triggers -----------------------------------------------------------------
        _row(T, "read", "read", [ids("trigger_a"), ["name", "url", "state", "secret_hint"]], "RROOR"),
        _row(T, "read secret", "read", [ids("trigger_a"), ["secret"]], "RRROR"),
        _row(T, "read previous secret", "read", [ids("trigger_a"), ["secret_previous"]], "RRROR"),
        _row(
            T,
            "search on secret (oracle)",
            "search_read",
            [[("id", "=", R("trigger_a")), ("secret", "=like", "whsec_%")], ["name"]],
            "RRROE",
        ),
        _row(
            T,
            "web_read headers with values",
            "web_read",
            [ids("trigger_a")],
            "RRROR",
            kwargs={"specification": {"header_ids": {"fields": {"name": {}, "value": {}}}}},
        ),
        _row(
            T,
            "web_read headers without values",
            "web_read",
            [ids("trigger_a")],
            "RROOR",
            kwargs={"specification": {"name": {}, "header_ids": {"fields": {"name": {}}}}},
        ),
        _row(T, "export header values", "export_data", [ids("trigger_a"), ["name", "header_ids/value"]], "RRROR"),
        _row(T, "export secret", "export_data", [ids("trigger_a"), ["name", "secret"]], "RRROR"),
        _row(
            T,
            "onchange linking a header, with values",
            "onchange",
            [[], {"header_ids": [[4, R("header_a")]]}, [], {"header_ids": {"fields": {"value": {}}}}],
            "RRROR",
        ),
        _row(T, "read_group on secret", "read_group", [[], ["secret"], ["secret"]], "RRROO", kwargs={"lazy": False}),
        _row(T, "write", "write", [ids("trigger_a"), {"name": "ATK renamed"}], "RRROR"),
        _row(T, "write URL", "write", [ids("trigger_a"), {"url": R("url_b")}], "RRROR"),
        _row(
            T,
            "write company → a company not the user's",
            "write",
            [ids("trigger_a"), {"company_id": R("company_b")}],
            "---R-",
        ),
        _row(
            T,
            "write company → company A (from B)",
            "write",
            [ids("trigger_spare_b"), {"company_id": R("company_a")}],
            "----R",
        ),
        _row(
            T,
            "use a template of company A (from B)",
            "write",
            [ids("trigger_b"), {"template_id": R("template_a")}],
            "----R",
        ),
        _row(
            T,
            "create in company A",
            "create",
            [{"name": "ATK new trigger", "partner_id": R("customer"), "url": R("url_a"), "company_id": R("company_a")}],
            "RRROR",
        ),
        _row(T, "unlink", "unlink", [ids("trigger_a")], "RRROR"),
        _row(T, "copy", "copy", [ids("trigger_a")], "RRROR"),
        _row(
            T,
            "message_post (chatter)",
            "message_post",
            [ids("trigger_a")],
            "RRROR",
            kwargs={"body": "ATK note", "message_type": "comment"},
        ),
        _row(T, "action_activate", "action_activate", [ids("trigger_draft_a")], "RRROR"),
        _row(T, "action_deactivate", "action_deactivate", [ids("trigger_a")], "RRROR"),
        _row(T, "action_reset_to_draft", "action_reset_to_draft", [ids("trigger_a")], "RRROR"),
        _row(T, "action_open_preview", "action_open_preview", [ids("trigger_a")], "RROOR"),
        _row(T, "action_test_send", "action_test_send", [ids("trigger_a")], "RRSSR"),
        _row(T, "action_test_send (trigger of company B)", "action_test_send", [ids("trigger_b")], "RRRRS"),
        _row(T, "action_rotate_secret", "action_rotate_secret", [ids("trigger_a")], "RRROR"),
        _row(T, "action_reveal_secret", "action_reveal_secret", [ids("trigger_a")], "RRROR"),
        _row(T, "action_recover", "action_recover", [ids("trigger_disabled_a")], "RRROR"),
        _row(T, "action_view_deliveries", "action_view_deliveries", [ids("trigger_a")], "RROOR"),
        # --- custom headers -------------------------------------------------------------
        _row(H, "read name", "read", [ids("header_a"), ["name"]], "RROOR"),
        _row(H, "read value", "read", [ids("header_a"), ["value"]], "RRROR"),
        _row(H, "search on value", "search_read", [[("value", "!=", False)], ["name"]], "RRROO"),
        _row(H, "read_group on value", "read_group", [[], ["value"], ["value"]], "RRROO", kwargs={"lazy": False}),
        _row(H, "write value", "write", [ids("header_a"), {"value": "Bearer ATK-changed"}], "RRROR"),
        _row(
            H,
            "write value with a leading non-breaking space",
            "write",
            [ids("header_a"), {"value": "\u00a0Bearer " + BAD}],
            "---R-",
        ),
        _row(
            H, "write value with a trailing space", "write", [ids("header_a"), {"value": "Bearer %s " % BAD}], "---R-"
        ),
        _row(
            H,
            "write value that is not Latin-1",
            "write",
            [ids("header_a"), {"value": "Bearer %s\u2603" % BAD}],
            "---R-",
        ),
        _row(
            H,
            "write value with a control character",
            "write",
            [ids("header_a"), {"value": "Bearer %s\x7f" % BAD}],
            "---R-",
        ),
        _row(
            H,
            "write value with a line break",
            "write",
            [ids("header_a"), {"value": "Bearer %s\r\nX: 1" % BAD}],
            "---R-",
        ),
        _row(H, "write a Latin-1 value", "write", [ids("header_a"), {"value": "Bearer caf\u00e9-ATK"}], "---O-"),
        _row(
            H,
            "create on trigger A",
            "create",
            [{"trigger_id": R("trigger_a"), "name": "X-Atk", "value": "atk"}],
            "RRROR",
        ),
        _row(
            H,
            "create on trigger A with a leading non-breaking space",
            "create",
            [{"trigger_id": R("trigger_a"), "name": "X-Atk", "value": "\u00a0" + BAD}],
            "---R-",
        ),
        _row(
            H,
            "create on trigger B",
            "create",
            [{"trigger_id": R("trigger_b"), "name": "X-Atk", "value": "atk"}],
            "RRRRO",
        ),
        _row(
            H,
            "move a header → trigger of company A",
            "write",
            [ids("header_b"), {"trigger_id": R("trigger_a")}],
            "----R",
        ),
        _row(H, "unlink", "unlink", [ids("header_a")], "RRROR"),
        # --- events -------------------------------------------------------------------
        _row("postback.event", "read", "read", [ids("event_a1"), ["document", "code"]], "RROOR"),
        _row("postback.event", "search_read", "search_read", [[("id", "=", R("event_a1"))], ["code"]], "RROOE"),
        _row("postback.event", "write document", "write", [ids("event_a1"), {"document": FORGED}], "RRRRR"),
        _row(
            "postback.event",
            "create",
            "create",
            [{"uid": "evt_atk", "event_type_id": R("type_received"), "document": FORGED}],
            "RRRRR",
        ),
        _row("postback.event", "unlink (deliveries queued)", "unlink", [ids("event_a1")], "RRRRR"),
        _row("postback.event", "unlink (deliveries finished)", "unlink", [ids("event_done_a")], "RRROR"),
        _row("postback.event", "action_view_deliveries", "action_view_deliveries", [ids("event_a1")], "RROOR"),
        # --- transition keys ------------------------------------------------------------
        _row("postback.transition", "read", "read", [ids("transition_a"), ["dedup_key"]], "RROOR"),
        _row("postback.transition", "write", "write", [ids("transition_a"), {"dedup_key": "atk"}], "RRRRR"),
        _row(
            "postback.transition",
            "create",
            "create",
            [{"order_id": R("order_a1"), "event_type_id": R("type_received"), "dedup_key": "atk"}],
            "RRRRR",
        ),
        _row("postback.transition", "unlink", "unlink", [ids("transition_a")], "RRRRR"),
        # --- deliveries -----------------------------------------------------------------
        _row(D, "read", "read", [ids("delivery_failed_a"), ["payload", "state"]], "RROOR"),
        _row(D, "search_read", "search_read", [[("id", "=", R("delivery_failed_a"))], ["state"]], "RROOE"),
        _row(
            D, "write payload (forge a signed body)", "write", [ids("delivery_failed_a"), {"payload": FORGED}], "RRRRR"
        ),
        _row(
            D,
            "write state / next attempt",
            "write",
            [ids("delivery_failed_a"), {"state": "pending", "next_attempt_at": "2020-01-01 00:00:00"}],
            "RRRRR",
        ),
        _row(
            D,
            "write trigger → trigger of company B",
            "write",
            [ids("delivery_failed_a"), {"trigger_id": R("trigger_b")}],
            "RRRRR",
        ),
        _row(
            D,
            "write trigger → trigger of company A (from B)",
            "write",
            [ids("delivery_b"), {"trigger_id": R("trigger_a")}],
            "RRRRR",
        ),
        _row(
            D,
            "create",
            "create",
            [{"event_id": R("event_a1"), "trigger_id": R("trigger_a"), "payload": FORGED}],
            "RRRRR",
        ),
        _row(D, "copy with another payload", "copy", [ids("delivery_failed_a"), {"payload": FORGED}], "RRRRR"),
        _row(D, "unlink (pending)", "unlink", [ids("delivery_pending_a")], "RRRRR"),
        _row(D, "unlink (delivered)", "unlink", [ids("delivery_delivered_a")], "RRROR"),
        _row(D, "action_resend (failed)", "action_resend", [ids("delivery_failed_a")], "RROOR"),
        _row(D, "action_resend (pending)", "action_resend", [ids("delivery_pending_a")], "RRRRR"),
        _row(D, "action_resend (delivery of company B)", "action_resend", [ids("delivery_b")], "RRRRO"),
        _row(
            D,
            "action_resend_failed",
            "action_resend_failed",
            [ids("delivery_failed_a", "delivery_delivered_a")],
            "RROOR",
        ),
        _row(D, "action_cancel (pending)", "action_cancel", [ids("delivery_pending_a")], "RROOR"),
        # --- delivery attempts ----------------------------------------------------------
        _row("postback.delivery.attempt", "read", "read", [ids("attempt_a"), ["error", "response_body"]], "RROOR"),
        _row(
            "postback.delivery.attempt",
            "search_read",
            "search_read",
            [[("id", "=", R("attempt_a"))], ["error"]],
            "RROOE",
        ),
        _row("postback.delivery.attempt", "write", "write", [ids("attempt_a"), {"error": FORGED}], "RRRRR"),
        _row(
            "postback.delivery.attempt",
            "create",
            "create",
            [{"delivery_id": R("delivery_failed_a"), "error": FORGED}],
            "RRRRR",
        ),
        _row("postback.delivery.attempt", "unlink", "unlink", [ids("attempt_a")], "RRRRR"),
        # --- endpoints ------------------------------------------------------------------
        _row("postback.endpoint", "read", "read", [ids("endpoint_a"), ["name", "health"]], "RROOR"),
        _row("postback.endpoint", "search_read", "search_read", [[("id", "=", R("endpoint_a"))], ["name"]], "RROOE"),
        _row("postback.endpoint", "write", "write", [ids("endpoint_a"), {"cooldown_until": False}], "RRRRR"),
        _row("postback.endpoint", "create", "create", [{"name": "http://atk.example:80"}], "RRRRR"),
        _row("postback.endpoint", "unlink", "unlink", [ids("endpoint_a")], "RRRRR"),
        _row("postback.endpoint", "action_resume", "action_resume", [ids("endpoint_a")], "RRROR"),
    ]
    P = "postback.template.preview"
    preview = {"template_id": R("template_a"), "trigger_id": R("trigger_a"), "event_type_id": R("type_received")}
    with_order = dict(preview, source="order")
    form = {"input_data": {}, "payload": {}, "error_msg": {}}
    rows += [
        # --- preview & test wizard ----------------------------------------------------
        _row(P, "create (sample data)", "create", [dict(preview, source="sample")], "RROOR"),
        _row(
            P, "create with an order the user can read", "create", [dict(with_order, order_id=R("order_a1"))], "RRORR"
        ),
        _row(
            P,
            "create with an order of someone else's (unreadable)",
            "create",
            [dict(with_order, order_id=R("order_a2"))],
            "RRRRR",
        ),
        _row(
            P, "create with an order of another customer", "create", [dict(with_order, order_id=R("order_y"))], "RRRRR"
        ),
        _row(P, "create with an order of company B", "create", [dict(with_order, order_id=R("order_b"))], "RRRRR"),
        _row(
            P,
            "create with an unreadable order (reference field)",
            "create",
            [dict(with_order, order_ref=R("order_a2", "sale.order,%s"))],
            "RRRRR",
        ),
        _row(
            P,
            "create with another template than the trigger's",
            "create",
            [dict(preview, template_id=R("template_b"))],
            "RRRRR",
        ),
        _row(
            P,
            "create on the trigger of company B",
            "create",
            [
                {
                    "template_id": R("template_b"),
                    "trigger_id": R("trigger_b"),
                    "source": "order",
                    "order_id": R("order_b"),
                    "event_type_id": R("type_received"),
                }
            ],
            "RRRRO",
        ),
        _row(
            P,
            "onchange with an order the user can read",
            "onchange",
            [[], dict(with_order, order_id=R("order_a1")), [], form],
            "RRORR",
        ),
        _row(
            P,
            "onchange with an unreadable order",
            "onchange",
            [[], dict(with_order, order_id=R("order_a2")), [], form],
            "RRRRR",
        ),
        _row(P, "read own preview", "read", [ids("preview_user"), ["input_data", "payload"]], "RRORR"),
        _row(
            P,
            "read a preview holding an unreadable order",
            "read",
            [ids("preview_forged_order"), ["input_data"]],
            "RRRRR",
        ),
        _row(
            P,
            "write an unreadable order",
            "write",
            [ids("preview_user"), {"source": "order", "order_id": R("order_a2")}],
            "RRRRR",
        ),
        _row(P, "action_send_test", "action_send_test", [ids("preview_user")], "RRSRR"),
        _row(
            P,
            "action_send_test on a trigger of company B",
            "action_send_test",
            [ids("preview_forged_trigger")],
            "RRRRR",
        ),
        _row(
            P, "action_send_test with an unreadable order", "action_send_test", [ids("preview_forged_order")], "RRRRR"
        ),
        _row(P, "unlink own preview", "unlink", [ids("preview_user")], "RRORR"),
    ]
    A, S, E = "postback.trigger.activate", "postback.secret", "postback.emit"
    rows += [
        # --- activation / recovery wizard ---------------------------------------------
        _row(A, "create", "create", [{"trigger_ids": [[6, 0, ids("trigger_draft_a")]]}], "RRROR"),
        _row(A, "read", "read", [ids("activate_manager"), ["mode", "trigger_ids"]], "RRROR"),
        _row(A, "write", "write", [ids("activate_manager"), {"mode": "recover"}], "RRROR"),
        _row(A, "action_confirm", "action_confirm", [ids("activate_manager")], "RRROR"),
        _row(
            A,
            "action_confirm (recover a trigger of company A, from B)",
            "action_confirm",
            [ids("activate_forged_other")],
            "RRRRR",
        ),
        _row(A, "unlink", "unlink", [ids("activate_manager")], "RRROR"),
        # --- signing secret wizard ----------------------------------------------------
        _row(S, "create", "create", [{"trigger_id": R("trigger_a"), "secret": "whsec_atk"}], "RRRRR"),
        _row(S, "read secret", "read", [ids("secret_manager"), ["secret"]], "RRROR"),
        _row(S, "read trigger", "read", [ids("secret_manager"), ["trigger_id"]], "RRROR"),
        _row(S, "write", "write", [ids("secret_manager"), {"secret": "whsec_atk"}], "RRRRR"),
        _row(S, "unlink", "unlink", [ids("secret_manager")], "RRRRR"),
        # --- manual order event wizard ------------------------------------------------
        _row(
            E,
            "create on an order the user can read",
            "create",
            [{"order_id": R("order_a1"), "event_code": "order.in_transit"}],
            "RRORR",
        ),
        _row(
            E,
            "create on an order of someone else's (unreadable)",
            "create",
            [{"order_id": R("order_a2"), "event_code": "order.in_transit"}],
            "RRRRR",
        ),
        _row(
            E,
            "create on an order of company B (a quotation)",
            "create",
            [{"order_id": R("order_b"), "event_code": "order.in_transit"}],
            "RRRRR",
        ),
        _row(
            E,
            "create with a transfer of another order",
            "create",
            [{"order_id": R("order_a1"), "picking_id": R("picking_y"), "event_code": "order.in_transit"}],
            "RRRRR",
        ),
        _row(E, "read own wizard", "read", [ids("emit_user"), ["order_id", "event_code"]], "RRORR"),
        _row(E, "write an unreadable order", "write", [ids("emit_user"), {"order_id": R("order_a2")}], "RRRRR"),
        _row(E, "action_emit", "action_emit", [ids("emit_user")], "RRORR"),
        _row(E, "action_emit on an unreadable order", "action_emit", [ids("emit_forged")], "RRRRR"),
        _row(E, "unlink own wizard", "unlink", [ids("emit_user")], "RRORR"),
    ]
    return rows


SPEC = _spec()
#: The table: one (role, model, operation, method, args, kwargs, expected) row per probe.
PROBES = [
    (role, model, operation, method, args, kwargs, CODES[code])
    for model, operation, method, args, kwargs, codes in SPEC
    for role, code in zip(ROLES, codes, strict=True)
    if code != "-"
]


def render_security_matrix():
    """The roles x operations table of ``PROBES`` as Markdown (docs/security-matrix.md)."""
    counts = {role: sum(1 for probe in PROBES if probe[0] == role) for role in ROLES}
    refused = sum(1 for probe in PROBES if probe[-1] == REFUSED)
    lines = [
        "# Security matrix",
        "",
        "Generated from `PROBES` in `postback_connector/tests/test_attack_suite.py` by",
        "`render_security_matrix()`; `test_security_matrix_is_up_to_date` fails when it is stale",
        "(`POSTBACK_WRITE_SECURITY_MATRIX=1` rewrites it). Every cell is one probe, run through",
        "JSON-RPC (`/web/dataset/call_kw`) with a session of the role, on a real Odoo 18, with a",
        "real HTTP receiver as the URL of every trigger.",
        "",
        "**%d probes** (%d refused), %d operations × %d roles. Per role: %s."
        % (len(PROBES), refused, len(SPEC), len(ROLES), ", ".join("%s %d" % (role, counts[role]) for role in ROLES)),
        "",
        "Each probe asserts its outcome and that nothing was sent or leaked: a refused probe changes",
        "no row of the addon's tables, its chatter or the cron wake-ups; the receivers get no request",
        "(except the one signed test of an allowed *Send test*, 📤); no answer contains a signing",
        "secret, a custom header value or data of a company the role does not work in; no log line",
        "holds a secret or a header value.",
        "",
        "Legend: ✅ allowed · ✅ 📤 allowed, sends one signed test request · ∅ allowed, nothing",
        "visible (record rules) · ⛔ refused (AccessError, or a translated UserError /",
        "ValidationError) · blank: not probed.",
        "",
        "Roles: " + "; ".join("`%s` = %s" % (role, ROLE_TITLES[role]) for role in ROLES) + ".",
        "Company A holds the main fixtures (customer, orders, triggers, deliveries); company B has",
        "its own trigger, template and delivery for the same customer.",
        "",
        "| model | operation | " + " | ".join("`%s`" % role for role in ROLES) + " |",
        "|---|---|" + "---|" * len(ROLES),
    ]
    for model, operation, _method, _args, _kwargs, codes in SPEC:
        cells = [SYMBOLS[CODES[code]] if code != "-" else "" for code in codes]
        lines.append("| `%s` | %s | %s |" % (model, operation.replace("|", "\\|"), " | ".join(cells)))
    lines.append("")
    return "\n".join(lines)


class _EchoReceiver:
    """A receiver that answers 200 with the request's headers as JSON (like debug endpoints)."""

    def __init__(self):
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.received.append(headers)
                body = json.dumps({"you_sent": headers}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return "http://127.0.0.1:%s/echo" % self.server.server_address[1]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class _Capture(logging.Handler):
    """Keeps every log record emitted while the probes run (server threads included)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []
        self._records_lock = threading.Lock()

    def emit(self, record):
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is still kept
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        with self._records_lock:
            self.records.append((record.levelno, record.name, text))


@tagged("post_install", "-at_install")
class TestAttackSuite(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The runner's start-up check ("postback-restart" timer, 2 s after the registry
        # loads, when Odoo runs without --test-enable, e.g. under pytest-odoo) opens a
        # test cursor in this transaction and may wake the cron: let it pass first,
        # so that it cannot land between a probe and its fingerprint.
        for thread in threading.enumerate():
            if thread.name == "postback-restart":
                thread.join(10)
        cls.startClassPatcher(patch.object(requests.sessions.Session, "send", _loopback_only_send))
        cls.receiver_a = HttpReceiver().start()
        cls.receiver_b = HttpReceiver().start()
        cls.addClassCleanup(cls.receiver_a.stop)
        cls.addClassCleanup(cls.receiver_b.stop)
        cls.env = cls.env(context=dict(cls.env.context, tracking_disable=True, mail_notrack=True))
        cls.env["ir.config_parameter"].sudo().set_param("postback_connector.allow_private_targets", "1")
        cls._make_fixtures()

    @classmethod
    def _make_fixtures(cls):
        env = cls.env
        tag = uuid.uuid4().hex[:8].upper()
        company_a = env.company
        company_b = env["res.company"].create({"name": "ATK Company B %s" % tag})
        cls.users = {
            role: new_test_user(
                env,
                login="atk_%s_%s" % (role, tag.lower()),
                groups=ROLE_GROUPS[role],
                company_id=(company_b if role == OTHER else company_a).id,
                company_ids=[(6, 0, (company_b if role == OTHER else company_a).ids)],
            )
            for role in ROLES
        }
        customer = env["res.partner"].create(
            {"name": "ATK Customer %s" % tag, "is_company": True, "email": "edi@atk-customer.example"}
        )
        other_customer = env["res.partner"].create({"name": "ATK Other Customer %s" % tag, "is_company": True})
        types = {t.code: t for t in env["postback.event.type"].search([])}
        product = env["product.product"].create({"name": "ATK pallet", "default_code": "ATK-1", "list_price": 10})
        admin = env.ref("base.user_admin")

        markers = {}

        def mark(group, text):
            markers.setdefault(group, []).append(text)
            return text

        def template(name_group, company, **values):
            return (
                env["postback.template"]
                .with_company(company)
                .create(
                    {
                        "name": mark(name_group, "ATK-TPL-%s-%s" % (uuid.uuid4().hex[:6], tag)),
                        "partner_id": customer.id,
                        "company_id": company.id,
                        # an event of the triggers below: their Send test goes out at once
                        "event_type_id": types["order.received"].id,
                        "line_ids": [
                            (
                                0,
                                0,
                                {
                                    "sequence": i,
                                    "output_path": out,
                                    "source": src,
                                    "default": default,
                                    "value_type": vtype,
                                },
                            )
                            for i, (out, src, default, vtype) in enumerate(MAPPING)
                        ],
                        **values,
                    }
                )
            )

        template_a = template("data_a", company_a)
        template_b = template("data_b", company_b)
        template_spare_a = template("data_a", company_a, partner_id=False, line_ids=[])
        template_spare_b = template("data_b", company_b, partner_id=False, line_ids=[])
        header_a = mark("header_a", "Bearer atk-header-a-%s" % uuid.uuid4().hex)
        header_b = mark("header_b", "Bearer atk-header-b-%s" % uuid.uuid4().hex)

        def trigger(group, company, url, template=None, header=None):
            values = {
                "name": mark(group, "ATK-TRG-%s-%s" % (uuid.uuid4().hex[:6], tag)),
                "partner_id": customer.id,
                "company_id": company.id,
                "event_type_ids": [(6, 0, [types["order.received"].id, types["order.in_transit"].id])],
                "url": url,
                "template_id": template.id if template else False,
            }
            if header:
                values["header_ids"] = [(0, 0, {"name": "Authorization", "value": header})]
            record = env["postback.trigger"].with_company(company).create(values)
            mark("secret_a" if group == "data_a" else "secret_b", record.sudo().secret)
            return record

        url_a, url_b = cls.receiver_a.url, cls.receiver_b.url
        trigger_a = trigger("data_a", company_a, url_a, template_a, header_a)
        trigger_draft_a = trigger("data_a", company_a, url_a, template_a)
        trigger_disabled_a = trigger("data_a", company_a, url_a, template_a)
        trigger_b = trigger("data_b", company_b, url_b, template_b, header_b)
        trigger_spare_b = trigger("data_b", company_b, url_b)

        def order(company, partner, user, ref_group, confirm):
            record = (
                env["sale.order"]
                .with_company(company)
                .create(
                    {
                        "partner_id": partner.id,
                        "company_id": company.id,
                        "user_id": user.id,
                        "client_order_ref": mark(ref_group, "ATK-REF-%s-%s" % (uuid.uuid4().hex[:6], tag)),
                        "order_line": [(0, 0, {"product_id": product.id, "product_uom_qty": 2})],
                    }
                )
            )
            if confirm:
                record.action_confirm()
            return record

        # Confirmed before any trigger is active: no event, its data exists in the order only.
        order_a2 = order(company_a, customer, admin, "sales_only", confirm=True)
        order_y = order(company_a, other_customer, cls.users[USER], "other_customer", confirm=True)
        order_b = order(company_b, customer, cls.users[OTHER], "data_b", confirm=False)
        (trigger_a | trigger_disabled_a | trigger_b)._activate()
        trigger_disabled_a.write({"state": "disabled"})
        order_a1 = order(company_a, customer, cls.users[USER], "data_a", confirm=True)

        Delivery = env["postback.delivery"]
        delivery_pending_a = Delivery.search([("order_id", "=", order_a1.id)])
        assert len(delivery_pending_a) == 1, delivery_pending_a
        failed_event = order_a1._postback_emit("order.in_transit", tracking_reference="ATK-TRK-1")
        delivery_failed_a = failed_event.delivery_ids
        delivery_failed_a.write(
            {
                "state": "failed",
                "attempt_count": 1,
                "last_error": "HTTP 500",
                "payload": json.dumps({"order_number": order_a1.name}),
            }
        )
        attempt_a = env["postback.delivery.attempt"].create(
            {
                "delivery_id": delivery_failed_a.id,
                "status_code": 500,
                "outcome": "failed",
                "error": "HTTP 500",
                "response_body": "boom",
            }
        )
        event_done_a = order_a1._postback_emit("order.in_transit", dedup_key="atk-once")
        delivery_delivered_a = event_done_a.delivery_ids
        delivery_delivered_a.write({"state": "delivered", "delivered_at": "2024-01-01 00:00:00"})
        transition_a = env["postback.transition"].search([("order_id", "=", order_a1.id)])
        assert len(transition_a) == 1, transition_a
        event_b = order_b._postback_emit("order.received")
        delivery_b = event_b.delivery_ids
        assert delivery_b.trigger_id == trigger_b, delivery_b.trigger_id
        delivery_b.write({"state": "failed", "payload": json.dumps({"order_number": order_b.name})})

        user, manager, other = cls.users[USER], cls.users[MANAGER], cls.users[OTHER]
        Preview = env["postback.template.preview"]
        preview_user = (
            Preview.with_user(user)
            .sudo()
            .create({"template_id": template_a.id, "trigger_id": trigger_a.id, "source": "sample"})
        )
        # Rows no check would let a user create (written as the system): the buttons
        # must still refuse them.
        preview_forged_trigger = (
            Preview.with_user(user)
            .sudo()
            .create({"template_id": template_b.id, "trigger_id": trigger_b.id, "source": "sample"})
        )
        preview_forged_order = (
            Preview.with_user(user)
            .sudo()
            .create(
                {
                    "template_id": template_a.id,
                    "trigger_id": trigger_a.id,
                    "source": "order",
                    "order_id": order_a2.id,
                    "event_type_id": types["order.received"].id,
                }
            )
        )
        Activate = env["postback.trigger.activate"]
        activate_manager = Activate.with_user(manager).sudo().create({"trigger_ids": [(6, 0, trigger_draft_a.ids)]})
        activate_forged_other = (
            Activate.with_user(other)
            .sudo()
            .create({"trigger_ids": [(6, 0, trigger_disabled_a.ids)], "mode": "recover"})
        )
        secret_manager = (
            env["postback.secret"]
            .with_user(manager)
            .sudo()
            .create({"trigger_id": trigger_a.id, "secret": trigger_a.sudo().secret})
        )
        Emit = env["postback.emit"]
        emit_user = (
            Emit.with_user(user)
            .sudo()
            .create({"order_id": order_a1.id, "event_code": "order.in_transit", "tracking_reference": "ATK-TRK-HAND"})
        )
        emit_forged = Emit.with_user(user).sudo().create({"order_id": order_a2.id, "event_code": "order.in_transit"})

        cls.refs = {
            "company_a": company_a,
            "company_b": company_b,
            "customer": customer,
            "type_received": types["order.received"],
            "template_a": template_a,
            "template_b": template_b,
            "template_spare_a": template_spare_a,
            "template_spare_b": template_spare_b,
            "line_a": template_a.line_ids[:1],
            "line_b": template_b.line_ids[:1],
            "trigger_a": trigger_a,
            "trigger_draft_a": trigger_draft_a,
            "trigger_disabled_a": trigger_disabled_a,
            "trigger_b": trigger_b,
            "trigger_spare_b": trigger_spare_b,
            "header_a": trigger_a.header_ids,
            "header_b": trigger_b.header_ids,
            "order_a1": order_a1,
            "order_a2": order_a2,
            "order_y": order_y,
            "order_b": order_b,
            "picking_y": order_y.picking_ids[:1],
            "event_a1": delivery_pending_a.event_id,
            "event_done_a": event_done_a,
            "transition_a": transition_a,
            "delivery_pending_a": delivery_pending_a,
            "delivery_failed_a": delivery_failed_a,
            "delivery_delivered_a": delivery_delivered_a,
            "delivery_b": delivery_b,
            "attempt_a": attempt_a,
            "endpoint_a": trigger_a.endpoint_id,
            "preview_user": preview_user,
            "preview_forged_trigger": preview_forged_trigger,
            "preview_forged_order": preview_forged_order,
            "activate_manager": activate_manager,
            "activate_forged_other": activate_forged_other,
            "secret_manager": secret_manager,
            "emit_user": emit_user,
            "emit_forged": emit_forged,
        }
        cls.urls = {"url_a": url_a, "url_b": url_b}
        assert trigger_a.endpoint_id and trigger_a.endpoint_id != trigger_b.endpoint_id
        assert cls.refs["picking_y"], "the other customer's order has a transfer"
        cls.secrets = {"a": trigger_a.sudo().secret, "b": trigger_b.sudo().secret}
        # Secrets and header values must never be logged; the order of company A the
        # Postback user cannot read, the other customer's order and the invalid header
        # values must never appear in an answer.
        cls.markers = dict(markers, bad_value=[BAD], forged=[FORGED])
        cls.never_logged = markers["secret_a"] + markers["secret_b"] + [header_a, header_b, BAD]

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------
    def _resolve(self, value):
        if isinstance(value, R):
            if value.name in self.urls:
                return self.urls[value.name]
            record = self.refs[value.name]
            assert len(record) == 1, (value.name, record)
            return value.fmt % record.id if value.fmt else record.id
        if isinstance(value, dict):
            return {key: self._resolve(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._resolve(item) for item in value]
        return value

    def _rpc(self, model, method, args, kwargs):
        with compat.http_test_lock(self.registry):  # the previous request has closed its cursor
            pass
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {"model": model, "method": method, "args": args, "kwargs": kwargs},
        }
        response = self.url_open(
            "/web/dataset/call_kw/%s/%s" % (model, method),
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        self.assertEqual(response.status_code, 200, response.text[:500])
        return response.text

    @staticmethod
    def _classify(text):
        answer = json.loads(text)
        if "error" in answer:
            name = answer["error"].get("data", {}).get("name", "?")
            if name in REFUSALS:
                return REFUSED, answer["error"]["data"].get("message", "")
            return "error %s" % name, answer["error"]["data"].get("debug", "")[-1500:]
        result = answer.get("result")
        return (EMPTY if result == [] else OK), ""

    def _fingerprint(self):
        """Every row of the addon's tables, its chatter and the cron wake-ups."""
        self.env.flush_all()
        cr = self.env.cr
        cr.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " AND table_name LIKE 'postback%%' ORDER BY table_name"
        )
        tables = [row[0] for row in cr.fetchall()]
        state = {}
        for table in tables:
            cr.execute(SQL("SELECT * FROM %s ORDER BY 1", SQL.identifier(table)))
            state[table] = cr.fetchall()
        cr.execute(
            "SELECT id, model, res_id, body, message_type FROM mail_message WHERE model LIKE 'postback.%%' ORDER BY id"
        )
        state["mail_message"] = cr.fetchall()
        cr.execute("SELECT id, cron_id, call_at FROM ir_cron_trigger ORDER BY id")
        state["ir_cron_trigger"] = cr.fetchall()
        cr.execute("SELECT count(*) FROM mail_mail")
        state["mail_mail"] = cr.fetchall()
        return state

    def _forbidden(self, role):
        visible = ROLE_VISIBLE[role]
        return [(group, text) for group, texts in self.markers.items() if group not in visible for text in texts]

    def _probe(self, probe):
        role, model, _operation, method, args, kwargs, expected = probe
        # The test lock of the registry: the request thread holds it until its test
        # cursor is closed, so the test never uses the cursor at the same time.
        lock = compat.http_test_lock(self.registry)
        with lock:
            before = self._fingerprint()
            savepoint = self.env.cr.savepoint()
        sent_before = (len(self.receiver_a.received), len(self.receiver_b.received))
        try:
            text = self._rpc(model, method, self._resolve(list(args)), self._resolve(dict(kwargs)))
            with lock:
                outcome, detail = self._classify(text)
                changed = (
                    []
                    if outcome != REFUSED
                    else [
                        (
                            table,
                            "new",
                            sorted(set(rows) - set(before.get(table))),
                            "gone",
                            sorted(set(before.get(table)) - set(rows)),
                        )
                        for table, rows in self._fingerprint().items()
                        if rows != before.get(table)
                    ]
                )
        finally:
            with lock:
                savepoint.close(rollback=True)
                self.env.invalidate_all()
        new_a = self.receiver_a.received[sent_before[0] :]
        new_b = self.receiver_b.received[sent_before[1] :]

        self.assertEqual(
            outcome, OK if expected == SENDS else expected, "%s %s.%s: %s" % (role, model, method, detail or text[:800])
        )
        self.assertFalse(changed, "a refused probe changed %s" % changed)
        leaked = [group for group, marker in self._forbidden(role) if marker in text]
        self.assertFalse(leaked, "the answer leaks %s: %s" % (leaked, text[:800]))
        if expected == SENDS:
            # Exactly the test request, signed with the trigger's own secret.
            company = "b" if role == OTHER else "a"
            new, silent = (new_b, new_a) if company == "b" else (new_a, new_b)
            self.assertEqual((len(new), len(silent)), (1, 0), "one test request to the trigger's receiver")
            headers = {name.lower(): value for name, value in new[0].headers.items()}
            Webhook(self.secrets[company]).verify(new[0].body, headers)
            self.assertNotIn(FORGED.encode(), new[0].body)
        else:
            self.assertEqual((len(new_a), len(new_b)), (0, 0), "nothing may leave: %s" % (new_a + new_b))

    # ------------------------------------------------------------------
    # Tests
    # ------------------------------------------------------------------
    def test_attack_table(self):
        """Every probe of PROBES, through JSON-RPC as its role."""
        capture = _Capture()
        odoo_logger = logging.getLogger("odoo")
        odoo_logger.addHandler(capture)
        previous_level = odoo_logger.level
        odoo_logger.setLevel(logging.INFO)
        try:
            for session_role in ROLES:
                self.authenticate(self.users[session_role].login, self.users[session_role].login)
                for probe in PROBES:
                    if probe[0] != session_role:
                        continue
                    with self.subTest(role=probe[0], model=probe[1], operation=probe[2]):
                        self._probe(probe)
        finally:
            odoo_logger.removeHandler(capture)
            odoo_logger.setLevel(previous_level)
        errors = [record for record in capture.records if record[0] >= logging.ERROR]
        self.assertFalse(errors, "the probes logged errors: %s" % errors[:3])
        logged = [marker for marker in self.never_logged for record in capture.records if marker in record[2]]
        self.assertFalse(logged, "a secret or header value was logged")
        self.assertTrue(
            any("Access Denied" in record[2] or "not allowed" in record[2] for record in capture.records),
            "the refusals were logged (the capture works)",
        )
        for receiver in (self.receiver_a, self.receiver_b):
            self.assertFalse([r for r in receiver.received if FORGED.encode() in r.body])

    def test_header_values_stay_out_of_chatter_and_test_results(self):
        """A manager changes a header value through the trigger form (tracked changes on
        the same save), then a Postback user sends a test to a receiver that echoes the
        request headers in its answer: the value reaches the receiver, and nothing else."""
        value = "Bearer atk-rotated-%s" % uuid.uuid4().hex
        trigger, header = self.refs["trigger_a"], self.refs["header_a"]
        self.authenticate(self.users[MANAGER].login, self.users[MANAGER].login)
        text = self._rpc(
            "postback.trigger",
            "web_save",
            [
                [trigger.id],
                {
                    "name": "ATK renamed with its header",
                    "header_ids": [[1, header.id, {"value": value}]],
                },
            ],
            {"specification": {"name": {}, "header_ids": {"fields": {"name": {}}}}},
        )
        self.assertEqual(self._classify(text)[0], OK, text[:500])
        self.assertNotIn(value, text)
        with _EchoReceiver() as echo:
            trigger.sudo().url = echo.url
            self.authenticate(self.users[USER].login, self.users[USER].login)
            text = self._rpc("postback.trigger", "action_test_send", [[trigger.id]], {})
            self.assertEqual(self._classify(text)[0], OK, text[:500])
            self.assertEqual(len(echo.received), 1)
        self.assertEqual(echo.received[0]["authorization"], value, "the header is sent to the receiver")
        token = value.split()[1]
        self.assertNotIn(token, text, "the test result never shows a header value")
        trigger.invalidate_recordset()
        self.assertIn("HTTP 200", trigger.last_test_result)
        self.assertNotIn(token, trigger.last_test_result)
        self.env.cr.execute("SELECT count(*) FROM mail_message WHERE body::text LIKE %s", ["%" + token + "%"])
        self.assertEqual(self.env.cr.fetchone()[0], 0, "no chatter message holds the value")
        self.env.cr.execute(
            "SELECT count(*) FROM mail_tracking_value WHERE concat(old_value_char, new_value_char,"
            " old_value_text, new_value_text) LIKE %s",
            ["%" + token + "%"],
        )
        self.assertEqual(self.env.cr.fetchone()[0], 0, "no tracking value holds the value")
        self.env.cr.execute(
            "SELECT count(*) FROM mail_tracking_value v JOIN mail_message m ON m.id = v.mail_message_id"
            " WHERE m.model = 'postback.trigger' AND m.res_id = %s",
            [trigger.id],
        )
        self.assertTrue(self.env.cr.fetchone()[0], "the name change on the same save was tracked")

    def test_refusals_are_in_the_merchants_language(self):
        self.env["res.lang"]._activate_lang("it_IT")
        self.env["ir.module.module"]._load_module_terms(["postback_connector"], ["it_IT"], overwrite=True)
        for role in (INTERNAL, USER, MANAGER):
            self.users[role].lang = "it_IT"
        expectations = [
            (
                INTERNAL,
                "postback.trigger",
                "action_test_send",
                [ids("trigger_a")],
                {},
                "Solo gli utenti Postback possono inviare un test.",
            ),
            (
                USER,
                "postback.emit",
                "create",
                [{"order_id": R("order_a2"), "event_code": "order.in_transit"}],
                {},
                "Puoi inviare eventi solo per ordini che hai il permesso di vedere.",
            ),
            (
                USER,
                "postback.template.preview",
                "create",
                [
                    {
                        "template_id": R("template_a"),
                        "trigger_id": R("trigger_a"),
                        "source": "order",
                        "order_id": R("order_y"),
                        "event_type_id": R("type_received"),
                    }
                ],
                {},
                "Puoi visualizzare in anteprima solo ordini di questo cliente che hai il permesso di vedere.",
            ),
            (
                USER,
                "postback.delivery",
                "action_resend",
                [ids("delivery_pending_a")],
                {},
                "Queste consegne sono già in attesa di invio",
            ),
            (
                MANAGER,
                "postback.trigger.header",
                "write",
                [ids("header_a"), {"value": "\u00a0Bearer " + BAD}],
                {},
                "inizia o finisce con uno spazio",
            ),
            (
                MANAGER,
                "postback.trigger.header",
                "write",
                [ids("header_a"), {"value": "Bearer \u2603" + BAD}],
                {},
                "contiene caratteri che un'intestazione HTTP non può trasportare",
            ),
            (
                MANAGER,
                "postback.delivery",
                "unlink",
                [ids("delivery_pending_a")],
                {},
                "Una consegna in attesa o sospesa non può essere eliminata",
            ),
        ]
        for role, model, method, args, kwargs, italian in expectations:
            with self.subTest(role=role, model=model, method=method):
                self.authenticate(self.users[role].login, self.users[role].login)
                text = self._rpc(model, method, self._resolve(args), kwargs)
                outcome, message = self._classify(text)
                self.assertEqual(outcome, REFUSED, text[:500])
                self.assertIn(italian, message)
                self.assertNotIn(BAD, text, "the value is never echoed")

    def test_security_matrix_is_up_to_date(self):
        expected = render_security_matrix()
        if os.environ.get("POSTBACK_WRITE_SECURITY_MATRIX"):
            MATRIX_PATH.parent.mkdir(parents=True, exist_ok=True)
            MATRIX_PATH.write_text(expected, encoding="utf-8")
        self.assertTrue(MATRIX_PATH.exists(), "run with POSTBACK_WRITE_SECURITY_MATRIX=1 to write %s" % MATRIX_PATH)
        self.assertEqual(
            MATRIX_PATH.read_text(encoding="utf-8"),
            expected,
            "docs/security-matrix.md is stale: run the test with POSTBACK_WRITE_SECURITY_MATRIX=1",
        )
        self.assertGreaterEqual(len(PROBES), 400)
