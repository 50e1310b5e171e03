# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Transition keys outlive the purge of old events: a transition never fires twice."""

import importlib.util
import pathlib
import threading
import time

import psycopg2

from odoo import sql_db
from odoo.exceptions import AccessError
from odoo.service.model import PG_CONCURRENCY_ERRORS_TO_RETRY
from odoo.tests import tagged

from .receivers import HttpReceiver
from .test_order_events import OrderFlowCase

MIGRATIONS = pathlib.Path(__file__).resolve().parent.parent / "migrations" / "1.1.0"


def load_migration(name):
    spec = importlib.util.spec_from_file_location(
        "postback_migration_%s" % name.replace("-", "_"), MIGRATIONS / ("%s.py" % name)
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestTransitionKeys(OrderFlowCase):
    def keys(self, order):
        return self.env["postback.transition"].search([("order_id", "=", order.id)])

    def key_set(self, order):
        return {(key.event_type_id.code, key.dedup_key) for key in self.keys(order)}

    def deliver_and_purge(self, order):
        """Send the order's postbacks (real receiver), age them past the retention, purge."""
        with HttpReceiver() as receiver:
            self.trigger.url = receiver.url
            self.run_queue()
        self.assertEqual(set(self.deliveries(order).mapped("state")), {"delivered"})
        self.assertEqual(len(receiver.received), len(self.deliveries(order)))
        self.env["ir.config_parameter"].sudo().set_param("postback_connector.retention_days", "30")
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE postback_delivery SET delivered_at = delivered_at - interval '40 days' WHERE order_id = %s",
            [order.id],
        )
        self.env.cr.execute(
            "UPDATE postback_event SET occurred_at = occurred_at - interval '40 days' WHERE order_id = %s",
            [order.id],
        )
        self.env["postback.delivery"]._cron_purge_old_deliveries()
        self.assertFalse(self.events(order), "the events and their deliveries are purged")

    def return_and_exchange(self, picking):
        wizard = (
            self.env["stock.return.picking"]
            .with_context(active_ids=picking.ids, active_id=picking.id, active_model="stock.picking")
            .create({})
        )
        wizard.product_return_moves.quantity = 1
        action = wizard.action_create_exchanges()
        return self.env["stock.picking"].browse(action["res_id"])

    def test_delivered_fires_once_even_after_its_event_was_purged(self):
        order = self.make_order()
        order.action_confirm()
        picking = self.validate(order.picking_ids)
        self.assertEqual(len(self.events(order, "order.delivered")), 1)
        self.assertEqual(
            self.key_set(order), {("order.shipped", "picking:%s" % picking.id), ("order.delivered", "once")}
        )
        delivered_key = self.keys(order).filtered(lambda key: key.event_type_id.code == "order.delivered")
        self.assertEqual(delivered_key.event_uid, self.events(order, "order.delivered").uid)
        self.assertEqual(delivered_key.event_id, self.events(order, "order.delivered"))
        self.assertEqual(delivered_key.company_id, order.company_id)

        self.deliver_and_purge(order)
        self.assertEqual(len(self.keys(order)), 2, "the keys stay when their events are purged")
        self.assertFalse(delivered_key.event_id, "the event it points to is gone")

        # A return, then a re-delivery: the order becomes fully delivered again.
        return_picking = self.return_and_exchange(picking)
        self.validate(return_picking)
        self.assertNotEqual(order.delivery_status, "full")
        self.assertEqual(len(self.events(order, "order.returned")), 1, "the return is a new transition")
        exchange = order.picking_ids.filtered(lambda p: p.state not in ("done", "cancel"))
        self.assertEqual(len(exchange), 1)
        self.validate(exchange)
        self.assertEqual(order.delivery_status, "full")
        self.assertEqual(len(self.events(order, "order.shipped")), 1, "the exchange is a new shipment")
        self.assertFalse(self.events(order, "order.delivered"), "order.delivered does not fire a second time")
        self.assertFalse(self.deliveries(order, "order.delivered"))
        self.assertEqual(len(self.keys(order)), 4, "+ the return and the exchange shipment")

        # Calling the hook again with the purged key records nothing either.
        self.assertFalse(order._postback_emit("order.delivered", dedup_key="once"))
        self.assertFalse(self.events(order, "order.delivered"))

    def test_shipment_and_tracking_keys_survive_the_purge(self):
        order = self.make_order()
        order.action_confirm()
        picking = self.validate(order.picking_ids)
        picking.carrier_tracking_ref = "TRK-1"
        self.assertEqual(len(self.events(order, "order.in_transit")), 1)
        self.deliver_and_purge(order)
        self.assertIn(("order.shipped", "picking:%s" % picking.id), self.key_set(order))
        self.assertIn(("order.in_transit", "tracking:%s:TRK-1" % picking.id), self.key_set(order))

        # The shipment hook runs again for the same picking (e.g. a re-validation).
        events = self.env["postback.event"]._record(
            [
                {"order": order, "code": "order.shipped", "picking": picking, "dedup_key": "picking:%s" % picking.id},
                {
                    "order": order,
                    "code": "order.in_transit",
                    "picking": picking,
                    "dedup_key": "tracking:%s:TRK-1" % picking.id,
                },
            ]
        )
        self.assertFalse(events)
        self.assertFalse(self.events(order), "no second order.shipped / order.in_transit event")
        self.assertFalse(self.env["postback.delivery"].search([("order_id", "=", order.id)]))

        # A new tracking reference is a new transition.
        picking.carrier_tracking_ref = "TRK-2"
        self.assertEqual(len(self.events(order, "order.in_transit")), 1)
        self.assertEqual(len(self.deliveries(order, "order.in_transit")), 1)

    def test_same_key_twice_in_one_call_and_unkeyed_events(self):
        order = self.make_order()
        order.action_confirm()
        events = order._postback_emit("order.in_transit", dedup_key="carrier:1") | order._postback_emit(
            "order.in_transit", dedup_key="carrier:1"
        )
        self.assertEqual(len(events), 1)
        events = self.env["postback.event"]._record(
            [
                {"order": order, "code": "order.in_transit", "dedup_key": "carrier:2"},
                {"order": order, "code": "order.in_transit", "dedup_key": "carrier:2"},
                {"order": order, "code": "order.in_transit"},
                {"order": order, "code": "order.in_transit"},
            ]
        )
        self.assertEqual(len(events), 3, "one keyed event, the unkeyed ones every time")
        self.assertEqual(self.key_set(order), {("order.in_transit", "carrier:1"), ("order.in_transit", "carrier:2")})
        self.assertFalse(self.keys(order).filtered(lambda key: key.dedup_key in (False, "")))

    def test_no_key_is_kept_without_a_listening_trigger(self):
        stranger = self.env["res.partner"].create({"name": "No Trigger Srl", "is_company": True})
        order = self.make_order(partner=stranger)
        order.action_confirm()
        self.validate(order.picking_ids)
        self.assertFalse(self.events(order))
        self.assertFalse(self.keys(order), "nothing recorded, nothing to de-duplicate")

    def test_keys_go_with_the_order(self):
        order = self.make_order()
        order.action_confirm()
        order._postback_emit("order.in_transit", dedup_key="carrier:1")
        self.assertTrue(self.keys(order))
        order._action_cancel()
        order.unlink()
        self.env.flush_all()
        self.env.cr.execute("SELECT count(*) FROM postback_transition WHERE order_id = %s", [order.id])
        self.assertEqual(self.env.cr.fetchone()[0], 0)

    def test_recording_costs_the_same_queries_for_1_and_30_entries(self):
        orders = self.env["sale.order"].browse()
        for _i in range(15):
            orders |= self.make_order(lines=((None, 1), (self.product_b, 2)))
        single = self.make_order()
        (orders | single).action_confirm()
        orders[:5]._postback_emit("order.in_transit", dedup_key="already-recorded")
        self.env["postback.event"]._record([{"order": single, "code": "order.in_transit", "dedup_key": "warm"}])

        def entries(batch):
            result = []
            for order in batch:
                result += [
                    {"order": order, "code": "order.in_transit", "dedup_key": "already-recorded"},
                    {"order": order, "code": "order.in_transit", "dedup_key": "new"},
                ]
            return result

        counts, created = [], []
        for batch in (single, orders):
            batch_entries = entries(batch)
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            events = self.env["postback.event"]._record(batch_entries)
            self.env.flush_all()
            counts.append(self.env.cr.sql_log_count - before)
            created.append(len(events))
        self.assertEqual(created, [2, 25], "1 order: both keys new; 15 orders: 5 keys already recorded")
        self.assertEqual(counts[0], counts[1], "queries for 2 vs 30 entries: %s" % counts)

    def race(self, other_outcome):
        """Record two keys while another transaction holds the first one, uncommitted.

        The other transaction then commits or rolls back (``other_outcome``). Returns
        ``(waited, events or None, error or None)`` of this transaction's ``_record``.
        """
        order = self.env.ref("sale.sale_order_1")  # committed (demo data): visible to both transactions
        customer = order.partner_id.commercial_partner_id
        template = self.template.copy({"partner_id": customer.id})
        self.make_trigger(partner_id=customer.id, template_id=template.id, events=("order.in_transit",))
        event_type = self.event_types["order.in_transit"]
        self.env.flush_all()
        self.env.cr.execute("SELECT pg_backend_pid()")
        pid = self.env.cr.fetchone()[0]
        other = sql_db.db_connect(self.env.cr.dbname).cursor()
        result = {}

        def record():
            try:
                with self.env.cr.savepoint():
                    result["events"] = self.env["postback.event"]._record(
                        [{"order": order, "code": "order.in_transit", "dedup_key": "concurrent:%s" % n} for n in (1, 2)]
                    )
            except Exception as error:  # noqa: BLE001 - checked by the caller
                result["error"] = error

        try:
            other.execute(
                "INSERT INTO postback_transition (order_id, event_type_id, dedup_key) VALUES (%s, %s, %s)",
                [order.id, event_type.id, "concurrent:1"],
            )
            thread = threading.Thread(target=record)
            thread.start()
            waited = False
            for _i in range(200):
                other.execute("SELECT pg_stat_clear_snapshot()")  # a fresh view of the other backends
                other.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                if (other.fetchone() or [None])[0] == "Lock":
                    waited = True
                    break
                time.sleep(0.05)
            getattr(other, other_outcome)()
            thread.join(30)
            self.assertFalse(thread.is_alive())
        finally:
            other.rollback()
            other.execute(
                "DELETE FROM postback_transition WHERE order_id = %s AND dedup_key LIKE 'concurrent:%%'", [order.id]
            )
            other.commit()
            other.close()
        return waited, result.get("events"), result.get("error")

    def test_a_key_committed_by_a_concurrent_transaction_is_not_recorded_twice(self):
        """The second transaction waits for the first one's key, then fails and is retried.

        Odoo runs transactions in REPEATABLE READ: a conflict with a key committed after
        this transaction started is a serialization failure, which Odoo answers by
        replaying the whole request (odoo.service.model.retrying); the replay sees the
        key and records nothing for it. No event of this attempt survives.
        """
        waited, events, error = self.race("commit")
        self.assertTrue(waited, "the second transaction waits for the first one's key")
        self.assertIsNone(events)
        self.assertIsInstance(error, psycopg2.errors.SerializationFailure)
        self.assertIn(error.pgcode, PG_CONCURRENCY_ERRORS_TO_RETRY, "Odoo retries the request")
        self.assertFalse(self.env["postback.event"].search([("dedup_key", "like", "concurrent:%")]))

    def test_a_key_rolled_back_by_a_concurrent_transaction_is_recorded(self):
        waited, events, error = self.race("rollback")
        self.assertTrue(waited)
        self.assertIsNone(error)
        self.assertEqual(sorted(events.mapped("dedup_key")), ["concurrent:1", "concurrent:2"])
        self.assertEqual(len(events.delivery_ids), 2)

    def test_access_rights(self):
        order = self.make_order()
        order.action_confirm()
        self.validate(order.picking_ids)
        plain = self.make_user("plain_tr", "base.group_user")
        user = self.make_user("pb_user_tr", "base.group_user,postback_connector.group_postback_user")
        manager = self.make_user("pb_manager_tr", "base.group_user,postback_connector.group_postback_manager")
        with self.assertRaises(AccessError):
            self.env["postback.transition"].with_user(plain).search([])
        for reader in (user, manager):
            keys = self.env["postback.transition"].with_user(reader).search([("order_id", "=", order.id)])
            self.assertEqual(len(keys), 2)
            for operation in (
                lambda k: k.write({"dedup_key": "x"}),
                lambda k: k.unlink(),
                lambda k: k.create({"order_id": order.id, "event_type_id": k.event_type_id.id, "dedup_key": "y"}),
            ):
                with self.assertRaises(AccessError):
                    operation(keys[:1])
        other_company = self.env["res.company"].create({"name": "Other Co"})
        other_manager = self.make_user(
            "other_mgr_tr", "base.group_user,postback_connector.group_postback_manager", company=other_company
        )
        self.assertFalse(self.env["postback.transition"].with_user(other_manager).search([("order_id", "=", order.id)]))

    def test_migration_fills_the_keys_from_the_events_and_is_idempotent(self):
        order = self.make_order()
        order.action_confirm()
        picking = self.validate(order.picking_ids)
        expected = self.key_set(order)
        uids = {key.dedup_key: key.event_uid for key in self.keys(order)}
        self.env.cr.execute("DELETE FROM postback_transition WHERE order_id = %s", [order.id])
        self.env.invalidate_all()
        self.assertFalse(self.keys(order))
        load_migration("pre-migrate").migrate(self.env.cr, "18.0.1.0.0")  # nothing to rename any more
        load_migration("post-migrate").migrate(self.env.cr, "18.0.1.0.0")
        load_migration("post-migrate").migrate(self.env.cr, "18.0.1.0.0")
        self.env.invalidate_all()
        self.assertEqual(self.key_set(order), expected)
        self.assertEqual({key.dedup_key: key.event_uid for key in self.keys(order)}, uids)
        self.assertEqual(self.keys(order).company_id, order.company_id)
        self.assertEqual(self.events(order, "order.shipped")._get_data()["shipment"]["reference"], picking.name)
        self.assertFalse(order._postback_emit("order.delivered", dedup_key="once"))
