# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Per-endpoint rate limits: the receiver never sees more than its rate, the others run at full speed."""
import time

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from .receivers import HttpReceiver
from .test_delivery import DeliveryCase

RATE = 4


def most_in_one_second(times):
    """The largest number of arrivals in any window of one second."""
    times = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


@tagged("post_install", "-at_install")
class TestThrottling(DeliveryCase):
    def test_a_throttled_endpoint_receives_no_more_than_its_rate_while_another_runs_at_full_speed(self):
        with HttpReceiver() as throttled, HttpReceiver() as free:
            slow_trigger = self.make_trigger(name="Throttled ERP", url=throttled.url)
            self.make_trigger(name="Free ERP A", url=free.url + "/a")
            self.make_trigger(name="Free ERP B", url=free.url + "/b")
            slow_trigger.endpoint_id.rate_limit = RATE
            orders = [self.make_order() for _ in range(10)]
            deliveries = self.env["postback.delivery"]
            for order in orders:
                deliveries |= self.emit(order)
            # cron calls one after another (in production the cron is woken for the next due time)
            deadline = time.monotonic() + 30
            while "pending" in deliveries.mapped("state") and time.monotonic() < deadline:
                self.run_queue()
                deliveries.invalidate_recordset()
                time.sleep(0.05)
        self.assertEqual(set(deliveries.mapped("state")), {"delivered"})
        slow_times = [r.at for r in throttled.received]
        free_times = [r.at for r in free.received]
        self.assertEqual((len(slow_times), len(free_times)), (10, 20))
        self.assertLessEqual(most_in_one_second(slow_times), RATE, sorted(slow_times))
        # 10 requests at 4 per second take over two seconds; the other endpoint does not wait for them
        self.assertGreaterEqual(max(slow_times) - min(slow_times), 2.0)
        self.assertLess(max(free_times), sorted(slow_times)[RATE], "the free endpoint was held up")
        # a postponed delivery is not an attempt: one attempt row per delivery
        throttled_deliveries = deliveries.filtered(lambda d: d.trigger_id == slow_trigger)
        self.assertEqual(throttled_deliveries.mapped("attempt_count"), [1] * 10)
        self.assertEqual(len(throttled_deliveries.attempt_ids), 10)

    def test_slots_are_shared_by_every_runner(self):
        """Two runners reserving slots of one endpoint get consecutive, never overlapping slots."""
        trigger = self.make_trigger()
        endpoint = trigger.endpoint_id
        endpoint.rate_limit = 10
        endpoints = self.env["postback.endpoint"]
        first = endpoints._reserve_slots({endpoint.id: (5, 10.0)})[endpoint.id]
        second = endpoints._reserve_slots({endpoint.id: (5, 10.0)})[endpoint.id]
        delay, step, granted, _next_free, _anchor = first
        self.assertEqual(granted, 5)
        self.assertGreaterEqual(step, 0.1)
        # the second runner's first slot comes after the first runner's last one
        self.assertGreaterEqual(second[0], delay + 5 * step - 0.05)
        # beyond the horizon, nothing is granted: the rest waits in the queue
        far = endpoints._reserve_slots({endpoint.id: (100, 10.0)}, horizon=0.5)[endpoint.id]
        self.assertLess(far[2], 100)

    def test_only_managers_set_the_rate_and_nothing_else(self):
        trigger = self.make_trigger()
        endpoint = trigger.endpoint_id
        user = self.make_user("pb_user_rate", "postback_connector.group_postback_user")
        manager = self.make_user("pb_manager_rate", "postback_connector.group_postback_manager")
        with self.assertRaises(AccessError):
            endpoint.with_user(user).write({"rate_limit": 2})
        endpoint.with_user(manager).write({"rate_limit": 2})
        self.assertEqual(endpoint.rate_limit, 2)
        with self.assertRaises(AccessError):
            endpoint.with_user(manager).write({"consecutive_failures": 0, "cooldown_until": False})
        with self.assertRaises(ValidationError):
            endpoint.with_user(manager).write({"rate_limit": -1})
