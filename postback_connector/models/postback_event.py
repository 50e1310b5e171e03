# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
import uuid

from odoo import _, api, fields, models
from odoo.exceptions import AccessError

from .. import compat
from ..engine import render


class PostbackEvent(models.Model):
    _name = "postback.event"
    _description = "Postback Order Event"
    _order = "id desc"
    _rec_name = "display_name"

    uid = fields.Char(string="Event ID", required=True, readonly=True, index=True, copy=False)
    event_type_id = fields.Many2one("postback.event.type", required=True, readonly=True, index=True)
    # Written at creation (not a stored related field): saves a read and an UPDATE
    # per event inside the business transaction.
    code = fields.Char(string="Event code", readonly=True, index=True)
    order_id = fields.Many2one("sale.order", string="Order", readonly=True, index=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True, index=True)
    picking_id = fields.Many2one("stock.picking", string="Transfer", readonly=True, ondelete="set null")
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    occurred_at = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    dedup_key = fields.Char(
        string="Transition key",
        readonly=True,
        help="Identifies the transition (e.g. the shipment) so the same event is never recorded twice.",
    )
    origin = fields.Selection(
        [("auto", "Order flow"), ("code", "Integration"), ("manual", "Manual")],
        default="auto",
        readonly=True,
    )
    document = fields.Text(string="Input data", readonly=True, help="The input document, as JSON.")
    document_pretty = fields.Text(string="Input data (formatted)", compute="_compute_document_pretty")
    delivery_ids = fields.One2many("postback.delivery", "event_id", string="Deliveries", readonly=True)
    delivery_count = fields.Integer(compute="_compute_delivery_count")

    _transition_unique = compat.Constraint(
        "unique(order_id, event_type_id, dedup_key)", "This order event was already recorded."
    )
    # The keys of recorded transitions also live in postback.transition, which outlives
    # the purge of old events: that table is what _record checks.

    @api.depends("event_type_id", "order_id")
    def _compute_display_name(self):
        for event in self:
            event.display_name = "%s – %s" % (event.order_id.name or "", event.event_type_id.name or "")

    @api.depends("document")
    def _compute_document_pretty(self):
        for event in self:
            event.document_pretty = render.pretty_json(event.document)

    def _compute_delivery_count(self):
        groups = self.env["postback.delivery"]._read_group(
            [("event_id", "in", self.ids)], ["event_id"], ["__count"]
        )
        counts = {event.id: count for event, count in groups}
        for event in self:
            event.delivery_count = counts.get(event.id, 0)

    def _get_data(self):
        self.ensure_one()
        return json.loads(self.document or "{}")

    def action_view_deliveries(self):
        self.ensure_one()
        self.env["postback.trigger"]._postback_check_group(_("Only Postback users can see the deliveries."))
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("postback_connector.postback_delivery_action")
        action["domain"] = [("event_id", "=", self.id)]
        return action

    # Events are written by the system only (nobody has the write or create
    # right: their document is what the deliveries render and sign).
    def unlink(self):
        """Managers may delete old events; not while one of their deliveries is queued
        (the database would delete those deliveries with them)."""
        if not self.env.su:
            self.check_access("unlink")
            queued = self.env["postback.delivery"].sudo().search_count(
                [("event_id", "in", self.ids), ("state", "in", ("pending", "held"))], limit=1)
            if queued:
                raise AccessError(_("An event whose deliveries are still queued cannot be deleted: "
                                    "cancel them first."))
        return super().unlink()

    # ------------------------------------------------------------------
    # Recording of order events and fan-out to deliveries (the transactional outbox)
    # ------------------------------------------------------------------
    @api.model
    def _record(self, entries, origin="auto"):
        """Record order events and queue one delivery per matching active trigger.

        ``entries``: list of dicts with ``order`` (sale.order record), ``code`` (event
        code), and optionally ``dedup_key``, ``picking``, ``transaction``, ``extra``
        (dict merged into the document). An entry with a ``dedup_key`` is recorded at
        most once per order and event type, ever: its key is kept in
        ``postback.transition``, which survives the purge of old events. Runs inside
        the business transaction: only inserts rows, with a fixed number of queries
        whatever the number of entries, orders or lines; no rendering, no network.
        A trigger with a condition (``condition_domain``) fires only for the orders matching it.
        Returns the created events.
        """
        entries = [entry for entry in entries if entry["order"]]
        if not entries:
            return self.browse()
        env = self.env
        type_ids = env["postback.event.type"]._get_ids_by_code()
        types = {code: env["postback.event.type"].browse(type_id) for code, type_id in type_ids.items()}
        orders = env["sale.order"].union(*(entry["order"] for entry in entries)).sudo()
        partners = orders.partner_id.commercial_partner_id
        wanted_types = [types[entry["code"]].id for entry in entries if entry["code"] in types]
        triggers = env["postback.trigger"].sudo().search(
            [
                ("state", "=", "active"),
                ("commercial_partner_id", "in", partners.ids),
                ("event_type_ids", "in", wanted_types),
            ]
        )
        if not triggers:
            return self.browse()
        matching = {}
        for trigger in triggers:
            for event_type in trigger.event_type_ids:
                matching.setdefault((trigger.commercial_partner_id.id, event_type.id), []).append(trigger)
        # For each trigger with a condition, the orders of the batch matching it (one evaluation per condition).
        condition_matches = triggers._postback_condition_matches(orders)

        now = fields.Datetime.now()
        candidates, keys, batch_keys = [], [], set()
        for entry in entries:
            event_type = types.get(entry["code"])
            order = entry["order"].sudo()
            if not event_type:
                continue
            company_triggers = [
                t for t in matching.get((order.partner_id.commercial_partner_id.id, event_type.id), [])
                if t.company_id == order.company_id and order.id in condition_matches.get(t.id, (order.id,))
            ]
            if not company_triggers:
                continue
            uid = "evt_%s" % uuid.uuid4().hex
            key = (order.id, event_type.id, entry.get("dedup_key") or False)
            if key[2]:
                if key in batch_keys:
                    continue
                batch_keys.add(key)
                keys.append((*key, uid, order.company_id.id))
            candidates.append((entry, order, event_type, key, uid, company_triggers))
        # One statement claims every key: a transition already recorded (now or by a
        # concurrent transaction that commits first) is not recorded again, even after
        # its event was purged.
        claimed = env["postback.transition"].sudo()._claim(keys, now) if keys else set()

        to_create, deliveries_per_event = [], []
        for entry, order, event_type, key, uid, company_triggers in candidates:
            if key[2] and key not in claimed:
                continue
            document = order._postback_document(
                entry["code"], uid, now,
                picking=entry.get("picking"), transaction=entry.get("transaction"),
                extra=entry.get("extra"),
            )
            to_create.append({
                "uid": uid,
                "event_type_id": event_type.id,
                "code": entry["code"],
                "order_id": order.id,
                "partner_id": order.partner_id.commercial_partner_id.id,
                "picking_id": entry["picking"].id if entry.get("picking") else False,
                "company_id": order.company_id.id,
                "occurred_at": now,
                "dedup_key": key[2],
                "origin": origin,
                "document": json.dumps(document, ensure_ascii=False),
            })
            deliveries_per_event.append(company_triggers)
        if not to_create:
            return self.browse()
        events = self.sudo().create(to_create)
        delivery_vals = [
            {
                "event_id": event.id,
                "event_type_id": vals["event_type_id"],
                "trigger_id": trigger.id,
                "partner_id": trigger.partner_id.id,
                "company_id": trigger.company_id.id,
                "order_id": vals["order_id"],
                "next_attempt_at": now,
            }
            for event, vals, event_triggers in zip(events, to_create, deliveries_per_event, strict=True)
            for trigger in event_triggers
        ]
        deliveries = env["postback.delivery"].sudo().create(delivery_vals)
        deliveries._wake_runner()
        return events
