/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).

/**
 * The whole merchant flow of the help page, as a user clicks it:
 * customer → Triggers tab → "Add trigger" → name, event, URL, method, format,
 * Retry on Failure → template created from the trigger ("Create and edit…"),
 * designed on the "Order shipped" sample data with the Template Mapper and
 * checked in its preview → save → open the trigger → "Send test" → "Activate".
 *
 * Data comes from the Python test (tests/test_tour.py): the customer
 * "Tour Customer Srl" and, in sessionStorage, the URL of a receiver it runs.
 */

import { registry } from "@web/core/registry";
import { session } from "@web/session";

export const RECEIVER_URL_KEY = "postback_connector.tour_receiver_url";
const CUSTOMER = "Tour Customer Srl";
const TRIGGER = "Tour ERP shipments";
const TEMPLATE = "Tour shipment notice";
// The dialog on top: with the template dialog open, the trigger dialog stays below.
const TOP_MODAL = ".modal:not(.o_inactive_modal)";
const LINES = `${TOP_MODAL} .o_field_widget[name=line_ids]`;
const TREE = `${TOP_MODAL} .o_postback_data_tree`;

// Odoo 19.0 draws a selection field as a SelectMenu dropdown, 18.0 as a <select>.
const SELECTION_IS_MENU = ((session.server_version_info || [18])[0] || 18) >= 19;

/** Steps choosing ``label`` (value ``value``) in the selection field ``name`` of the dialog. */
function chooseSelection(content, name, value, label) {
    const field = `.modal .o_field_widget[name=${name}]`;
    if (!SELECTION_IS_MENU) {
        return [{ content, trigger: `${field} select`, run: `select "${value}"` }];
    }
    return [
        { content, trigger: `${field} .o_select_menu_toggler`, run: "click" },
        { content: `${content}: ${label}`, trigger: `.o_select_menu_item:contains(${label})`, run: "click" },
        // the toggler is an input when the menu is searchable, a button otherwise
        { trigger: `${field} input.o_select_menu_toggler:value(${label}), ${field} button.o_select_menu_toggler:contains(${label})` },
    ];
}

/** Steps typing ``value`` into cell ``field`` of mapping line ``row`` (1-based), entering its edition first. */
function editCell(content, row, field, value) {
    return [
        { content, trigger: `${LINES} .o_data_row:nth-child(${row}) .o_data_cell[name=${field}]`, run: "click" },
        {
            trigger: `${LINES} .o_data_row.o_selected_row:nth-child(${row}) .o_field_widget[name=${field}] input`,
            run: `edit ${value}`,
        },
    ];
}

function receiverUrl() {
    return window.sessionStorage.getItem(RECEIVER_URL_KEY) || "http://127.0.0.1:9/hook";
}

registry.category("web_tour.tours").add("postback_connector_customer_trigger_tour", {
    steps: () => [
        // 1. Customer setup: the customer exists; open it.
        {
            content: "Search the customer",
            trigger: ".o_searchview_input",
            run: `edit ${CUSTOMER} && press Enter`,
        },
        {
            content: "Open the customer",
            trigger: `.o_kanban_record:contains(${CUSTOMER}), .o_data_row .o_data_cell:contains(${CUSTOMER})`,
            run: "click",
        },
        {
            content: "Go to the Triggers tab",
            trigger: ".o_form_view .o_notebook .nav-link:contains(Triggers)",
            run: "click",
        },
        // 3. Set up the trigger.
        {
            content: "Add a trigger",
            trigger:
                ".o_field_widget[name=postback_trigger_ids] .o_field_x2many_list_row_add a:contains(Add trigger)",
            run: "click",
        },
        {
            content: "Give the trigger a name",
            trigger: ".modal .o_field_widget[name=name] input",
            run: `edit ${TRIGGER}`,
        },
        {
            content: "Fire it when an order is shipped",
            trigger:
                ".modal .o_field_widget[name=event_type_ids] .form-check:contains(Order shipped) input",
            run: "click",
        },
        {
            trigger:
                ".modal .o_field_widget[name=event_type_ids] .form-check:contains(Order shipped) input:checked",
        },
        {
            content: "Deliver by URL",
            trigger: ".modal .o_field_widget[name=channel] input[data-value=url]",
            run: "click",
        },
        {
            content: "Enter the URL of the customer's receiver",
            trigger: ".modal .o_field_widget[name=url] input",
            async run(helpers) {
                await helpers.edit(receiverUrl());
            },
        },
        ...chooseSelection("Method POST", "http_method", "POST", "POST"),
        ...chooseSelection("Format JSON", "payload_format", "json", "JSON"),
        {
            content: "Turn on Retry on Failure",
            trigger: ".modal .o_field_widget[name=retry_on_failure] input",
            async run(helpers) {
                if (!this.anchor.checked) {
                    await helpers.click();
                }
            },
        },
        {
            trigger: ".modal .o_field_widget[name=retry_on_failure] input:checked",
        },
        // 4. Configure the template, created right from the trigger.
        {
            content: "Type the name of a new template",
            trigger: ".modal .o_field_widget[name=template_id] input",
            run: `edit ${TEMPLATE}`,
        },
        {
            content: "Create and edit the template",
            trigger:
                ".modal .o_field_widget[name=template_id] .o-autocomplete--dropdown-menu .o_m2o_dropdown_option_create_edit a",
            run: "click",
        },
        {
            content: "Template name",
            trigger: `${TOP_MODAL} .o_form_view:has(.o_field_widget[name=line_ids]) .o_field_widget[name=name] input`,
            run: `edit ${TEMPLATE}`,
        },
        {
            content: "Design it on the sample data of Order shipped",
            trigger: `${TOP_MODAL} .o_field_widget[name=event_type_id] .o_selection_badge:contains(Order shipped)`,
            run: "click",
        },
        {
            trigger: `${TOP_MODAL} .o_field_widget[name=event_type_id] .o_selection_badge.active:contains(Order shipped)`,
        },
        {
            content: "The incoming data is the shipped sample",
            trigger: `${TOP_MODAL} .o_field_widget[name=input_preview]:contains(S01057)`,
        },
        // Line 1 from the data tree: with no line being edited, a click adds one.
        {
            content: "Click order.reference in the data tree",
            trigger: `${TREE} .o_postback_tree_node[data-path='order.reference'] > .o_postback_tree_pick`,
            run: "click",
        },
        {
            content: "A complete line reference ← order.reference is added (and left, for the next click)",
            trigger: `${LINES} .o_data_row:nth-child(1):not(.o_selected_row):has(.o_data_cell[name=source]:contains(order.reference)):has(.o_data_cell[name=output_path]:contains(reference))`,
        },
        {
            content: "The line shows its value on the sample data",
            trigger: `${LINES} .o_data_row:nth-child(1) [name=preview_value]:contains("S01057")`,
        },
        ...editCell("Rename its output field", 1, "output_path", "order_number"),
        {
            content: "The Source cell completes the paths of the data",
            trigger: `${LINES} .o_data_row.o_selected_row:nth-child(1) .o_field_widget[name=source] datalist option[value='shipment.tracking_reference']:not(:visible)`,
        },
        // Line 2: its output typed, its source clicked in the tree.
        {
            content: "Add a line to the Template Mapper",
            trigger: `${LINES} .o_field_x2many_list_row_add a`,
            run: "click",
        },
        {
            content: "Output field tracking",
            trigger: `${LINES} .o_data_row.o_selected_row:nth-child(2) .o_field_widget[name=output_path] input`,
            run: "edit tracking",
        },
        {
            content: "Click shipment.tracking_reference in the data tree: it fills the edited line's Source",
            trigger: `${TREE} .o_postback_tree_node[data-path='shipment.tracking_reference'] > .o_postback_tree_pick`,
            run: "click",
        },
        {
            trigger: `${LINES} .o_data_row:nth-child(2) .o_field_widget[name=source] input:value(shipment.tracking_reference)`,
        },
        {
            // The click outside the list also ends the line's edition: wait for it, or the next click is lost.
            content: "Line 2 has left edition, its source set",
            trigger: `${LINES} .o_data_row:nth-child(2):not(.o_selected_row) .o_data_cell[name=source]:contains(shipment.tracking_reference)`,
        },
        ...editCell("Set a default on line 2", 2, "default", "pending"),
        {
            content: "Leave the mapping line",
            trigger: `${TOP_MODAL} .o_form_view .o_field_widget[name=name] input`,
            run: "click",
        },
        {
            content: "Two mapping lines",
            trigger: `${TOP_MODAL} .o_field_widget[name=line_ids] .o_data_row:nth-child(1):not(.o_selected_row):contains(order_number)`,
        },
        {
            trigger: `${TOP_MODAL} .o_field_widget[name=line_ids] .o_data_row:nth-child(2):not(.o_selected_row):contains(tracking):contains(pending)`,
        },
        // Three more fields, each one click in the data tree (no path typed).
        ...[
            ["order.client_reference", "client_reference", "PO-2025-0311"],
            ["customer.name", "name", "Rossi Forniture S.r.l."],
            ["shipment.carrier", "carrier", "BRT Express"],
        ].flatMap(([path, output, value], index) => [
            {
                content: `Click ${path} in the data tree`,
                trigger: `${TREE} .o_postback_tree_node[data-path='${path}'] > .o_postback_tree_pick`,
                run: "click",
            },
            {
                content: `Line ${output} ← ${path} shows ${value}`,
                trigger: `${LINES} .o_data_row:nth-child(${index + 3}):not(.o_selected_row):has(.o_data_cell[name=output_path]:contains(${output})):has([name=preview_value]:contains(${value}))`,
            },
        ]),
        {
            content: "The preview shows the final result",
            trigger: `${TOP_MODAL} .o_field_widget[name=preview_payload]:contains(order_number):contains(S01057):contains(tracking):contains(pending):contains(PO-2025-0311):contains(BRT Express)`,
        },
        {
            content: "Save the template",
            trigger: `${TOP_MODAL} .modal-footer .o_form_button_save`,
            run: "click",
        },
        {
            content: "The trigger uses the new template",
            trigger: `.modal .o_field_widget[name=template_id] input:value(${TEMPLATE})`,
        },
        {
            content: "Save the trigger",
            trigger: ".modal .modal-footer .o_form_button_save",
            run: "click",
        },
        {
            content: "The trigger is listed in the Triggers tab",
            trigger: `body:not(:has(.modal)) .o_field_widget[name=postback_trigger_ids] .o_data_row:contains(${TRIGGER})`,
        },
        // Save the customer (stepUtils.saveForm's steps: its module path differs in 18.0 and 19.0).
        {
            content: "Save the customer",
            trigger: ".o_form_button_save:enabled",
            run: "click",
        },
        {
            content: "The customer is saved",
            trigger: ".o_form_readonly, .o_form_saved",
        },
        // 5. Test and activate, from the trigger itself.
        {
            content: "Open the customer's triggers",
            trigger: ".o_form_view button[name=action_view_postback_triggers]",
            run: "click",
        },
        {
            // The Triggers action's list, not the one2many list of the customer
            // form (also .o_list_view) still shown while the action loads.
            content: "Open the trigger",
            trigger: `.o_view_controller.o_list_view .o_data_row .o_data_cell[name=name]:contains(${TRIGGER})`,
            run: "click",
        },
        {
            content: "Show the last test",
            trigger: ".o_view_controller.o_form_view .o_notebook .nav-link:contains(Last test)",
            run: "click",
        },
        {
            content: "Run a test",
            trigger: ".o_view_controller.o_form_view .o_statusbar_buttons button[name=action_test_send]",
            run: "click",
        },
        {
            content: "The test succeeded",
            trigger: ".o_notification:contains(Test sent)",
        },
        {
            content: "The last test shows the receiver's answer",
            trigger: ".o_view_controller.o_form_view .o_field_widget[name=last_test_result]:contains(HTTP 200)",
        },
        {
            trigger: ".o_view_controller.o_form_view .o_field_widget[name=last_test_ok] input:checked",
        },
        {
            content: "Activate the trigger",
            trigger: ".o_view_controller.o_form_view .o_statusbar_buttons button[name=action_activate]",
            run: "click",
        },
        {
            content: "Activate is gone once active",
            trigger: ".o_view_controller.o_form_view .o_statusbar_buttons:not(:has(button[name=action_activate]))",
        },
        {
            content: "The trigger is active",
            trigger:
                ".o_view_controller.o_form_view .o_statusbar_status button[data-value=active][aria-checked=true]",
        },
    ],
});
