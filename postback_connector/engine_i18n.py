# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The engine's messages in the merchant's language.

The engine (``engine/``) has no Odoo, hence no translations: its errors carry
their English template (marked for Odoo's extractor with ``_lt``) and their
parameters, and are turned into text here with the user's language.
"""

from odoo.tools.translate import get_translation

from .engine import render

MODULE = "postback_connector"


def engine_text(env, error):
    """``error`` (a RenderError or a URL refusal of the engine) as text in ``env.lang``."""
    lang = env.lang or "en_US"
    if lang == "en_US" or not hasattr(render, "error_text"):
        return str(error)
    return render.error_text(error, translate=lambda template: get_translation(MODULE, lang, template, ()))
