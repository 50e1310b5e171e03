# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""1.1.0 (18.0.1.1.0): postback.event.payload is renamed document (the event's input document).

Runs before the models are loaded: the column is renamed, not dropped and re-created,
so no document is lost; the field's ir.model.fields rows and their XML ids follow,
so the upgrade neither sees a removed field (whose clean-up would drop the column)
nor loses the field labels' translations.
"""

import logging

from odoo.tools import sql

_logger = logging.getLogger(__name__)

RENAMED = (("payload", "document"), ("payload_pretty", "document_pretty"))


def migrate(cr, version):
    if sql.column_exists(cr, "postback_event", "payload") and not sql.column_exists(cr, "postback_event", "document"):
        sql.rename_column(cr, "postback_event", "payload", "document")
        _logger.info("postback_event.payload renamed document")
    for old, new in RENAMED:
        cr.execute(
            "UPDATE ir_model_fields SET name = %s WHERE model = 'postback.event' AND name = %s"
            " AND NOT EXISTS (SELECT 1 FROM ir_model_fields WHERE model = 'postback.event' AND name = %s)",
            [new, old, new],
        )
        cr.execute(
            "UPDATE ir_model_data SET name = %s WHERE module = 'postback_connector'"
            " AND model = 'ir.model.fields' AND name = %s"
            " AND NOT EXISTS (SELECT 1 FROM ir_model_data WHERE module = 'postback_connector' AND name = %s)",
            ["field_postback_event__%s" % new, "field_postback_event__%s" % old, "field_postback_event__%s" % new],
        )
