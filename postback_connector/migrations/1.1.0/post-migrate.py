# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""1.1.0 (18.0.1.1.0): fill postback.transition with the keys of the events already recorded.

Keys of events purged before this version are gone and cannot be recovered; every
keyed event still in the database gets its row, the first event of each key (lowest
id) being the one referenced.
"""

import logging

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    cr.execute(
        """
        INSERT INTO postback_transition
            (order_id, event_type_id, dedup_key, event_uid, company_id,
             create_uid, create_date, write_uid, write_date)
        SELECT DISTINCT ON (e.order_id, e.event_type_id, e.dedup_key)
               e.order_id, e.event_type_id, e.dedup_key, e.uid, COALESCE(o.company_id, e.company_id),
               e.create_uid, COALESCE(e.create_date, e.occurred_at), e.create_uid,
               COALESCE(e.create_date, e.occurred_at)
          FROM postback_event e
          JOIN sale_order o ON o.id = e.order_id
         WHERE e.dedup_key IS NOT NULL AND e.dedup_key != ''
         ORDER BY e.order_id, e.event_type_id, e.dedup_key, e.id
        ON CONFLICT (order_id, event_type_id, dedup_key) DO NOTHING
        """
    )
    _logger.info("postback.transition: %s transition keys taken over from the recorded events", cr.rowcount)
