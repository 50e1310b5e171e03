#!/usr/bin/env bash
# Command 2: set up, then run
#   0. when an Odoo 18 tree is found (ODOO_SRC, default /opt/odoo-18): keep a
#      cached base database postback_test_base (sale_management, sale_stock,
#      stock_delivery + demo data), rebuilt only when missing or when Odoo's
#      release.py / the module list change (exported as POSTBACK_TEST_BASE_DB),
#   1. the Odoo-free tests:        python -m pytest tests -q
#   2. when an Odoo 18 tree is found:
#      a. copy the base database to postback_test (createdb -T),
#      b. install, then upgrade, postback_connector there; any WARNING/ERROR/
#         CRITICAL log line fails the run,
#      c. the addon's Odoo tests with pytest-odoo (HttpCase enabled).
#   and print a summary. Exit status is non-zero if any part failed.
#
#   bash scripts/test.sh [--free-only|--odoo-only] [-- extra pytest args]
#
# Extra pytest args go to both pytest runs (e.g. -- -k webhook -x).
# Env: POSTBACK_TEST_KEEP_DB=1 reuses an existing postback_test (upgrade only);
#      POSTBACK_TEST_DB names the test database (default postback_test).
set -euo pipefail

# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

BASE_DB=postback_test_base
TEST_DB="${POSTBACK_TEST_DB:-postback_test}"
BASE_MODULES=sale_management,sale_stock,stock_delivery
# bump to force a rebuild of the base database
BASE_RECIPE=1

RUN_FREE=1
RUN_ODOO=1
PYTEST_ARGS=()
FAILED=0
SUMMARY=()
TOTAL_PASSED=0
TOTAL_FAILED=0
TOTAL_SKIPPED=0

usage() {
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --free-only) RUN_ODOO=0 ;;
            --odoo-only) RUN_FREE=0 ;;
            --) shift; PYTEST_ARGS=("$@"); return 0 ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument: $1" "usage: bash scripts/test.sh [--free-only|--odoo-only] [-- extra pytest args]" ;;
        esac
        shift
    done
}

# count WORD LINE: the number in front of WORD in a pytest summary line
count() {
    local n
    n="$(printf '%s\n' "$2" | grep -oE "[0-9]+ $1" | head -n 1 | cut -d' ' -f1 || true)"
    echo "${n:-0}"
}

# run_pytest LABEL LOGFILE pytest-args...: runs pytest, records a summary line
run_pytest() {
    local label="$1" logf="$2" rc last p f e s
    shift 2
    set +e
    "$POSTBACK_PY" -m pytest "$@" 2>&1 | tee "$logf"
    rc=${PIPESTATUS[0]}
    set -e
    last="$(grep -E '(passed|failed|error|skipped|deselected|no tests ran|xfailed|xpassed)' "$logf" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//')"
    p="$(count passed "$last")"
    f="$(count failed "$last")"
    e="$(count error "$last")"
    s="$(count skipped "$last")"
    TOTAL_PASSED=$((TOTAL_PASSED + p))
    TOTAL_FAILED=$((TOTAL_FAILED + f + e))
    TOTAL_SKIPPED=$((TOTAL_SKIPPED + s))
    case "$rc" in
        0) SUMMARY+=("$label: ${last:-ok}") ;;
        5) SUMMARY+=("$label: no tests collected (${last:-})") ;;
        *)
            SUMMARY+=("$label: FAILED (pytest exit $rc) - ${last:-no summary line, see $logf}")
            FAILED=1
            ;;
    esac
}

run_free_tests() {
    log "Odoo-free tests: python -m pytest tests -q ${PYTEST_ARGS[*]:-}"
    if [ ! -d "$POSTBACK_REPO/tests" ]; then
        SUMMARY+=("Odoo-free tests: no tests/ directory")
        return 0
    fi
    run_pytest "Odoo-free tests" "$POSTBACK_LOG_DIR/pytest-free.log" tests -q "${PYTEST_ARGS[@]}"
}

base_stamp() {
    { sha256sum <"$ODOO_SRC/odoo/release.py"; echo "$BASE_MODULES"; echo "recipe=$BASE_RECIPE"; } | sha256sum | cut -d' ' -f1
}

db_comment() {
    psql -X -d postgres -tAc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$1'"
}

filestore_of() { echo "$POSTBACK_CACHE/filestore/filestore/$1"; }

drop_db() {
    dropdb --if-exists --force "$1"
    rm -rf "$(filestore_of "$1")"
}

# (a) cached base database, stamped with a database COMMENT
ensure_base_db() {
    local stamp logf rc=0
    stamp="$(base_stamp)"
    if pg_db_exists "$BASE_DB" && [ "$(db_comment "$BASE_DB")" = "postback-base:$stamp" ]; then
        log "base database '$BASE_DB' is up to date"
        return 0
    fi
    logf="$POSTBACK_LOG_DIR/base-db.log"
    log "building base database '$BASE_DB' ($BASE_MODULES + demo data, ~3-5 minutes; log: $logf)"
    drop_db "$BASE_DB"
    local t0=$SECONDS
    odoo_bin -d "$BASE_DB" -i "$BASE_MODULES" --stop-after-init >"$logf" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ] || grep -qE ' (ERROR|CRITICAL) ' "$logf"; then
        grep -E ' (ERROR|CRITICAL) ' "$logf" | head -n 20 >&2 || true
        tail -n 30 "$logf" >&2
        drop_db "$BASE_DB"
        echo "building the base database failed (exit $rc), see $logf" >&2
        return 1
    fi
    psql -X -q -d postgres -c "COMMENT ON DATABASE $BASE_DB IS 'postback-base:$stamp'"
    log "base database built in $((SECONDS - t0))s"
}

# (b) fresh copy of the base database
copy_test_db() {
    log "recreating '$TEST_DB' from '$BASE_DB'"
    drop_db "$TEST_DB"
    createdb -T "$BASE_DB" "$TEST_DB"
    if [ -d "$(filestore_of "$BASE_DB")" ]; then
        mkdir -p "$(dirname "$(filestore_of "$TEST_DB")")"
        cp -a "$(filestore_of "$BASE_DB")" "$(filestore_of "$TEST_DB")"
    fi
}

# (c) odoo_clean_run WHAT -i|-u: install/upgrade the addon, fail on any
# WARNING/ERROR/CRITICAL line
odoo_clean_run() {
    local what="$1" flag="$2" logf rc=0 bad
    logf="$POSTBACK_LOG_DIR/$what.log"
    log "$what: odoo-bin -d $TEST_DB $flag $POSTBACK_ADDON --stop-after-init --log-level=warn"
    odoo_bin -d "$TEST_DB" "$flag" "$POSTBACK_ADDON" --stop-after-init --log-level=warn >"$logf" 2>&1 || rc=$?
    bad="$(grep -E ' (WARNING|ERROR|CRITICAL) ' "$logf" || true)"
    if [ "$rc" -ne 0 ] || [ -n "$bad" ]; then
        echo "---- $what problems (full log: $logf) ----" >&2
        if [ -n "$bad" ]; then printf '%s\n' "$bad" >&2; fi
        if [ "$rc" -ne 0 ]; then echo "-- last lines of the log:" >&2; tail -n 25 "$logf" >&2; fi
        echo "----" >&2
        SUMMARY+=("Addon $what: FAILED (exit $rc, $(printf '%s' "$bad" | grep -c . || true) warning/error line(s); log: $logf)")
        FAILED=1
        return 1
    fi
    SUMMARY+=("Addon $what: clean (no warnings)")
}

addon_installed() {
    [ "$(psql -X -d "$TEST_DB" -tAc "SELECT state FROM ir_module_module WHERE name = '$POSTBACK_ADDON'" 2>/dev/null)" = installed ]
}

run_odoo_part() {
    if [ ! -f "$POSTBACK_REPO/$POSTBACK_ADDON/__manifest__.py" ]; then
        SUMMARY+=("Odoo tests: FAILED - no addon at $POSTBACK_REPO/$POSTBACK_ADDON")
        FAILED=1
        return 0
    fi
    if [ "${POSTBACK_TEST_KEEP_DB:-0}" = 1 ] && pg_db_exists "$TEST_DB" && addon_installed; then
        log "POSTBACK_TEST_KEEP_DB=1: reusing '$TEST_DB'"
    else
        copy_test_db
        odoo_clean_run install -i || return 0
    fi
    odoo_clean_run upgrade -u || return 0

    local tests_dir="$POSTBACK_ADDON/tests"
    if [ ! -d "$POSTBACK_REPO/$tests_dir" ]; then
        SUMMARY+=("Odoo tests (pytest-odoo): no $tests_dir directory")
        return 0
    fi
    log "Odoo tests: python -m pytest -p odoo --odoo-config=$POSTBACK_ODOO_CONF --odoo-database=$TEST_DB --odoo-http $tests_dir -q ${PYTEST_ARGS[*]:-}"
    run_pytest "Odoo tests (pytest-odoo)" "$POSTBACK_LOG_DIR/pytest-odoo.log" \
        -p odoo --odoo-config="$POSTBACK_ODOO_CONF" --odoo-database="$TEST_DB" --odoo-http \
        "$tests_dir" -q "${PYTEST_ARGS[@]}"
}

print_summary() {
    echo
    echo "==================== postback_connector test summary ===================="
    local line
    for line in "${SUMMARY[@]}"; do echo "  $line"; done
    echo "========================================================================="
    echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
}

main() {
    parse_args "$@"
    cd "$POSTBACK_REPO"
    local t0=$SECONDS
    postback_setup
    log "setup done in $((SECONDS - t0))s"

    # The base database is ensured first so that Odoo-needing tests under
    # tests/ (e2e) can copy it: createdb -T "$POSTBACK_TEST_BASE_DB" ...
    local base_ok=0
    if [ "$POSTBACK_ODOO_FOUND" = 1 ]; then
        if ensure_base_db; then
            base_ok=1
            export POSTBACK_TEST_BASE_DB="$BASE_DB"
        else
            SUMMARY+=("Odoo base database: FAILED (see $POSTBACK_LOG_DIR/base-db.log)")
            FAILED=1
        fi
    fi

    if [ "$RUN_FREE" = 1 ]; then run_free_tests; fi

    local odoo_skipped=0
    if [ "$RUN_ODOO" = 1 ]; then
        if [ "$POSTBACK_ODOO_FOUND" = 1 ]; then
            if [ "$base_ok" = 1 ]; then run_odoo_part; fi
        else
            odoo_skipped=1
            SUMMARY+=("Odoo tests: SKIPPED (no Odoo 18 source tree at $ODOO_SRC)")
        fi
    fi

    print_summary
    if [ "$odoo_skipped" = 1 ]; then
        echo
        odoo_missing_help
        echo "*** ODOO TESTS SKIPPED: no Odoo 18 source tree at $ODOO_SRC (set ODOO_SRC) — only the Odoo-free tests ran ***"
    fi
    exit "$FAILED"
}

main "$@"
