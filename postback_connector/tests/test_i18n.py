# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo.tests import TransactionCase, tagged
from odoo.tools.misc import file_open
from odoo.tools.translate import PoFileReader, TranslationModuleReader


@tagged("post_install", "-at_install")
class TestItalian(TransactionCase):
    def test_every_term_of_the_addon_has_an_italian_translation(self):
        """What Odoo itself exports for the addon (fields, views, menus, Python and JS code) is all in it.po."""
        reader = TranslationModuleReader(self.env.cr, modules=["postback_connector"])
        sources = {row[4] for row in reader if row[0] == "postback_connector" and row[4].strip()}
        self.assertGreater(len(sources), 400, "the export reads the addon's views, fields and code")
        with file_open("postback_connector/i18n/it.po", "rb") as po_file:
            translated = {row["src"] for row in PoFileReader(po_file) if row["value"]}
        self.assertEqual(sorted(sources - translated), [], "terms without an Italian translation")
