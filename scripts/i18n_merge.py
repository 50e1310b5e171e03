"""Merge a freshly exported postback_connector.pot into i18n/it.po.

    # export what Odoo extracts (views, fields, Python _()/_lt(), JS _t(), OWL templates):
    odoo-bin -c <conf> -d <db> --i18n-export=/tmp/pb.pot --modules=postback_connector --stop-after-init  # 18.0
    odoo-bin i18n export -c <conf> -d <db> -o /tmp/pb19.pot postback_connector                           # 19.0
    python scripts/i18n_merge.py postback_connector/i18n/it.po /tmp/pb.pot /tmp/pb19.pot

Keeps every existing translation, adds the new terms (empty), drops terms no longer
exported, and lists the untranslated ones. The Odoo test
``test_every_term_of_the_addon_has_an_italian_translation`` fails until each has an
Italian msgstr. Needs polib (pip install polib).
"""

import sys

import polib


def main(po_path, *pot_paths):
    exported, seen = [], set()
    for path in pot_paths:  # the union: 18.0 and 19.0 extract (almost) the same terms
        for entry in polib.pofile(path):
            if entry.msgid not in seen:
                seen.add(entry.msgid)
                exported.append(entry)
    old = polib.pofile(po_path)
    translated = {entry.msgid: entry.msgstr for entry in old if entry.msgstr}
    new = polib.POFile()
    new.metadata, new.header = old.metadata, old.header
    missing = []
    for entry in exported:
        msgstr = translated.get(entry.msgid, "")
        if not msgstr:
            missing.append(entry.msgid)
        new.append(polib.POEntry(msgid=entry.msgid, msgstr=msgstr, occurrences=entry.occurrences,
                                 comment=entry.comment, tcomment=entry.tcomment, flags=entry.flags))
    new.save(po_path)
    print(f"{len(new)} terms, {len(missing)} untranslated")
    for msgid in missing:
        print("  untranslated:", msgid)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
