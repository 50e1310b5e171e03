// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
// Paths of the incoming data, written exactly as the engine's list_paths
// writes them (engine/render.py): order.reference, order.lines[].sku.

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TOKEN = /\.?([A-Za-z_][A-Za-z0-9_]*)|\["([^"]*)"\]|(\[\])/g;
export const MAX_PATHS = 2000;

export function pathStep(key) {
    return IDENT.test(key) ? `.${key}` : `["${key}"]`;
}

export function childPath(path, key) {
    return path ? path + pathStep(key) : pathStep(key).replace(/^\./, "");
}

export function typeName(value) {
    if (value === null || value === undefined) {
        return "null";
    }
    if (Array.isArray(value)) {
        return "list";
    }
    if (typeof value === "number") {
        return Number.isInteger(value) ? "integer" : "number";
    }
    return typeof value === "object" ? "object" : typeof value;
}

export function shortValue(value, limit = 40) {
    if (Array.isArray(value)) {
        return `[${value.length}]`;
    }
    if (value && typeof value === "object") {
        return `{${Object.keys(value).length}}`;
    }
    const text = JSON.stringify(value) ?? "null";
    return text.length > limit ? text.slice(0, limit - 1) + "…" : text;
}

/** [{path, type, example}] for every value, lists described by their first element. */
export function listPaths(data) {
    const found = [];
    const walk = (value, path, depth) => {
        if (found.length >= MAX_PATHS || depth > 64) {
            return;
        }
        if (Array.isArray(value)) {
            if (value.length) {
                const itemPath = `${path}[]`;
                found.push({ path: itemPath, type: typeName(value[0]), example: shortValue(value[0]) });
                walk(value[0], itemPath, depth + 1);
            }
        } else if (value && typeof value === "object") {
            for (const [key, child] of Object.entries(value)) {
                const path2 = childPath(path, key);
                found.push({ path: path2, type: typeName(child), example: shortValue(child) });
                walk(child, path2, depth + 1);
            }
        }
    };
    walk(data, "", 0);
    return found.slice(0, MAX_PATHS);
}

export function parseData(text) {
    if (!text) {
        return { data: null, error: false };
    }
    try {
        return { data: JSON.parse(text), error: false };
    } catch {
        return { data: null, error: true };
    }
}

/** The output field suggested for a source: its path without the root object. */
export function suggestOutput(path) {
    const parts = [];
    for (const match of path.matchAll(TOKEN)) {
        if (match[3]) {
            if (parts.length) {
                parts[parts.length - 1] += "[]";
            }
        } else {
            parts.push((match[1] ?? match[2]).replace(/[.[\]\s]+/g, "_") || "value");
        }
    }
    return (parts.length > 1 ? parts.slice(1) : parts).join(".");
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

/** The mapper value type that sends ``value`` unchanged. */
export function suggestType(value) {
    switch (typeName(value)) {
        case "integer":
            return "integer";
        case "number":
            return "number";
        case "boolean":
            return "boolean";
        case "list":
            return "list";
        case "object":
            return "json";
        case "string":
            return DATE.test(value) ? "date" : DATETIME.test(value) ? "auto" : "string";
        default:
            return "auto";
    }
}

/**
 * A Jinja expression for the advanced body: list paths read the first element.
 * A JSON body prints values as JSON; an XML body prints their text (escaped for XML).
 */
export function jinjaExpression(path, format = "json") {
    const expression = path.replaceAll("[]", "[0]");
    return format === "xml" ? `{{ ${expression} }}` : `{{ ${expression} | tojson }}`;
}
