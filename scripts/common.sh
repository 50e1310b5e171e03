# shellcheck shell=bash
# Shared setup for scripts/run.sh and scripts/test.sh. Source it, then call
# `postback_setup`. Everything it creates lives outside the repository
# (under $POSTBACK_CACHE, default ~/.cache/postback_connector).
#
# One Odoo tree per call: its version (18.0, 19.0) is read from its
# odoo/release.py, and the venv, odoo.conf and databases are that version's.
#
# Environment knobs (all optional):
#   ODOO_SRC              Odoo source tree (odoo-bin, odoo/, requirements.txt),
#                         18.0 or 19.0; default /opt/odoo-18, else /opt/odoo-19
#                         when only that one exists; never copied into the repo.
#   POSTBACK_VENV         virtualenv, default ~/.cache/postback_connector/venv-<version>
#                         (venv-noodoo without an Odoo tree)
#   POSTBACK_PYTHON       interpreter used to create the venv, default python3
#   PGHOST/PGPORT/PGUSER/PGPASSWORD
#                         an explicit PostgreSQL server (used as given when
#                         PGHOST or PGPORT is set).
#   POSTBACK_PRIVATE_PG=1 force the private PostgreSQL cluster even when a
#                         server answers on 127.0.0.1:5432.
#   POSTBACK_PGDATA       data dir of the private cluster
#   POSTBACK_PRIVATE_PGPORT  port of the private cluster, default 5433
#   POSTBACK_HTTP_INTERFACE  address Odoo serves on (run.sh, tests), default 127.0.0.1

POSTBACK_ADDON=postback_connector
POSTBACK_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POSTBACK_CACHE="${POSTBACK_CACHE:-$HOME/.cache/postback_connector}"
# The documented places of the supported trees, newest last.
POSTBACK_DEFAULT_TREES="/opt/odoo-18 /opt/odoo-19"
if [ -z "${ODOO_SRC:-}" ]; then
    ODOO_SRC=/opt/odoo-18
    if [ ! -f /opt/odoo-18/odoo/release.py ] && [ -f /opt/odoo-19/odoo/release.py ]; then ODOO_SRC=/opt/odoo-19; fi
fi
POSTBACK_LOG_DIR="$POSTBACK_CACHE/logs"
POSTBACK_ODOO_FOUND=0
POSTBACK_ODOO_SERIES=""
export POSTBACK_REPO POSTBACK_CACHE ODOO_SRC POSTBACK_ADDON

log() { printf '==> %s\n' "$*"; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die() {
    printf '\n*** ERROR: %s ***\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '    %s\n' "$line" >&2; done
    exit 1
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $*" "install sudo or run this as root once"
    fi
}

# Install Debian packages that are not installed yet (no-op when all are).
ensure_debs() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then return 0; fi
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

odoo_found() {
    [ -f "$ODOO_SRC/odoo-bin" ] && [ -f "$ODOO_SRC/odoo/release.py" ] && [ -d "$ODOO_SRC/odoo/addons" ]
}

# The series of an Odoo tree ("18.0", "19.0") from its odoo/release.py.
odoo_series_of() {
    sed -nE 's/^version_info = \(([0-9]+), ([0-9]+),.*/\1.\2/p' "$1/odoo/release.py" 2>/dev/null | head -n 1
}

# Paths that depend on the Odoo version (call after POSTBACK_ODOO_SERIES is known).
set_version_paths() {
    local tag="${POSTBACK_ODOO_SERIES:-noodoo}"
    POSTBACK_VENV="${POSTBACK_VENV:-$POSTBACK_CACHE/venv-$tag}"
    POSTBACK_ODOO_CONF="${POSTBACK_ODOO_CONF:-$POSTBACK_CACHE/odoo-$tag.conf}"
    POSTBACK_PY="$POSTBACK_VENV/bin/python"
    # "18", "19": suffix of the version's databases
    POSTBACK_ODOO_MAJOR="${POSTBACK_ODOO_SERIES%%.*}"
    export POSTBACK_VENV POSTBACK_ODOO_CONF POSTBACK_ODOO_SERIES POSTBACK_ODOO_MAJOR
}

odoo_missing_help() {
    printf '%s\n' \
        "No Odoo source tree at ODOO_SRC=$ODOO_SRC (it needs odoo-bin, odoo/ and requirements.txt)." \
        "Get one (it is never put into this repository), e.g. Odoo 18.0 or 19.0 Community:" \
        "  git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo.git /opt/odoo-18" \
        "  git clone --depth 1 --branch 19.0 https://github.com/odoo/odoo.git /opt/odoo-19" \
        "  (or unpack a Community source tarball/nightly there)" \
        "then re-run, or point ODOO_SRC at an existing tree: ODOO_SRC=/path/to/odoo $0"
}

sha_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# ---------------------------------------------------------------- venv ----
setup_venv() {
    local reqs=("$POSTBACK_REPO/requirements.txt" "$POSTBACK_REPO/requirements-test.txt")
    if [ "$POSTBACK_ODOO_FOUND" = 1 ]; then reqs=("$ODOO_SRC/requirements.txt" "${reqs[@]}"); fi
    # one stamp per mode (with/without Odoo) so switching ODOO_SRC does not
    # make every run reinstall
    local stamp_file="$POSTBACK_VENV/.postback_requirements.odoo$POSTBACK_ODOO_FOUND.sha256" want have=""
    want="$(sha_of "${reqs[@]}")"
    if [ -f "$stamp_file" ]; then have="$(cat "$stamp_file")"; fi
    if [ -x "$POSTBACK_PY" ] && [ "$want" = "$have" ]; then
        log "venv up to date: $POSTBACK_VENV"
        return 0
    fi
    if [ ! -x "$POSTBACK_PY" ]; then
        local base_py="${POSTBACK_PYTHON:-python3}"
        command -v "$base_py" >/dev/null 2>&1 || die "no $base_py found to create the venv" "set POSTBACK_PYTHON to a Python 3.10-3.12 interpreter"
        log "creating venv $POSTBACK_VENV with $("$base_py" --version 2>&1)"
        mkdir -p "$(dirname "$POSTBACK_VENV")"
        "$base_py" -m venv "$POSTBACK_VENV"
    fi
    log "installing Python requirements into $POSTBACK_VENV (first run: several minutes)"
    local pip=("$POSTBACK_PY" -m pip --disable-pip-version-check -q)
    # Odoo 18 pins (cbor2 5.4.2, ...) build only with an old setuptools that
    # still ships pkg_resources, and without build isolation.
    "${pip[@]}" install -U pip 'setuptools<81' wheel 'setuptools_scm<8'
    if [ "$POSTBACK_ODOO_FOUND" = 1 ]; then
        # Odoo 18.0 pins cbor2 5.4.2 (19.0 pins 5.4.6, which builds normally)
        if grep -qE '^cbor2==5\.4\.2 ' "$ODOO_SRC/requirements.txt"; then
            "${pip[@]}" install --no-build-isolation 'cbor2==5.4.2'
        fi
        "${pip[@]}" install -r "$ODOO_SRC/requirements.txt" -r "$POSTBACK_REPO/requirements.txt" -r "$POSTBACK_REPO/requirements-test.txt"
    else
        "${pip[@]}" install -r "$POSTBACK_REPO/requirements.txt" -r "$POSTBACK_REPO/requirements-test.txt"
    fi
    printf '%s\n' "$want" >"$stamp_file"
    log "venv ready"
}

# Make `import odoo` work in the venv (pytest-odoo needs it) via a .pth file.
setup_odoo_pth() {
    local site pth
    for site in "$POSTBACK_VENV"/lib/python3*/site-packages; do
        [ -d "$site" ] || continue
        pth="$site/postback_odoo_src.pth"
        if [ "$POSTBACK_ODOO_FOUND" = 1 ]; then
            if [ "$(cat "$pth" 2>/dev/null)" != "$ODOO_SRC" ]; then
                printf '%s\n' "$ODOO_SRC" >"$pth"
            fi
        else
            rm -f "$pth"
        fi
    done
}

# ---------------------------------------------------------- PostgreSQL ----
pg_ready() { pg_isready -q -h "$1" -p "$2" -t 3 >/dev/null 2>&1; }

# psql as the admin role of the target server (used only to create roles).
pg_admin_psql() { psql -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$1" -d postgres "${@:2}"; }

ensure_pg_role() {
    local admin="$1" exists
    exists="$(pg_admin_psql "$admin" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$PGUSER'" 2>/dev/null || true)"
    if [ "$exists" != 1 ]; then
        log "creating PostgreSQL superuser role '$PGUSER' (via role '$admin')"
        pg_admin_psql "$admin" -c "CREATE ROLE \"$PGUSER\" SUPERUSER CREATEDB LOGIN" ||
            die "could not create role '$PGUSER' on $PGHOST:$PGPORT" "create it yourself or set PGUSER/PGPASSWORD to a superuser role"
    fi
}

# Start the Debian system cluster listening on 5432 if one exists but is down.
try_start_system_cluster() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 1
    command -v pg_ctlcluster >/dev/null 2>&1 || return 1
    local ver name port _rest started=1
    while read -r ver name port _rest; do
        [ "$port" = 5432 ] || continue
        log "starting the system PostgreSQL cluster $ver/$name (port 5432)"
        if as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start; then
            started=0
        fi
    done < <(pg_lsclusters -h 2>/dev/null || true)
    [ "$started" = 0 ] || return 1
    local _
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        pg_ready 127.0.0.1 5432 && return 0
        sleep 1
    done
    return 1
}

pg_bindir() {
    local d
    d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -type d -name bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$d" ] && [ -x "$d/initdb" ] && printf '%s\n' "$d"
}

# A private cluster owned by the `postgres` OS user (or by the current user
# when not root), bound to 127.0.0.1:$POSTBACK_PRIVATE_PGPORT, trust auth.
start_private_cluster() {
    local port="${POSTBACK_PRIVATE_PGPORT:-5433}" bindir owner datadir default_dir
    if [ "$(id -u)" -eq 0 ]; then
        owner=postgres
        # root's $HOME is mode 700, so the postgres user could not reach a
        # data dir below it: use the postgres user's home instead.
        default_dir=/var/lib/postgresql/postback_connector/pgdata
    else
        owner="$(id -un)"
        default_dir="$POSTBACK_CACHE/pgdata"
    fi
    datadir="${POSTBACK_PGDATA:-$default_dir}"
    PGHOST=127.0.0.1
    PGPORT="$port"
    if pg_ready "$PGHOST" "$PGPORT"; then
        log "private PostgreSQL already running on $PGHOST:$PGPORT ($datadir)"
    else
        bindir="$(pg_bindir || true)"
        if [ -z "$bindir" ]; then
            ensure_debs postgresql
            bindir="$(pg_bindir || true)"
            [ -n "$bindir" ] || die "PostgreSQL server binaries not found after installing postgresql"
        fi
        local run_as=()
        if [ "$owner" != "$(id -un)" ]; then
            id "$owner" >/dev/null 2>&1 || ensure_debs postgresql
            run_as=(runuser -u "$owner" --)
        fi
        if [ ! -s "$datadir/PG_VERSION" ]; then
            log "initialising private PostgreSQL cluster in $datadir"
            mkdir -p "$datadir"
            if [ "$owner" != "$(id -un)" ]; then chown -R "$owner": "$(dirname "$datadir")"; fi
            chmod 700 "$datadir"
            "${run_as[@]}" "$bindir/initdb" -D "$datadir" -U postgres --auth=trust \
                -E UTF8 --locale=C.UTF-8 >"$datadir.initdb.log" 2>&1 ||
                die "initdb failed, see $datadir.initdb.log"
            cat >>"$datadir/postgresql.conf" <<EOF

# --- postback_connector private cluster ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$datadir'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
            printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$datadir/pg_hba.conf"
            if [ "$owner" != "$(id -un)" ]; then chown "$owner": "$datadir/pg_hba.conf" "$datadir/postgresql.conf"; fi
        fi
        log "starting private PostgreSQL on $PGHOST:$PGPORT (data: $datadir, log: $datadir/server.log)"
        "${run_as[@]}" "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 60 start >/dev/null ||
            die "could not start the private PostgreSQL cluster" "see $datadir/server.log"
    fi
    POSTBACK_PGDATA="$datadir"
    POSTBACK_PG_BINDIR="$(pg_bindir || true)"
    export POSTBACK_PGDATA POSTBACK_PG_BINDIR
    ensure_pg_role postgres
}

setup_postgres() {
    if ! command -v psql >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1; then
        ensure_debs postgresql-client
    fi
    PGUSER="${PGUSER:-$(id -un)}"
    if [ -n "${PGHOST:-}" ] || [ -n "${PGPORT:-}" ]; then
        PGHOST="${PGHOST:-127.0.0.1}"
        PGPORT="${PGPORT:-5432}"
        pg_ready "$PGHOST" "$PGPORT" ||
            die "PostgreSQL at PGHOST=$PGHOST PGPORT=$PGPORT does not accept connections" \
                "unset PGHOST/PGPORT to let the scripts find or start a server"
        log "PostgreSQL: $PGUSER@$PGHOST:$PGPORT (from PGHOST/PGPORT)"
    elif [ "${POSTBACK_PRIVATE_PG:-0}" = 1 ]; then
        log "POSTBACK_PRIVATE_PG=1: using a private PostgreSQL cluster"
        start_private_cluster
    elif pg_ready 127.0.0.1 5432 || try_start_system_cluster; then
        PGHOST=127.0.0.1
        PGPORT=5432
        ensure_pg_role postgres
        log "PostgreSQL: $PGUSER@$PGHOST:$PGPORT"
    else
        log "no PostgreSQL on 127.0.0.1:5432: using a private cluster"
        start_private_cluster
    fi
    if [ "$PGUSER" = postgres ]; then
        die "Odoo refuses to connect as role 'postgres'" "set PGUSER to another (superuser) role"
    fi
    export PGHOST PGPORT PGUSER
}

pg_db_exists() {
    [ "$(psql -X -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'")" = 1 ]
}

# ------------------------------------------------------------ odoo.conf ----
write_odoo_conf() {
    local tmp
    mkdir -p "$(dirname "$POSTBACK_ODOO_CONF")" "$POSTBACK_CACHE/filestore-$POSTBACK_ODOO_SERIES"
    tmp="$(mktemp "$POSTBACK_ODOO_CONF.XXXXXX")"
    {
        echo "; generated by scripts/common.sh - do not edit, it is rewritten on every run"
        echo "[options]"
        echo "addons_path = $ODOO_SRC/odoo/addons,$POSTBACK_REPO"
        echo "data_dir = $POSTBACK_CACHE/filestore-$POSTBACK_ODOO_SERIES"
        echo "db_host = $PGHOST"
        echo "db_port = $PGPORT"
        echo "db_user = $PGUSER"
        # 19.0 warns about a non-boolean "False" here: the line only when there is a password
        if [ -n "${PGPASSWORD:-}" ]; then echo "db_password = $PGPASSWORD"; fi
        # loopback only (19.0 warns when unset: its default 0.0.0.0 becomes 127.0.0.1 in 20.0)
        echo "http_interface = ${POSTBACK_HTTP_INTERFACE:-127.0.0.1}"
    } >"$tmp"
    if cmp -s "$tmp" "$POSTBACK_ODOO_CONF"; then
        rm -f "$tmp"
    else
        chmod 600 "$tmp"
        mv -f "$tmp" "$POSTBACK_ODOO_CONF"
        log "wrote $POSTBACK_ODOO_CONF"
    fi
}

# The odoo-bin flag that installs demo data in a new database: 18.0 does by
# default (and knows no --with-demo; any --without-demo value disables it),
# 19.0 only with --with-demo.
odoo_demo_flag() {
    if [ "${POSTBACK_ODOO_MAJOR:-18}" -ge 19 ]; then echo --with-demo; fi
}

# odoo-bin with our config (extra args appended).
odoo_bin() { "$POSTBACK_PY" "$ODOO_SRC/odoo-bin" -c "$POSTBACK_ODOO_CONF" "$@"; }

# ----------------------------------------------------------------- main ----
# postback_setup [--need-odoo]
# shellcheck disable=SC2120
postback_setup() {
    local need_odoo=0
    if [ "${1:-}" = --need-odoo ]; then need_odoo=1; fi
    mkdir -p "$POSTBACK_CACHE" "$POSTBACK_LOG_DIR"
    if odoo_found; then
        POSTBACK_ODOO_FOUND=1
        ODOO_SRC="$(cd "$ODOO_SRC" && pwd)"
        POSTBACK_ODOO_SERIES="$(odoo_series_of "$ODOO_SRC")"
        case "$POSTBACK_ODOO_SERIES" in
            18.0|19.0) ;;
            *) die "the Odoo tree at $ODOO_SRC is version '${POSTBACK_ODOO_SERIES:-unknown}'" \
                   "postback_connector supports Odoo 18.0 and 19.0" ;;
        esac
        log "Odoo source: $ODOO_SRC (Odoo $POSTBACK_ODOO_SERIES)"
    else
        POSTBACK_ODOO_FOUND=0
        if [ "$need_odoo" = 1 ]; then
            local help=()
            mapfile -t help < <(odoo_missing_help)
            die "no Odoo source tree at ODOO_SRC=$ODOO_SRC" "${help[@]}"
        fi
        warn "no Odoo source tree at ODOO_SRC=$ODOO_SRC: only the Odoo-free parts can run"
    fi
    set_version_paths
    export POSTBACK_ODOO_FOUND ODOO_SRC
    if [ "$POSTBACK_ODOO_FOUND" = 1 ]; then
        # python-ldap build deps, psycopg2 build deps, browser for HttpCase tours
        ensure_debs libldap2-dev libsasl2-dev libpq-dev build-essential chromium
    fi
    setup_venv
    setup_odoo_pth
    if [ "$POSTBACK_ODOO_FOUND" = 1 ]; then
        setup_postgres
        write_odoo_conf
    fi
}
