#!/usr/bin/env bash
# Command 1: set up, install/upgrade postback_connector (with demo data) in the
# database ${POSTBACK_DB:-postback_demo_<major>}, then serve Odoo on
# http://localhost:8069. Odoo 18.0 or 19.0: the tree of ODOO_SRC (default
# /opt/odoo-18, else /opt/odoo-19), each version with its own venv and database.
#
#   bash scripts/run.sh [-- extra odoo-bin args]
#
# Env: POSTBACK_DB (default postback_demo_18 / postback_demo_19), ODOO_SRC,
# POSTBACK_VENV, PG* (see scripts/common.sh).
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HTTP_PORT="${POSTBACK_HTTP_PORT:-8069}"

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

parse_args() {
    EXTRA_ARGS=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --) shift; EXTRA_ARGS=("$@"); return 0 ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument: $1" "usage: bash scripts/run.sh [-- extra odoo-bin args]" ;;
        esac
    done
}

# Prints the state of our addon in $DB: 'installed', 'uninstalled', ...,
# 'none' (Odoo db without the module row), 'nodb' or 'notodoo'.
addon_state() {
    if ! pg_db_exists "$DB"; then
        echo nodb
        return 0
    fi
    local has_table state
    has_table="$(psql -X -d "$DB" -tAc "SELECT to_regclass('public.ir_module_module') IS NOT NULL")"
    if [ "$has_table" != t ]; then
        echo notodoo
        return 0
    fi
    state="$(psql -X -d "$DB" -tAc "SELECT state FROM ir_module_module WHERE name = '$POSTBACK_ADDON'")"
    echo "${state:-none}"
}

install_or_update() {
    local state logf rc=0
    state="$(addon_state)"
    logf="$POSTBACK_LOG_DIR/run-$DB.log"
    case "$state" in
        installed|"to upgrade")
            log "updating $POSTBACK_ADDON in database '$DB' (log: $logf)"
            odoo_bin -d "$DB" -u "$POSTBACK_ADDON" --stop-after-init >"$logf" 2>&1 || rc=$?
            ;;
        notodoo)
            die "database '$DB' exists but is not an Odoo database" "drop it (dropdb $DB) or set POSTBACK_DB"
            ;;
        *)
            # nodb: Odoo creates it. Demo data is on by default (do NOT pass
            # --without-demo=False: any value disables demo data).
            log "installing $POSTBACK_ADDON with demo data in database '$DB' (state: $state; first time takes a few minutes; log: $logf)"
            # shellcheck disable=SC2046
            odoo_bin -d "$DB" -i "$POSTBACK_ADDON" $(odoo_demo_flag) --stop-after-init >"$logf" 2>&1 || rc=$?
            ;;
    esac
    if [ "$rc" -ne 0 ] || [ "$(addon_state)" != installed ]; then
        grep -E ' (ERROR|CRITICAL) ' "$logf" | tail -n 20 >&2 || true
        tail -n 30 "$logf" >&2
        die "installing/updating $POSTBACK_ADDON in '$DB' failed (exit $rc)" "full log: $logf"
    fi
    local problems
    problems="$(grep -cE ' (WARNING|ERROR|CRITICAL) ' "$logf" || true)"
    if [ "$problems" -gt 0 ]; then
        warn "$problems warning/error line(s) in $logf"
    fi
}

# Make sure the admin user logs in as admin/admin (Odoo's default: base's
# res_users_data.xml sets login 'admin', password 'admin'); reset if changed.
ensure_admin_login() {
    local hash ok
    hash="$(psql -X -d "$DB" -tAc "SELECT password FROM res_users u JOIN ir_model_data d ON d.model = 'res.users' AND d.res_id = u.id AND d.module = 'base' AND d.name = 'user_admin' WHERE u.login = 'admin' AND u.active")"
    ok="$(printf '%s' "$hash" | "$POSTBACK_PY" -c '
import sys
from passlib.context import CryptContext
h = sys.stdin.read().strip()
ctx = CryptContext(["pbkdf2_sha512", "plaintext"])
print("yes" if h and ctx.verify("admin", h) else "no")
' 2>/dev/null || echo no)"
    if [ "$ok" = yes ]; then
        return 0
    fi
    log "resetting the admin user's login/password to admin/admin"
    "$POSTBACK_PY" "$ODOO_SRC/odoo-bin" shell -c "$POSTBACK_ODOO_CONF" -d "$DB" --no-http --log-level=error >/dev/null <<'EOF'
user = env.ref('base.user_admin')
user.write({'login': 'admin', 'password': 'admin', 'active': True})
env.cr.commit()
EOF
}

main() {
    parse_args "$@"
    postback_setup --need-odoo
    DB="${POSTBACK_DB:-postback_demo_$POSTBACK_ODOO_MAJOR}"
    install_or_update
    ensure_admin_login
    echo
    log "Odoo $POSTBACK_ODOO_SERIES with $POSTBACK_ADDON (database '$DB') starting on http://localhost:$HTTP_PORT"
    log "log in as admin / admin   (Ctrl-C to stop)"
    echo
    exec "$POSTBACK_PY" "$ODOO_SRC/odoo-bin" -c "$POSTBACK_ODOO_CONF" -d "$DB" \
        --db-filter="^${DB}\$" --http-port="$HTTP_PORT" "${EXTRA_ARGS[@]}"
}

main "$@"
