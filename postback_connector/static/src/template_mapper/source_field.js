// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { CharField, charField } from "@web/views/fields/char/char_field";
import { listPaths, parseData } from "./paths";

let nextId = 0;

/**
 * The Source cell of a mapping line: a text input that completes the paths
 * of the template's incoming data, each with its type and sample value.
 * Without this widget it is Odoo's plain text input.
 */
export class PostbackSourceField extends CharField {
    static template = "postback_connector.SourceField";

    setup() {
        super.setup();
        this.listId = `o_postback_paths_${++nextId}`;
    }

    get templateRecord() {
        // The mapping lines are shown inside the template form: its record holds the data.
        let record = this.props.record;
        while (record && !("input_preview" in record.data) && record._parentRecord) {
            record = record._parentRecord;
        }
        return record && "input_preview" in record.data ? record : this.props.record.model.root;
    }

    get suggestions() {
        const { data } = parseData(this.templateRecord?.data.input_preview);
        return data ? listPaths(data) : [];
    }

    label(entry) {
        return _t("%(type)s · %(example)s", entry);
    }
}

export const postbackSourceField = {
    ...charField,
    component: PostbackSourceField,
    displayName: _t("Input path with completion"),
};

registry.category("fields").add("postback_source", postbackSourceField);
