#!/usr/bin/env bash
# Command 2: set up, then run the whole suite on every Odoo tree given:
#   ODOO_SRC names one tree or several (separated by spaces or colons);
#   by default the 18.0 and 19.0 trees at /opt/odoo-18 and /opt/odoo-19,
#   each that is present (an absent one is reported loudly as SKIPPED).
# For each tree (Odoo 18.0 or 19.0, read from its release.py), with that
# version's own venv (~/.cache/postback_connector/venv-<version>):
#   0. keep a cached base database postback_test_base_<major> (sale_management,
#      sale_stock, stock_delivery + demo data), rebuilt only when missing or
#      when Odoo's release.py / the module list change (exported as
#      POSTBACK_TEST_BASE_DB),
#   1. the tests under tests/ (engine, end-to-end, fault injection):
#                                  python -m pytest tests -q
#   2. a. copy the base database to postback_test_<major> (createdb -T),
#      b. install, then upgrade, postback_connector there; any WARNING/ERROR/
#         CRITICAL log line fails the run,
#      c. the addon's Odoo tests with pytest-odoo (HttpCase and the browser
#         tour enabled),
#      d. build the wheel odoo-addon-postback_connector, install it into a
#         scratch venv and check Odoo installs the addon from there,
#   and print a summary with the counts per version. Without any Odoo tree
#   only step 1's Odoo-free tests run. Exit status is non-zero if any part
#   failed.
#
#   bash scripts/test.sh [--free-only|--odoo-only] [-- extra pytest args]
#
# Extra pytest args go to both pytest runs (e.g. -- -k webhook -x).
# Env: POSTBACK_TEST_KEEP_DB=1 reuses an existing postback_test_<major>
#      (upgrade only); POSTBACK_TEST_DB names the test database (default
#      postback_test; _<major> is appended).
set -euo pipefail

SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
# Which trees were asked for, before common.sh sets its single default.
TREES_GIVEN="${ODOO_SRC:-}"
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

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
    sed -n '2,31p' "$SCRIPT" | sed 's/^# \{0,1\}//'
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
    run_pytest "tests/ (engine, end-to-end, fault injection)" "$POSTBACK_LOG_DIR/pytest-free-${POSTBACK_ODOO_SERIES:-noodoo}.log" tests -q "${PYTEST_ARGS[@]}"
}

base_stamp() {
    { sha256sum <"$ODOO_SRC/odoo/release.py"; echo "$BASE_MODULES"; echo "recipe=$BASE_RECIPE"; } | sha256sum | cut -d' ' -f1
}

db_comment() {
    psql -X -d postgres -tAc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$1'"
}

filestore_of() { echo "$POSTBACK_CACHE/filestore-$POSTBACK_ODOO_SERIES/filestore/$1"; }

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
    logf="$POSTBACK_LOG_DIR/base-db-$POSTBACK_ODOO_SERIES.log"
    log "building base database '$BASE_DB' ($BASE_MODULES + demo data, ~3-5 minutes; log: $logf)"
    drop_db "$BASE_DB"
    local t0=$SECONDS
    # shellcheck disable=SC2046
    odoo_bin -d "$BASE_DB" -i "$BASE_MODULES" $(odoo_demo_flag) --stop-after-init >"$logf" 2>&1 || rc=$?
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
    logf="$POSTBACK_LOG_DIR/$what-$POSTBACK_ODOO_SERIES.log"
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
    # A browser that starts cold (first run after its install: fonts, profile) can take longer
    # than the 10 s Odoo waits for its debugging port, and Odoo then *skips* the tour: start it
    # once beforehand, so the tours run.
    if command -v chromium >/dev/null 2>&1; then
        timeout 90 chromium --headless=new --no-sandbox --disable-gpu --dump-dom about:blank \
            >/dev/null 2>&1 || warn "chromium did not start within 90 s: the browser tours may be skipped"
    fi
    log "Odoo tests: python -m pytest -p odoo --odoo-config=$POSTBACK_ODOO_CONF --odoo-database=$TEST_DB --odoo-http $tests_dir -q ${PYTEST_ARGS[*]:-}"
    run_pytest "Odoo tests (pytest-odoo)" "$POSTBACK_LOG_DIR/pytest-odoo-$POSTBACK_ODOO_SERIES.log" \
        -p odoo --odoo-config="$POSTBACK_ODOO_CONF" --odoo-database="$TEST_DB" --odoo-http \
        "$tests_dir" -q "${PYTEST_ARGS[@]}"
}

# (d) the wheel, installed into a scratch venv, found and installed by Odoo
run_wheel_check() {
    local logf="$POSTBACK_LOG_DIR/wheel-check-$POSTBACK_ODOO_SERIES.log" rc=0
    log "wheel check: bash scripts/check_wheel.sh (log: $logf)"
    local db_args=(--db_host "$PGHOST" --db_port "$PGPORT" --db_user "$PGUSER")
    if [ -n "${PGPASSWORD:-}" ]; then db_args+=(--db_password "$PGPASSWORD"); fi
    bash "$POSTBACK_REPO/scripts/check_wheel.sh" "$ODOO_SRC" "$POSTBACK_PY" "${db_args[@]}" >"$logf" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        SUMMARY+=("Wheel: $(grep -E '^wheel check: OK' "$logf" | tail -n 1 | sed 's/^wheel check: //')")
    else
        tail -n 30 "$logf" >&2
        SUMMARY+=("Wheel: FAILED (exit $rc; log: $logf)")
        FAILED=1
    fi
}

print_summary() {
    echo
    echo "==================== postback_connector test summary (Odoo ${POSTBACK_ODOO_SERIES:-none}) ===================="
    local line
    for line in "${SUMMARY[@]}"; do echo "  $line"; done
    echo "========================================================================="
    echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
}

# One Odoo tree (or none): the whole suite with that version's venv and databases.
run_one_version() {
    cd "$POSTBACK_REPO"
    local t0=$SECONDS
    postback_setup
    log "setup done in $((SECONDS - t0))s"
    if [ "$POSTBACK_ODOO_FOUND" = 1 ]; then
        BASE_DB="postback_test_base_$POSTBACK_ODOO_MAJOR"
        TEST_DB="${POSTBACK_TEST_DB:-postback_test}_$POSTBACK_ODOO_MAJOR"
    fi

    # The base database is ensured first so that Odoo-needing tests under
    # tests/ (e2e) can copy it: createdb -T "$POSTBACK_TEST_BASE_DB" ...
    local base_ok=0
    if [ "$POSTBACK_ODOO_FOUND" = 1 ]; then
        if ensure_base_db; then
            base_ok=1
            export POSTBACK_TEST_BASE_DB="$BASE_DB"
        else
            SUMMARY+=("Odoo base database: FAILED (see $POSTBACK_LOG_DIR/base-db-$POSTBACK_ODOO_SERIES.log)")
            FAILED=1
        fi
    fi

    if [ "$RUN_FREE" = 1 ]; then run_free_tests; fi

    if [ "$RUN_ODOO" = 1 ] && [ "$POSTBACK_ODOO_FOUND" = 1 ] && [ "$base_ok" = 1 ]; then
        run_odoo_part
        run_wheel_check
    fi

    local summary_file="${POSTBACK_TEST_SUMMARY:-}"
    print_summary
    if [ -n "$summary_file" ]; then
        {
            for line in "${SUMMARY[@]}"; do echo "  $line"; done
            echo "COUNTS $TOTAL_PASSED $TOTAL_FAILED $TOTAL_SKIPPED"
        } >"$summary_file"
    fi
    exit "$FAILED"
}

# The trees to test: ODOO_SRC (one or several), else the documented places.
list_trees() {
    local given="${TREES_GIVEN:-$POSTBACK_DEFAULT_TREES}"
    printf '%s\n' "$given" | tr ': ' '\n\n' | sed '/^$/d'
}

main() {
    parse_args "$@"
    if [ "${POSTBACK_TEST_ONE_TREE:-0}" = 1 ]; then
        run_one_version
    fi
    mkdir -p "$POSTBACK_LOG_DIR"
    local trees=() tree series found=0 rc status=0 skipped=() ran=() summary counts
    mapfile -t trees < <(list_trees)
    local single=0
    if [ "${#trees[@]}" -eq 1 ]; then single=1; fi
    for tree in "${trees[@]}"; do
        if [ ! -f "$tree/odoo-bin" ] || [ ! -f "$tree/odoo/release.py" ]; then
            skipped+=("$tree")
            continue
        fi
        series="$(odoo_series_of "$tree")"
        found=1
        summary="$POSTBACK_LOG_DIR/summary-$series.txt"
        rm -f "$summary"
        echo
        echo "#################### Odoo $series ($tree) ####################"
        rc=0
        if [ "$single" = 1 ]; then
            ODOO_SRC="$tree" POSTBACK_TEST_ONE_TREE=1 POSTBACK_TEST_SUMMARY="$summary" \
                bash "$SCRIPT" "$@" || rc=$?
        else
            # each version its own venv and config: a caller's POSTBACK_VENV/CONF fit one tree only
            env -u POSTBACK_VENV -u POSTBACK_ODOO_CONF ODOO_SRC="$tree" POSTBACK_TEST_ONE_TREE=1 \
                POSTBACK_TEST_SUMMARY="$summary" bash "$SCRIPT" "$@" || rc=$?
        fi
        if [ "$rc" -ne 0 ]; then status=1; fi
        ran+=("$series|$tree|$summary|$rc")
    done
    if [ "$found" = 0 ]; then
        echo
        echo "#################### no Odoo tree: Odoo-free tests only ####################"
        summary="$POSTBACK_LOG_DIR/summary-noodoo.txt"
        rm -f "$summary"
        rc=0
        env -u POSTBACK_VENV -u POSTBACK_ODOO_CONF ODOO_SRC=/nonexistent/odoo POSTBACK_TEST_ONE_TREE=1 \
            POSTBACK_TEST_SUMMARY="$summary" bash "$SCRIPT" "$@" || rc=$?
        if [ "$rc" -ne 0 ]; then status=1; fi
        ran+=("none|-|$summary|$rc")
    fi

    echo
    echo "==================== postback_connector: every Odoo version ===================="
    local entry all_p=0 all_f=0 all_s=0 p f s
    for entry in "${ran[@]}"; do
        IFS='|' read -r series tree summary rc <<<"$entry"
        counts="$(grep '^COUNTS ' "$summary" 2>/dev/null || echo "COUNTS 0 0 0")"
        read -r _ p f s <<<"$counts"
        all_p=$((all_p + p)); all_f=$((all_f + f)); all_s=$((all_s + s))
        if [ "$series" = none ]; then
            echo "Odoo-free only: $p passed, $f failed, $s skipped$([ "$rc" -ne 0 ] && echo "  <- FAILED")"
        else
            echo "Odoo $series ($tree): $p passed, $f failed, $s skipped$([ "$rc" -ne 0 ] && echo "  <- FAILED")"
        fi
        grep -v '^COUNTS ' "$summary" 2>/dev/null || echo "  (no summary: the run stopped early, see its output above)"
    done
    for tree in "${skipped[@]}"; do
        echo "*** SKIPPED: no Odoo tree at $tree (odoo-bin, odoo/release.py): none of its Odoo tests, end-to-end tests or wheel check ran ***"
    done
    echo "================================================================================="
    echo "all versions: $all_p passed, $all_f failed, $all_s skipped"
    if [ "$found" = 0 ]; then
        echo
        odoo_missing_help
        echo "*** ODOO TESTS SKIPPED: no Odoo source tree found (${trees[*]}) — only the Odoo-free tests ran ***"
    fi
    exit "$status"
}

main "$@"
