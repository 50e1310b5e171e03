# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo.tests import TransactionCase, tagged
from odoo.tools.misc import file_open
from odoo.tools.translate import PoFileReader, TranslationModuleReader

from ..engine import netcheck, render
from ..engine_i18n import engine_text


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


@tagged("post_install", "-at_install")
class TestEngineMessagesInItalian(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("it_IT")
        cls.env["ir.module.module"]._load_module_terms(["postback_connector"], ["it_IT"], overwrite=True)
        cls.italian = cls.env(context=dict(cls.env.context, lang="it_IT"))

    def _error(self, call, *args):
        try:
            call(*args)
        except ValueError as error:  # RenderError and URL refusals are ValueErrors
            return error
        self.fail("no error raised")

    def test_each_kind_of_engine_error_reads_in_italian(self):
        cases = {
            # a missing required value, nested in "(output field ...)"
            "Il valore 'order.nope' non esiste nei dati in ingresso (campo di output 'ref').": self._error(
                render.render_mapping,
                [render.MappingLine("ref", "order.nope", if_missing="required")], {"order": {}}),
            # a conversion error
            "Impossibile convertire": self._error(
                render.render_mapping, [render.MappingLine("n", "order.ref", value_type="integer")],
                {"order": {"ref": "S01"}}),
            # a syntax error located by line and column
            "(riga 2, colonna": self._error(render.check_body_syntax, '{\n"a": {{ order.ref | }}\n}'),
            # output that is not JSON
            "L'output del template non è JSON valido": self._error(render.render_body, "{oops}", {}),
            # custom data that is not JSON
            "I dati di esempio non sono JSON valido": self._error(render.parse_json_sample, "{"),
            # a refused URL
            "L'URL deve iniziare con http:// o https://": self._error(netcheck.validate_url, "ftp://x.example"),
            # a refused private address: the address kind is translated inside the sentence
            "indirizzo di loopback": self._error(netcheck.check_target, "http://127.0.0.1:9/hook"),
        }
        for expected, error in cases.items():
            with self.subTest(expected=expected):
                text = engine_text(self.italian, error)
                self.assertIn(expected, text)
                self.assertNotEqual(text, str(error), "the English text is not what an Italian merchant reads")
                self.assertEqual(engine_text(self.env(context=dict(self.env.context, lang="en_US")), error),
                                 str(error))

    def test_template_preview_and_line_values_read_in_italian(self):
        template = self.italian["postback.template"].create({
            "name": "Anteprima",
            "event_type_id": self.env.ref("postback_connector.event_type_order_received").id,
            "line_ids": [(0, 0, {"output_path": "tracking", "source": "shipment.tracking_reference",
                                 "if_missing": "required"})],
        })
        self.assertIn("Il valore 'shipment.tracking_reference' non esiste nei dati in ingresso", template.preview_error)
        self.assertTrue(template.line_ids.preview_failed)
        self.assertIn("shipment.tracking_reference", template.line_ids.preview_value)
        self.assertNotIn("does not exist", template.line_ids.preview_value)
        template.line_ids.if_missing = "omit"
        self.assertEqual(template.line_ids.preview_value, "(omesso)")
