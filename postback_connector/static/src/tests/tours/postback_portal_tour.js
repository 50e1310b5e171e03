/** @odoo-module **/
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).

/**
 * The customer's developer in the portal (tests/test_portal_tour.py):
 * My Account → Postbacks → their endpoint → search the order → the failed
 * delivery → read what their server answered → "Send again"; then, once the
 * runner delivered it: see it delivered → send a test → rotate the secret.
 *
 * The order reference comes from the Python test, in sessionStorage.
 */

import { registry } from "@web/core/registry";
import { session } from "@web/session";

export const ORDER_KEY = "postback_connector.portal_tour_order";
const ENDPOINT = "Azure ERP";

// Odoo 19.0 wants every step that loads a new page marked; 18.0 refuses the key.
const MAJOR = ((session.server_version_info || [18])[0] || 18);
const LOADS = MAJOR >= 19 ? { expectUnloadPage: true } : {};

function order() {
    return window.sessionStorage.getItem(ORDER_KEY) || "S00000";
}

registry.category("web_tour.tours").add("postback_connector_portal_tour", {
    url: "/my",
    steps: () => [
        {
            content: "My Account shows Postbacks",
            trigger: "a[href='/my/postbacks']",
            run: "click",
            ...LOADS,
        },
        {
            content: "Open the endpoint",
            trigger: `tr.o_postback_portal_trigger a:contains(${ENDPOINT})`,
            run: "click",
            ...LOADS,
        },
        {
            content: "Search the order",
            trigger: "form.o_postback_filters input[name=order]",
            run: `edit ${order()}`,
        },
        {
            content: "Only failed deliveries",
            trigger: "form.o_postback_filters select[name=state]",
            run: "select failed",
        },
        {
            trigger: "form.o_postback_filters button[type=submit]",
            run: "click",
            ...LOADS,
        },
        {
            // Only the reloaded page has the filter in its HTML (the selected attribute): on
            // 18.0 the next click could otherwise land on the page being left.
            content: "The list is filtered",
            trigger: "form.o_postback_filters select[name=state]:has(option[value=failed][selected])",
        },
        {
            content: "The failed delivery of that order",
            trigger: `tr.o_postback_portal_delivery[data-order='${order()}']:has(.o_postback_state[data-state=failed]) a`,
            run: "click",
            ...LOADS,
        },
        {
            content: "What our server answered",
            trigger: ".o_postback_response:contains(no such order)",
        },
        {
            content: "Send it again",
            trigger: "button.o_postback_resend",
            run: "click",
            ...LOADS,
        },
        {
            content: "It is queued again",
            trigger: ".o_postback_notice.alert-success:contains(queued again)",
        },
        {
            trigger: ".o_postback_state[data-state=pending]",
        },
    ],
});

registry.category("web_tour.tours").add("postback_connector_portal_tour_delivered", {
    steps: () => [
        {
            content: "The runner delivered it",
            trigger: ".o_postback_state[data-state=delivered]",
        },
        {
            content: "Back to the endpoint",
            trigger: `.breadcrumb a:contains(${ENDPOINT})`,
            run: "click",
            ...LOADS,
        },
        {
            content: "Send a test of an event",
            trigger: "form.o_postback_test_form button[type=submit]",
            run: "click",
            ...LOADS,
        },
        {
            content: "The test reached our server",
            trigger: ".o_postback_notice.alert-success:contains(Test delivered)",
        },
        {
            content: "Rotate the signing secret",
            trigger: "button.o_postback_rotate",
            run: "click",
            ...LOADS,
        },
        {
            content: "The new secret, shown once",
            trigger: ".o_postback_secret:contains(whsec_)",
        },
    ],
});
