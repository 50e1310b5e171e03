# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import api, fields, models
from odoo.tools import SQL

from .. import compat


class PostbackTransition(models.Model):
    """The de-duplication keys of the order transitions already recorded.

    One row per keyed event ever recorded (``order.delivered`` / ``order.completed``
    once per order, one shipment, one tracking reference...). Events are purged after
    the retention period; these rows stay as long as the order exists, so the same
    transition never fires twice. Written only by :meth:`postback.event._record`
    (sudo, plain SQL, one bulk statement per call).
    """

    _name = "postback.transition"
    _description = "Postback Recorded Transition"
    _order = "id desc"
    _rec_name = "dedup_key"

    order_id = fields.Many2one("sale.order", string="Order", required=True, readonly=True, ondelete="cascade")
    event_type_id = fields.Many2one("postback.event.type", required=True, readonly=True, ondelete="cascade")
    dedup_key = fields.Char(string="Transition key", required=True, readonly=True)
    event_uid = fields.Char(
        string="First event ID",
        readonly=True,
        help="The event that recorded this transition (the event itself may have been purged since).",
    )
    event_id = fields.Many2one("postback.event", string="First event", compute="_compute_event_id")
    company_id = fields.Many2one("res.company", readonly=True)

    _key_unique = compat.Constraint(
        "unique(order_id, event_type_id, dedup_key)", "This order transition was already recorded."
    )

    @api.depends("event_uid")
    def _compute_event_id(self):
        uids = [uid for uid in self.mapped("event_uid") if uid]
        events = self.env["postback.event"].search([("uid", "in", uids)]) if uids else self.env["postback.event"]
        by_uid = {event.uid: event for event in events}
        for transition in self:
            transition.event_id = by_uid.get(transition.event_uid, False)

    @api.model
    def _claim(self, rows, now):
        """Insert the keys of ``rows``, return the keys that were not recorded yet.

        ``rows``: list of ``(order_id, event_type_id, dedup_key, event_uid, company_id)``.
        One statement whatever the number of rows. A key already recorded, by an
        earlier transaction or by a concurrent one that commits, is left out of the
        result (the concurrent case waits for the other transaction to end, so two
        transactions never both get the same key).
        """
        if not rows:
            return set()
        # A stable order of insertion: two transactions claiming the same keys take
        # their row locks in the same order instead of deadlocking each other.
        rows = sorted(rows, key=lambda row: (row[0], row[1], row[2]))
        columns = list(zip(*rows, strict=True))
        self.env.cr.execute(SQL(
            "INSERT INTO postback_transition"
            " (order_id, event_type_id, dedup_key, event_uid, company_id,"
            "  create_uid, create_date, write_uid, write_date)"
            " SELECT v.order_id, v.event_type_id, v.dedup_key, v.event_uid, v.company_id, %s, %s, %s, %s"
            " FROM unnest(%s::int[], %s::int[], %s::varchar[], %s::varchar[], %s::int[])"
            "  WITH ORDINALITY AS v(order_id, event_type_id, dedup_key, event_uid, company_id, n)"
            " ORDER BY v.n"
            " ON CONFLICT (order_id, event_type_id, dedup_key) DO NOTHING"
            " RETURNING order_id, event_type_id, dedup_key",
            self.env.uid, now, self.env.uid, now, *(list(column) for column in columns),
        ))
        return set(self.env.cr.fetchall())
