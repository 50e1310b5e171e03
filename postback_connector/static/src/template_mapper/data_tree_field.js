// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import { Component, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import {
    childPath,
    jinjaExpression,
    parseData,
    shortValue,
    suggestOutput,
    suggestType,
    typeName,
} from "./paths";

/** One value of the incoming data; objects and lists open and close. */
export class DataTreeNode extends Component {
    static template = "postback_connector.DataTreeNode";
    static props = {
        label: String,
        value: { optional: true },
        path: String,
        depth: Number,
        onPick: Function,
        pickable: { type: Boolean, optional: true },
    };
    static defaultProps = { pickable: true };

    setup() {
        this.state = useState({ open: this.props.depth < 2 });
    }

    get type() {
        return typeName(this.props.value);
    }

    get isContainer() {
        return this.type === "object" || (this.type === "list" && this.props.value.length > 0);
    }

    get shown() {
        const value = this.props.value;
        if (this.type === "list") {
            return value.length === 1 ? _t("list of 1 item") : _t("list of %s items", value.length);
        }
        return this.type === "object" ? "" : shortValue(value);
    }

    get children() {
        const { value, path } = this.props;
        if (this.type === "list") {
            const first = value[0];
            // Like the engine's paths, a list is described by its first element: item[] stands for each.
            if (typeName(first) === "object") {
                return Object.entries(first).map(([key, child]) => ({
                    key: `${path}[].${key}`,
                    label: key,
                    value: child,
                    path: childPath(`${path}[]`, key),
                }));
            }
            return [{ key: `${path}[]`, label: "[ ]", value: first, path: `${path}[]` }];
        }
        return Object.entries(value).map(([key, child]) => ({
            key: childPath(path, key),
            label: key,
            value: child,
            path: childPath(path, key),
        }));
    }

    get title() {
        return _t("%(path)s (%(type)s) — click to map it", { path: this.props.path, type: this.type });
    }

    toggle() {
        this.state.open = !this.state.open;
    }

    pick() {
        this.props.onPick(this.props.path, this.props.value);
    }
}
DataTreeNode.components = { DataTreeNode };

/**
 * The Template Mapper's data tree, on the "Available input paths" field.
 * Where this widget does not load, Odoo shows that field as its plain list
 * of paths: the mapper keeps working, by typing paths.
 */
export class PostbackDataTreeField extends Component {
    static template = "postback_connector.DataTreeField";
    static components = { DataTreeNode };
    static props = { ...standardFieldProps, dataField: { type: String, optional: true } };
    static defaultProps = { dataField: "input_preview" };

    setup() {
        this.notice = useState({ text: "" });
    }

    get parsed() {
        return parseData(this.props.record.data[this.props.dataField]);
    }

    get entries() {
        const data = this.parsed.data;
        if (!data || typeof data !== "object" || Array.isArray(data)) {
            return [];
        }
        return Object.entries(data).map(([key, value]) => ({ key, value, path: childPath("", key) }));
    }

    get advanced() {
        return this.props.record.data.mode === "advanced";
    }

    get canEdit() {
        // The field itself is computed, hence readonly: what counts is whether the template can be edited.
        return Boolean(this.props.record.isInEdition);
    }

    get hint() {
        if (this.advanced) {
            return _t("Click a value to insert it into the body at the cursor.");
        }
        return _t("Click a value to fill the Source of the line you are editing, or to add a line for it.");
    }

    async onPick(path, value) {
        if (this.advanced) {
            await this.insertInBody(jinjaExpression(path, this.props.record.data.payload_format));
            return;
        }
        const lines = this.props.record.data.line_ids;
        if (!lines) {
            return;
        }
        let line = lines.editedRecord;
        // What was just typed in that line is committed on blur, through the model's mutex.
        await this.props.record.model.mutex.getUnlockedDef();
        if (line && lines.records.includes(line)) {
            const changes = { source: path };
            if (!line.data.output_path) {
                changes.output_path = suggestOutput(path);
                changes.value_type = suggestType(value);
            }
            await line.update(changes);
            this.notice.text = _t("Source of “%(output)s” set to %(path)s.", {
                output: line.data.output_path,
                path,
            });
        } else {
            line = await lines.addNewRecord({ position: "bottom" });
            const output = suggestOutput(path);
            await line.update({ output_path: output, source: path, value_type: suggestType(value) });
            // A line the tree added is complete: leave it, so the next click adds the next line.
            await lines.leaveEditMode();
            this.notice.text = _t("Line “%(output)s” ← %(path)s added.", { output, path });
        }
    }

    async insertInBody(expression) {
        // Odoo's code editor is Ace; its element carries the editor (ace.edit sets el.env).
        const root = document.querySelector(".o_postback_body .ace_editor");
        const editor = root && root.env && root.env.editor;
        if (editor) {
            editor.insert(expression);
            editor.focus();
        } else {
            const body = this.props.record.data.body || "";
            await this.props.record.update({ body: body + expression });
        }
        this.notice.text = _t("Inserted %s.", expression);
    }
}

export const postbackDataTreeField = {
    component: PostbackDataTreeField,
    displayName: _t("Template Mapper data tree"),
    supportedTypes: ["text"],
    extractProps: ({ options }) => (options.data_field ? { dataField: options.data_field } : {}),
};

registry.category("fields").add("postback_data_tree", postbackDataTreeField);
