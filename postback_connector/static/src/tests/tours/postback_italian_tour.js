// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).

/**
 * The Italian UI, read as a merchant reads it: a template with a failing line
 * (its data tree, line values and preview error), its preview dialog and a
 * trigger. On each screen the visible text must contain none of the addon's
 * English sentences (passed by tests/test_tour.py in sessionStorage).
 */

import { registry } from "@web/core/registry";

export const ENGLISH_KEY = "postback_connector.english_sentences";

function noEnglish(screen) {
    return {
        content: `No English sentence of the addon on ${screen}`,
        trigger: "body",
        run() {
            const sentences = JSON.parse(window.sessionStorage.getItem(ENGLISH_KEY) || "[]");
            if (!sentences.length) {
                throw new Error("no English sentences to look for");
            }
            const text = document.body.innerText.replace(/\s+/g, " ");
            const left = sentences.filter((sentence) => text.includes(sentence));
            if (left.length) {
                throw new Error(`English left on ${screen}: ${JSON.stringify(left)}`);
            }
        },
    };
}

registry.category("web_tour.tours").add("postback_connector_italian_tour", {
    steps: () => [
        {
            content: "The template form, in Italian, with its data tree",
            trigger: ".o_postback_data_tree .o_postback_tree_node[data-path='order.reference']",
        },
        {
            content: "The failing line shows its error in place",
            trigger: ".o_field_widget[name=line_ids] .o_data_row [name=preview_value]:contains(shipment.tracking_reference)",
        },
        {
            content: "The preview error is shown",
            trigger: ".o_field_widget[name=preview_error]:contains(shipment.tracking_reference)",
        },
        noEnglish("the template form"),
        {
            content: "Open the preview",
            trigger: ".o_form_view .o_statusbar_buttons button[name=action_open_preview]",
            run: "click",
        },
        {
            trigger: ".modal .o_field_widget[name=data_label]",
        },
        noEnglish("the preview dialog"),
    ],
});
