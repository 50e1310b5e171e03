# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
from datetime import timedelta

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from odoo import fields
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged
from odoo.tools import SQL

from ..models.postback_delivery_runner import CLAIM_SETTINGS
from .common import PostbackCase
from .receivers import GarbageReceiver, HttpReceiver, SmtpReceiver


@tagged("post_install", "-at_install")
class DeliveryCase(PostbackCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.product = cls.env["product.product"].create(
            {"name": "Pallet of tiles", "default_code": "TILE-01", "list_price": 10.0}
        )
        cls.set_schedule("0, 0, 0")

    @classmethod
    def set_schedule(cls, text):
        cls.env["ir.config_parameter"].sudo().set_param("postback_connector.retry_schedule", text)

    def make_order(self):
        return self.env["sale.order"].create({
            "partner_id": self.customer.id,
            "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 3})],
        })

    def emit(self, order=None, code="order.received"):
        order = order or self.make_order()
        events = order._postback_emit(code)
        return events.delivery_ids


@tagged("post_install", "-at_install")
class TestHttpDelivery(DeliveryCase):
    def test_delivered_signed_and_verifiable_with_standard_webhooks(self):
        with HttpReceiver() as receiver:
            trigger = self.make_trigger(
                url=receiver.url, header_ids=[(0, 0, {"name": "Authorization", "value": "Bearer t0k"})]
            )
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "delivered")
        self.assertEqual(len(delivery.attempt_ids), 1)
        self.assertEqual(delivery.attempt_ids.status_code, 200)
        self.assertEqual(len(receiver.received), 1)
        request = receiver.received[0]
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.assertEqual(request.method, "POST")
        self.assertEqual(headers["webhook-id"], delivery.webhook_id)
        self.assertEqual(headers["authorization"], "Bearer t0k")
        self.assertEqual(headers["content-type"], "application/json")
        self.assertIn("postback_connector", headers["user-agent"])
        Webhook(trigger.sudo().secret).verify(request.body, headers)
        with self.assertRaises(WebhookVerificationError):
            Webhook(trigger.sudo().secret).verify(request.body.replace(b"order", b"ORDER", 1), headers)
        body = json.loads(request.body)
        self.assertEqual(body["order_number"], delivery.order_id.name)
        self.assertEqual(body["items"][0], {"sku": "TILE-01", "quantity": 3.0})
        self.assertEqual(delivery.payload.encode(), request.body, "the exact body sent is kept")

    def test_500_twice_then_200_is_delivered_on_the_third_attempt_with_one_webhook_id(self):
        with HttpReceiver() as receiver:
            receiver.queue(500, 500)
            self.make_trigger(url=receiver.url)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "delivered")
        self.assertEqual(delivery.attempt_count, 3)
        self.assertEqual(len(delivery.attempt_ids), 3)
        self.assertEqual(sorted(delivery.attempt_ids.mapped("status_code")), [200, 500, 500])
        self.assertEqual({r.headers["webhook-id"] for r in receiver.received}, {delivery.webhook_id})
        self.assertEqual(len({r.body for r in receiver.received}), 1, "retries send the same body")

    def test_410_gone_disables_the_trigger(self):
        with HttpReceiver(default=(410, {}, "gone")) as receiver:
            trigger = self.make_trigger(url=receiver.url)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "failed")
        self.assertEqual(delivery.attempt_count, 1)
        self.assertEqual(trigger.state, "disabled")
        self.assertIn("410", trigger.disabled_reason)
        self.assertTrue(trigger.activity_ids, "someone is told: an activity")
        self.assertTrue(trigger.activity_ids.user_id.active)

    def test_429_with_retry_after_is_not_retried_before_it(self):
        self.set_schedule("0, 5s, 5m")
        with HttpReceiver(default=(429, {"Retry-After": "120"}, "slow down")) as receiver:
            self.make_trigger(url=receiver.url)
            delivery = self.emit()
            before = fields.Datetime.now()
            self.run_queue()
        self.assertEqual(delivery.state, "pending")
        self.assertEqual(delivery.attempt_count, 1)
        self.assertGreaterEqual(delivery.next_attempt_at, before + timedelta(seconds=119))
        self.assertEqual(len(receiver.received), 1)

    def test_timeout_is_retried(self):
        self.set_schedule("0, 5m")
        with HttpReceiver(delay=2.5) as receiver:
            self.make_trigger(url=receiver.url, timeout=1)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "pending")
        self.assertEqual(delivery.attempt_ids.outcome, "retry")
        self.assertIn("Timed out", delivery.last_error)
        self.assertGreater(delivery.next_attempt_at, fields.Datetime.now())

    def test_without_retry_on_failure_the_first_failure_is_final(self):
        with HttpReceiver(default=(500, {}, "boom")) as receiver:
            self.make_trigger(url=receiver.url, retry_on_failure=False)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "failed")
        self.assertEqual(delivery.attempt_count, 1)
        self.assertEqual(delivery.attempt_ids.response_body, "boom")
        self.assertIn("500", delivery.last_error)

    def test_exhausted_schedule_ends_failed_with_the_last_error(self):
        with HttpReceiver(default=(503, {}, "down")) as receiver:
            self.make_trigger(url=receiver.url)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "failed")
        self.assertEqual(delivery.attempt_count, 3, "one attempt per step of the schedule")
        self.assertIn("503", delivery.last_error)

    def test_garbage_response_and_closed_port_are_failures_not_crashes(self):
        with GarbageReceiver() as garbage, HttpReceiver() as healthy:
            bad = self.make_trigger(url=garbage.url, retry_on_failure=False, name="Garbage")
            closed = self.make_trigger(url="http://127.0.0.1:9/hook", retry_on_failure=False, name="Closed")
            good = self.make_trigger(url=healthy.url, name="Healthy")
            deliveries = self.emit()
            self.run_queue()
        by_trigger = {d.trigger_id: d for d in deliveries}
        self.assertEqual(by_trigger[good].state, "delivered", "one bad delivery never stops the others")
        self.assertEqual(by_trigger[bad].state, "failed")
        self.assertTrue(by_trigger[bad].last_error)
        self.assertEqual(by_trigger[closed].state, "failed")
        self.assertIn("refused", by_trigger[closed].last_error.lower())

    def test_broken_template_fails_clearly_and_the_batch_goes_on(self):
        # Renders every sample (they have a client reference), not this order (it has none).
        broken = self.make_template(lines=[("x", "order.client_reference", None, "string", "required")],
                                    name="Broken")
        with HttpReceiver() as receiver:
            bad = self.make_trigger(url=receiver.url, template_id=broken.id, name="Broken")
            good = self.make_trigger(url=receiver.url, name="Good")
            deliveries = self.emit()
            self.run_queue()
        by_trigger = {d.trigger_id: d for d in deliveries}
        self.assertEqual(by_trigger[good].state, "delivered")
        self.assertEqual(by_trigger[bad].state, "failed")
        self.assertIn("order.client_reference", by_trigger[bad].last_error)
        self.assertEqual(len(receiver.received), 1)

    def test_private_targets_are_refused_unless_allowed(self):
        self.env["ir.config_parameter"].sudo().set_param("postback_connector.allow_private_targets", "0")
        with HttpReceiver() as receiver:
            self.make_trigger(url=receiver.url, retry_on_failure=False)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "failed")
        self.assertIn("Settings", delivery.last_error)
        self.assertFalse(receiver.received, "nothing left the machine")

    def test_payload_over_the_size_limit_is_refused(self):
        self.env["ir.config_parameter"].sudo().set_param("postback_connector.max_payload_kb", "1")
        big = self.make_template(lines=[("blob", "customer.name * 2000", None, "string")], name="Big")
        with HttpReceiver() as receiver:
            self.make_trigger(url=receiver.url, template_id=big.id)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "failed")
        self.assertIn("KB", delivery.last_error)
        self.assertFalse(receiver.received)

    def test_per_order_ordering(self):
        self.set_schedule("0, 1h")
        order, other = self.make_order(), self.make_order()
        failures = []

        def fail_first_received_of_order(body):
            # "received" of the first order fails once; everything else succeeds.
            data = json.loads(body)
            if data["order_number"] == order.name and data["status"] == "order.received" and not failures:
                failures.append(data)
                return (500, {}, "")
            return None

        with HttpReceiver(responder=fail_first_received_of_order) as receiver:
            self.make_trigger(url=receiver.url, events=("order.received", "order.shipped"))
            received = self.emit(order, "order.received")
            shipped = self.emit(order, "order.shipped")
            other_delivery = self.emit(other, "order.received")
            self.run_queue()
            self.assertEqual(received.state, "pending")
            self.assertEqual(shipped.state, "pending")
            self.assertFalse(shipped.attempt_ids, "shipped waits while received is not delivered")
            self.assertEqual(other_delivery.state, "delivered", "other orders are not held up")
            received.write({"next_attempt_at": fields.Datetime.now() - timedelta(seconds=1)})
            self.run_queue()
        self.assertEqual((received.state, shipped.state), ("delivered", "delivered"))
        types = [
            json.loads(r.body)["status"]
            for r in receiver.received
            if r.headers["webhook-id"] != other_delivery.webhook_id
        ]
        self.assertEqual(types, ["order.received", "order.received", "order.shipped"])

    def test_resend_keeps_the_webhook_id(self):
        with HttpReceiver() as receiver:
            receiver.queue(500)
            self.make_trigger(url=receiver.url, retry_on_failure=False)
            delivery = self.emit()
            self.run_queue()
            self.assertEqual(delivery.state, "failed")
            delivery.action_resend()
            self.run_queue()
        self.assertEqual(delivery.state, "delivered")
        self.assertEqual([r.headers["webhook-id"] for r in receiver.received], [delivery.webhook_id] * 2)

    def test_persistently_failing_trigger_is_auto_disabled(self):
        self.set_schedule("0, 1h")
        with HttpReceiver(default=(500, {}, "")) as receiver:
            trigger = self.make_trigger(url=receiver.url, user_id=self.env.ref("base.user_admin").id)
            trigger.failing_since = fields.Datetime.now() - timedelta(days=6)
            self.emit()
            self.run_queue()
        self.assertEqual(trigger.state, "disabled")
        self.assertIn("failing since", trigger.disabled_reason)
        self.assertEqual(trigger.activity_ids.user_id, trigger.user_id)

    def test_recover_failed_deliveries_when_re_enabling(self):
        with HttpReceiver() as receiver:
            receiver.queue(500)
            trigger = self.make_trigger(url=receiver.url, retry_on_failure=False)
            delivery = self.emit()
            self.run_queue()
            trigger.action_deactivate()
            action = trigger.action_recover()
            wizard = self.env[action["res_model"]].with_context(action["context"]).create({})
            self.assertEqual(wizard.recover_count, 1)
            wizard.action_confirm()
            self.run_queue()
        self.assertEqual(trigger.state, "active")
        self.assertEqual(delivery.state, "delivered")

    def test_a_failing_spell_starts_at_its_first_failed_attempt(self):
        # The runner's bookkeeping may run a second or more after a failure (a slow
        # endpoint in the same batch, or just a second boundary in between): the spell,
        # and so "Recover failed deliveries since", still starts at that failure.
        with HttpReceiver(default=(500, {}, "")) as receiver:
            trigger = self.make_trigger(url=receiver.url, retry_on_failure=False)
            delivery = self.emit()
            self.run_queue()
        self.assertEqual(delivery.state, "failed")
        self.assertLessEqual(trigger.failing_since, delivery.last_attempt_at)
        failed_at = delivery.last_attempt_at - timedelta(seconds=3)
        delivery.sudo().last_attempt_at = failed_at
        trigger.failing_since = False
        self.env["postback.trigger"]._update_health(
            set(), {trigger.id: failed_at}, {}, self.env["postback.delivery"]._get_runner_settings())
        self.assertEqual(trigger.failing_since, failed_at.replace(microsecond=0))
        trigger.action_deactivate()
        action = trigger.action_recover()
        wizard = self.env[action["res_model"]].with_context(action["context"]).create({})
        self.assertEqual(wizard.recover_count, 1)

    def test_purge_removes_old_delivered_rows_only(self):
        with HttpReceiver() as receiver:
            self.make_trigger(url=receiver.url)
            delivered = self.emit()
            self.run_queue()
        pending = self.emit()
        delivered.flush_recordset()
        self.env.cr.execute(
            "UPDATE postback_delivery SET delivered_at = delivered_at - interval '40 days' WHERE id = %s",
            [delivered.id],
        )
        self.env["postback.delivery"]._cron_purge_old_deliveries()
        self.assertFalse(delivered.exists())
        self.assertTrue(pending.exists())

    def test_neutralized_database_stops_sending(self):
        trigger = self.make_trigger()
        delivery = self.emit()
        self.env.flush_all()
        for query in get_neutralization_queries(["postback_connector"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertEqual(trigger.state, "disabled")
        self.assertEqual(delivery.state, "cancelled")


@tagged("post_install", "-at_install")
class TestEmailDelivery(DeliveryCase):
    def test_email_reaches_the_smtp_server_with_the_json_attachment(self):
        with SmtpReceiver() as smtp:
            self.env["ir.mail_server"].create({
                "name": "Local test SMTP", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                "smtp_encryption": "none", "sequence": 1,
            })
            self.make_trigger(channel="email", url=False, email_to="edi@bianchi.example")
            delivery = self.emit()
            self.run_queue()
            self.assertTrue(smtp.wait_for(1))
        self.assertEqual(delivery.state, "delivered")
        _sender, recipients, message = smtp.messages[0]
        self.assertEqual(recipients, ["edi@bianchi.example"])
        self.assertIn(delivery.order_id.name, message["subject"])
        attachments = [part for part in message.iter_attachments() if part.get_filename().endswith(".json")]
        self.assertEqual(len(attachments), 1)
        payload = json.loads(attachments[0].get_content() if isinstance(attachments[0].get_content(), str)
                             else attachments[0].get_content().decode())
        self.assertEqual(payload["order_number"], delivery.order_id.name)

    def test_a_subject_rendering_line_breaks_is_sent_on_one_line(self):
        with SmtpReceiver() as smtp:
            self.env["ir.mail_server"].create({
                "name": "Local test SMTP", "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                "smtp_encryption": "none", "sequence": 1,
            })
            self.make_trigger(channel="email", url=False, email_to="edi@bianchi.example",
                              email_subject="Order {{ order.reference }}\n\r\n   {{ event.type }}\n")
            delivery = self.emit()
            self.run_queue()
            self.assertTrue(smtp.wait_for(1))
        self.assertEqual(delivery.state, "delivered", delivery.last_error)
        subject = smtp.messages[0][2]["subject"]
        self.assertEqual(subject, "Order %s order.received" % delivery.order_id.name)


@tagged("post_install", "-at_install")
class TestRunners(DeliveryCase):
    def test_parallel_runner_setting_adds_and_removes_cron_copies(self):
        deliveries = self.env["postback.delivery"]
        settings = self.env["res.config.settings"].create({"postback_runner_count": 3})
        settings.execute()
        self.assertEqual(len(deliveries._get_runner_crons()), 3)
        self.assertEqual(self.env["res.config.settings"].create({}).postback_runner_count, 3)
        triggers_before = self.env["ir.cron.trigger"].search_count([])
        self.make_trigger()
        self.emit()
        self.assertEqual(self.env["ir.cron.trigger"].search_count([]) - triggers_before, 3,
                         "enqueueing wakes every runner")
        self.env["res.config.settings"].create({"postback_runner_count": 1}).execute()
        self.assertEqual(deliveries._get_runner_crons(), self.env.ref("postback_connector.ir_cron_send_deliveries"))


@tagged("post_install", "-at_install")
class TestHold(DeliveryCase):
    def test_deliveries_of_an_inactive_trigger_wait_on_hold_and_resume(self):
        with HttpReceiver() as receiver:
            trigger = self.make_trigger(url=receiver.url)
            delivery = self.emit()
            trigger.action_deactivate()
            self.assertEqual(delivery.state, "held")
            self.run_queue()
            self.assertFalse(receiver.received, "nothing is sent for an inactive trigger")
            trigger._activate()
            self.assertEqual(delivery.state, "pending")
            self.run_queue()
        self.assertEqual(delivery.state, "delivered")
        self.assertEqual(len(receiver.received), 1)

    def test_claiming_walks_the_due_index(self):
        trigger = self.make_trigger()
        self.emit()
        self.env.flush_all()
        deliveries = self.env["postback.delivery"]
        query = deliveries._due_query(True, SQL("d.id"), limit=200, lock=True)
        # The planner settings the claim itself runs with (the plan must not depend on the
        # table's statistics, which a database that served many tests has skewed)
        self.env.cr.execute(SQL(CLAIM_SETTINGS))
        self.env.cr.execute(SQL("SET LOCAL enable_seqscan = off"))
        self.env.cr.execute(SQL("EXPLAIN %s", query))
        plan = "\n".join(row[0] for row in self.env.cr.fetchall())
        self.assertIn("postback_delivery_due_idx", plan)
        self.assertNotIn("Sort", plan, "rows come in index order: no sort of the whole backlog")
        # also while the runner leaves out an endpoint it knows is down
        skipping = deliveries._due_query(True, SQL("d.id"), limit=200, lock=True,
                                         skip_endpoints=[trigger.endpoint_id.id])
        self.env.cr.execute(SQL("EXPLAIN %s", skipping))
        plan = "\n".join(row[0] for row in self.env.cr.fetchall())
        self.assertIn("postback_delivery_due_idx", plan)
        self.assertNotIn("Sort", plan)


@tagged("post_install", "-at_install")
class TestDeadEndpoint(DeliveryCase):
    def test_deliveries_behind_a_timed_out_request_are_postponed_not_failed(self):
        self.env["ir.config_parameter"].sudo().set_param("postback_connector.per_host", "1")
        self.set_schedule("0, 1h")
        with HttpReceiver(delay=2.5) as slow, HttpReceiver() as healthy:
            dead = self.make_trigger(url=slow.url, timeout=1, name="Dead", events=("order.received",))
            alive = self.make_trigger(url=healthy.url, name="Alive", events=("order.received",))
            deliveries = self.emit() | self.emit()
            self.run_queue()
        dead_ones = deliveries.filtered(lambda d: d.trigger_id == dead)
        self.assertEqual(len(dead_ones), 2)
        self.assertEqual(set(dead_ones.mapped("state")), {"pending"})
        attempted, skipped = dead_ones.sorted(lambda d: d.attempt_count, reverse=True)
        self.assertEqual(attempted.attempt_count, 1)
        self.assertIn("Timed out", attempted.last_error)
        self.assertEqual(skipped.attempt_count, 0, "a skipped delivery is not an attempt")
        self.assertFalse(skipped.attempt_ids, "a skipped delivery writes no attempt row")
        self.assertGreater(skipped.next_attempt_at, fields.Datetime.now())
        # The endpoint is paused for every runner, the healthy one is not.
        self.assertEqual(dead.endpoint_id.health, "paused")
        self.assertIn("Timed out", dead.endpoint_id.last_error)
        self.assertGreaterEqual(skipped.next_attempt_at, dead.endpoint_id.cooldown_until)
        self.assertEqual(alive.endpoint_id.health, "healthy")
        self.assertEqual(set((deliveries - dead_ones).mapped("state")), {"delivered"})
        self.assertEqual(len(healthy.received), 2)
        self.assertTrue(alive)
