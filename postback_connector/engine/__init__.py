"""Odoo-free engine of postback_connector.

Everything here is plain Python (standard library, requests and Jinja2)
so it can be tested and reasoned about without an Odoo server. It must
never import odoo: the Odoo models call into it, never the reverse.

Modules:

* ``render``: Template Mapper and sandboxed advanced body -> JSON bytes;
* ``signing``: Standard Webhooks signatures and secrets, GitHub-style and base64 body HMACs;
* ``auth``: request credentials (Bearer, Basic, API key, OAuth2 client credentials);
* ``retry``: retry schedule, Retry-After and outcome classification;
* ``netcheck``: URL/header validation and private-address protection;
* ``http``: the concurrent, connection-reusing sender used by the cron;
* ``contact_notice``: when a failing trigger's technical contact is emailed.
* ``conditions``: a trigger's condition (a domain as text), read without running code.
* ``developer``: the portal's developer page: a payload's JSON Schema, signature-checking code.

``render`` is the only public face of the private ``_values`` (error type,
type conversions), ``_paths`` (path syntax), ``_sandbox`` and ``_filters``
(the hardened Jinja2 environment), ``_mapper`` (Template Mapper) and
``_diagnose`` (error messages) modules.
"""
