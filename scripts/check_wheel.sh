#!/usr/bin/env bash
# Build postback_connector as a wheel (whool, postback_connector/pyproject.toml)
# and prove that an Odoo finds and installs it from site-packages alone, with
# this repository NOT on the addons path.
#
# Usage:
#   bash scripts/check_wheel.sh [ODOO_SRC [ODOO_PYTHON [ODOO_DB_ARGS...]]]
#
#   ODOO_SRC      Odoo source tree (odoo-bin, odoo/), default $ODOO_SRC or /opt/odoo-18
#   ODOO_PYTHON   python of a virtualenv in which that Odoo runs (must import odoo,
#                 psycopg2, jinja2, requests), default $ODOO_PYTHON or
#                 ~/.cache/postback_connector/venv-<series>/bin/python (what
#                 scripts/common.sh builds)
#   ODOO_DB_ARGS  odoo-bin database options, default $CHECK_WHEEL_DB_ARGS or
#                 --db_host 127.0.0.1 --db_port 5432 --db_user root
#                 (Odoo refuses to run as db user "postgres").
#   e.g.  bash scripts/check_wheel.sh
#         bash scripts/check_wheel.sh /opt/odoo-19 ~/.cache/postback_connector/venv-19.0/bin/python
#
# Environment knobs (optional):
#   CHECK_WHEEL_UNTRACKED=fail|include  whool packages only the files git tracks.
#       fail (default): stop if the addon has untracked files (the wheel would
#       lack them); include: build from a copy of tracked + untracked,
#       non-ignored files (what `git add -A` would commit), outside git.
#   CHECK_WHEEL_DEMO=1    install with demo data (default: without).
#   CHECK_WHEEL_OUT=DIR   also copy the built wheel to DIR.
#   POSTBACK_CACHE        default ~/.cache/postback_connector; the build venv
#                         (build + whool from the pip index) is kept there as
#                         build-venv/, odoo logs go to logs/check_wheel-<series>.log
#
# Steps: build the wheel into a temp dir; check its name and METADATA
# (Requires-Dist jinja2 + requests, no odoo requirement); make a scratch venv that
# sees the Odoo venv's packages and the Odoo tree through a .pth file; pip install
# --no-deps the wheel there (-> <site-packages>/odoo/addons/postback_connector);
# check Odoo resolves the addon there (no database); install it into a fresh
# database with --addons-path = the Odoo tree's own addons only; check
# ir_module_module says "installed" and, in `odoo-bin shell`, that the module
# Odoo loaded lives in the scratch venv; drop the database.
#
# How Odoo sees wheel-installed addons: 18.0's odoo/__init__.py and
# odoo/addons/__init__.py extend their __path__ with pkgutil.extend_path, so every
# <sys.path entry>/odoo/addons joins odoo.addons.__path__; 19.0 ships odoo and
# odoo.addons as PEP 420 namespace packages (no __init__.py), which merge the same
# directories natively. get_module_path() (18.0) / Manifest.for_addon() (19.0)
# search odoo.addons.__path__, which initialize_sys_path() then extends with
# --addons-path. So no addons_path entry is needed in either version.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ADDON=postback_connector
ADDON_DIR="$REPO/$ADDON"
CACHE="${POSTBACK_CACHE:-$HOME/.cache/postback_connector}"
BUILD_VENV="$CACHE/build-venv"
UNTRACKED_MODE="${CHECK_WHEEL_UNTRACKED:-fail}"

ODOO_SRC="${1:-${ODOO_SRC:-/opt/odoo-18}}"
ODOO_PY="${2:-${ODOO_PYTHON:-}}"
if [ "$#" -gt 2 ]; then
    DB_ARGS=("${@:3}")
else
    # shellcheck disable=SC2206  # word splitting intended
    DB_ARGS=(${CHECK_WHEEL_DB_ARGS:---db_host 127.0.0.1 --db_port 5432 --db_user root})
fi

say() { printf '==> %s\n' "$*"; }
fail() {
    printf 'wheel check: FAILED: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '    %s\n' "$line" >&2; done
    exit 1
}

# ------------------------------------------------------------- inputs ----
[ -f "$ODOO_SRC/odoo-bin" ] && [ -f "$ODOO_SRC/odoo/release.py" ] && [ -d "$ODOO_SRC/odoo/addons" ] ||
    fail "no Odoo source tree at $ODOO_SRC (needs odoo-bin, odoo/release.py, odoo/addons)"
ODOO_SRC="$(cd "$ODOO_SRC" && pwd -P)"
SERIES="$(python3 -c 'import runpy, sys; print(runpy.run_path(sys.argv[1])["serie"])' "$ODOO_SRC/odoo/release.py")" ||
    fail "cannot read the series from $ODOO_SRC/odoo/release.py"
if [ -z "$ODOO_PY" ]; then
    ODOO_PY="$CACHE/venv-$SERIES/bin/python"
fi
[ -x "$ODOO_PY" ] || fail "no python at $ODOO_PY (pass the python of the Odoo $SERIES venv as 2nd argument)"
(cd / && "$ODOO_PY" -c 'import odoo, psycopg2, jinja2, requests') >/dev/null 2>&1 ||
    fail "$ODOO_PY cannot import odoo, psycopg2, jinja2 and requests" \
        "(is that venv still being built?)"
case "$UNTRACKED_MODE" in fail | include) ;; *) fail "CHECK_WHEEL_UNTRACKED must be fail or include" ;; esac

# PostgreSQL connection for psql/dropdb, from the odoo-bin options.
i=0
while [ "$i" -lt "${#DB_ARGS[@]}" ]; do
    opt="${DB_ARGS[$i]}" val=""
    case "$opt" in
        --*=*) val="${opt#*=}" opt="${opt%%=*}" ;;
        *) if [ $((i + 1)) -lt "${#DB_ARGS[@]}" ]; then val="${DB_ARGS[$((i + 1))]}"; i=$((i + 1)); fi ;;
    esac
    case "$opt" in
        --db_host) export PGHOST="$val" ;;
        --db_port) export PGPORT="$val" ;;
        -r | --db_user) export PGUSER="$val" ;;
        -w | --db_password) export PGPASSWORD="$val" ;;
        *) fail "unsupported database option '$opt' (use --db_host/--db_port/--db_user/--db_password)" ;;
    esac
    i=$((i + 1))
done
psql -d postgres -Atqc 'select 1' >/dev/null 2>&1 ||
    fail "cannot connect to PostgreSQL with: ${DB_ARGS[*]}"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/check_wheel.XXXXXX")"
DB="pb_wheel_check_${SERIES%%.*}_$$"
LOG_DIR="$CACHE/logs"
mkdir -p "$LOG_DIR"
ODOO_LOG="$LOG_DIR/check_wheel-$SERIES.log"
: >"$ODOO_LOG"
cleanup() {
    dropdb --if-exists "$DB" >/dev/null 2>&1 || printf 'wheel check: could not drop database %s\n' "$DB" >&2
    rm -rf "$TMP"
}
trap cleanup EXIT

# ------------------------------------------------------- build venv ----
# Reused between runs; reinstalled only when the build requirements change.
[ -x "$BUILD_VENV/bin/python" ] || python3 -m venv "$BUILD_VENV"
mapfile -t BUILD_REQS < <(python3 -c '
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["build-system"]["requires"]))' "$ADDON_DIR/pyproject.toml")
STAMP="$BUILD_VENV/.check_wheel_reqs"
if [ "$(cat "$STAMP" 2>/dev/null)" != "build ${BUILD_REQS[*]}" ]; then
    say "installing build ${BUILD_REQS[*]} into $BUILD_VENV"
    "$BUILD_VENV/bin/python" -m pip install -q --disable-pip-version-check build "${BUILD_REQS[@]}" 2>&1 |
        grep -v "^WARNING: Location 'file:" >&2 || true
    "$BUILD_VENV/bin/python" -c 'import build, whool.buildapi' 2>/dev/null ||
        fail "could not install build/whool into $BUILD_VENV"
    printf '%s' "build ${BUILD_REQS[*]}" >"$STAMP"
fi

# ------------------------------------------------------------- build ----
# whool copies `git ls-files` of the addon (the pyproject.toml it drops).
cd "$ADDON_DIR"
UNTRACKED="$(git ls-files --others --exclude-standard -- . ':!pyproject.toml')"
DELETED="$(git ls-files --deleted -- .)"
if [ "$UNTRACKED_MODE" = fail ]; then
    [ -z "$UNTRACKED" ] || fail "untracked files in $ADDON/ would be missing from the wheel (whool packages git-tracked files only):" \
        $UNTRACKED "git add them, or run with CHECK_WHEEL_UNTRACKED=include"
    [ -z "$DELETED" ] || fail "files deleted but still tracked in $ADDON/ (whool would fail copying them):" \
        $DELETED "git rm them, or run with CHECK_WHEEL_UNTRACKED=include"
    BUILD_SRC="$ADDON_DIR"
    git ls-files -- . ':!pyproject.toml' | sort >"$TMP/expected"
else
    # Outside any git work tree whool copies the whole directory.
    BUILD_SRC="$TMP/src/$ADDON"
    mkdir -p "$BUILD_SRC"
    git ls-files -z --cached --others --exclude-standard -- . |
        while IFS= read -r -d '' f; do
            if [ -f "$f" ]; then mkdir -p "$BUILD_SRC/$(dirname "$f")" && cp -p "$f" "$BUILD_SRC/$f"; fi
        done
    (cd "$BUILD_SRC" && find . -type f ! -path ./pyproject.toml | sed 's|^\./||' | sort) >"$TMP/expected"
    [ -z "$UNTRACKED" ] || say "including untracked files: $(echo $UNTRACKED)"
fi
cd "$TMP"
say "building the wheel from $BUILD_SRC"
"$BUILD_VENV/bin/python" -m build --wheel --no-isolation --outdir "$TMP/dist" "$BUILD_SRC" >"$TMP/build.log" 2>&1 ||
    { tail -n 30 "$TMP/build.log" >&2; fail "wheel build failed (python -m build --wheel, backend whool)"; }
shopt -s nullglob
WHEELS=("$TMP"/dist/*.whl)
shopt -u nullglob
[ "${#WHEELS[@]}" -eq 1 ] || fail "expected exactly one wheel in $TMP/dist, got ${#WHEELS[@]}"
WHEEL="${WHEELS[0]}"
WHEEL_NAME="$(basename "$WHEEL")"
case "$WHEEL_NAME" in
    odoo_addon_postback_connector-*) ;;
    *) fail "wheel is named $WHEEL_NAME, expected odoo_addon_postback_connector-*" ;;
esac
[ -z "${CHECK_WHEEL_OUT:-}" ] || { mkdir -p "$CHECK_WHEEL_OUT" && cp "$WHEEL" "$CHECK_WHEEL_OUT/"; }

# ---------------------------------------------------------- metadata ----
"$BUILD_VENV/bin/python" - "$WHEEL" "$ADDON" "$TMP/expected" <<'EOF' || fail "wheel metadata/content check failed (see above)"
import email.parser, sys, zipfile
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

wheel, addon, expected_list = sys.argv[1:]
zf = zipfile.ZipFile(wheel)
meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
meta = email.parser.HeaderParser().parsestr(zf.read(meta_name).decode())
reqs = meta.get_all("Requires-Dist") or []
print(f"    Name: {meta['Name']}")
print(f"    Version: {meta['Version']}")
print(f"    Requires-Python: {meta['Requires-Python']}")
print(f"    Requires-Dist: {', '.join(reqs) or '(none)'}")
errors = []
if meta["Name"] != f"odoo-addon-{addon}":
    errors.append(f"Name is {meta['Name']!r}, expected 'odoo-addon-{addon}'")
names = {canonicalize_name(Requirement(r).name) for r in reqs}
for needed in ("jinja2", "lxml", "requests"):
    if needed not in names:
        errors.append(f"Requires-Dist lacks {needed}")
for n in sorted(names):
    if n == "odoo" or n.startswith("odoo-addon-"):
        errors.append(f"Requires-Dist has {n}: not installable beside a source-tree Odoo "
                      "(set external_dependencies_only in pyproject.toml)")
prefix = f"odoo/addons/{addon}/"
got = {n[len(prefix):] for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")}
expected = set(open(expected_list).read().split("\n")) - {""}
for label, files in (("missing from", expected - got), ("unexpected in", got - expected)):
    if files:
        errors.append(f"files {label} the wheel: {', '.join(sorted(files)[:10])}"
                      + (" ..." if len(files) > 10 else ""))
others = [n for n in zf.namelist() if not n.startswith(prefix) and ".dist-info/" not in n]
if others:
    errors.append(f"wheel has files outside {prefix}: {others[:5]}")
print(f"    files: {len(got)} under {prefix}")
for e in errors:
    print(f"    ERROR: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
EOF

# ------------------------------------------------------- scratch venv ----
say "installing $WHEEL_NAME into a scratch venv"
SCRATCH="$TMP/venv"
"$ODOO_PY" -m venv "$SCRATCH"
SCRATCH_PY="$SCRATCH/bin/python"
SCRATCH_SITE="$("$SCRATCH_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# The scratch venv sees the Odoo venv's packages (addsitedir also runs that venv's
# .pth files, e.g. the one putting the Odoo tree on sys.path) and the Odoo tree;
# its own site-packages comes first.
"$ODOO_PY" - "$SCRATCH_SITE/zz_check_wheel_odoo.pth" "$ODOO_SRC" <<'EOF'
import sys, sysconfig
pth, odoo_src = sys.argv[1:]
dirs = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
with open(pth, "w") as f:
    for d in dirs:
        f.write(f"import site; site.addsitedir({d!r})\n")
    f.write(odoo_src + "\n")
EOF
"$SCRATCH_PY" -m pip install -q --no-deps --disable-pip-version-check "$WHEEL" 2>&1 |
    grep -v "^WARNING: Location 'file:" >&2 || true
WHEEL_ADDON="$SCRATCH_SITE/odoo/addons/$ADDON"
[ -f "$WHEEL_ADDON/__manifest__.py" ] || fail "pip install did not put the addon at $WHEEL_ADDON"

ADDONS_PATH="$ODOO_SRC/odoo/addons"
[ ! -d "$ODOO_SRC/addons" ] || ADDONS_PATH="$ADDONS_PATH,$ODOO_SRC/addons"
: >"$TMP/odoo.conf" # no ~/.odoorc, no repository on the addons path
ODOO_ARGS=(-c "$TMP/odoo.conf" --addons-path "$ADDONS_PATH" --data-dir "$TMP/data" --http-interface 127.0.0.1 "${DB_ARGS[@]}")

# ---------------------------------------------------------- discovery ----
# Without a database: does Odoo resolve the addon to the wheel's copy?
FOUND="$("$SCRATCH_PY" - "$REPO" "${ODOO_ARGS[@]}" <<'EOF' 2>>"$ODOO_LOG"
import os, sys
repo = os.path.realpath(sys.argv[1])
if any(os.path.realpath(p or os.getcwd()) == repo for p in sys.path):
    sys.exit(f"the repository {repo} is on sys.path")
import odoo
from odoo.tools import config
config.parse_config(sys.argv[2:])
from odoo.modules import module
module.initialize_sys_path()
print(module.get_module_path("postback_connector") or "")
EOF
)" || fail "discovery check crashed (see $ODOO_LOG)"
[ -n "$FOUND" ] || fail "Odoo $SERIES does not find $ADDON when installed from the wheel" \
    "odoo.addons.__path__ misses $SCRATCH_SITE/odoo/addons"
[ "$(realpath "$FOUND")" = "$(realpath "$WHEEL_ADDON")" ] ||
    fail "Odoo $SERIES resolves $ADDON to $FOUND, not to the wheel's $WHEEL_ADDON"
say "Odoo $SERIES discovers $ADDON at $FOUND (addons path: $ADDONS_PATH)"

# ------------------------------------------------------------ install ----
DEMO_ARGS=()
if [ "${CHECK_WHEEL_DEMO:-0}" = 1 ]; then
    [ "$SERIES" = 18.0 ] || DEMO_ARGS=(--with-demo) # no demo by default since 19.0
else
    [ "$SERIES" != 18.0 ] || DEMO_ARGS=(--without-demo=all)
fi
say "installing $ADDON into fresh database $DB with Odoo $SERIES (log: $ODOO_LOG)"
START=$SECONDS
rc=0
"$SCRATCH_PY" "$ODOO_SRC/odoo-bin" "${ODOO_ARGS[@]}" -d "$DB" -i "$ADDON" "${DEMO_ARGS[@]}" \
    --stop-after-init --no-http --max-cron-threads=0 >>"$ODOO_LOG" 2>&1 || rc=$?
STATE="$(psql -d "$DB" -Atqc "select state from ir_module_module where name = '$ADDON'" 2>/dev/null || true)"
if [ "$rc" -ne 0 ] || [ "$STATE" != installed ]; then
    grep -E " (ERROR|CRITICAL) |^Traceback|Error:| WARNING .*$ADDON" "$ODOO_LOG" |
        awk '!seen[substr($0, 25)]++' | tail -n 15 | cut -c1-400 >&2 || true
    fail "Odoo $SERIES found $ADDON in the wheel's site-packages ($FOUND), but installing it failed:" \
        "odoo-bin exit code $rc, ir_module_module state '${STATE:-<none>}' (full log: $ODOO_LOG)"
fi
say "installed in $((SECONDS - START))s; ir_module_module.state = $STATE"

# ---------------------------------------------------- loaded module path ----
SHELL_OUT="$(printf '%s\n' \
    "import odoo.addons.postback_connector as m" \
    "print('PB_MODULE_PATH=' + (odoo.modules.module.get_module_path('postback_connector') or ''))" \
    "print('PB_MODULE_FILE=' + m.__file__)" \
    "print('PB_STATE=' + env['ir.module.module'].search([('name', '=', 'postback_connector')]).state)" |
    "$SCRATCH_PY" "$ODOO_SRC/odoo-bin" shell "${ODOO_ARGS[@]}" -d "$DB" --no-http --log-level=warn 2>>"$ODOO_LOG")" ||
    fail "odoo-bin shell failed (see $ODOO_LOG)"
MOD_PATH="$(sed -n 's/^PB_MODULE_PATH=//p' <<<"$SHELL_OUT")"
MOD_FILE="$(sed -n 's/^PB_MODULE_FILE=//p' <<<"$SHELL_OUT")"
SHELL_STATE="$(sed -n 's/^PB_STATE=//p' <<<"$SHELL_OUT")"
[ -n "$MOD_PATH" ] && [ "$(realpath "$MOD_PATH")" = "$(realpath "$WHEEL_ADDON")" ] ||
    fail "in odoo-bin shell, get_module_path('$ADDON') = '${MOD_PATH:-<none>}', not $WHEEL_ADDON"
[ "$(realpath "$(dirname "$MOD_FILE")")" = "$(realpath "$WHEEL_ADDON")" ] ||
    fail "odoo.addons.$ADDON was imported from $MOD_FILE, not from $WHEEL_ADDON"
[ "$SHELL_STATE" = installed ] || fail "odoo-bin shell reports state '$SHELL_STATE'"
say "odoo-bin shell: module path $MOD_PATH, imported from $MOD_FILE"

echo "wheel check: OK ($WHEEL_NAME, installed from $MOD_PATH)"
