#!/usr/bin/env bash
# Installs hedgerow as a system service on Debian 12 / Raspberry Pi OS (bookworm), amd64 or arm64.
#
#   sudo deploy/install.sh [--hostname NAME] [--participant-id ID]   install or upgrade, then enable and start
#   sudo deploy/install.sh --uninstall [--purge]                      remove program and unit (--purge: data too)
#
# Run it from a built checkout or unpacked package (npm ci && npm run build have run here, on this architecture:
# node_modules holds the native better-sqlite3 for it). Layout:
#   /opt/hedgerow             program: dist, config, spec, production node_modules, package.json; bin/hedgerow
#   /etc/hedgerow/hedgerow.json   configuration (written once, then yours)   root:hedgerow 0640
#   /etc/hedgerow/certs       keys and certificates                         hedgerow 0700
#   /var/lib/hedgerow         database                                      hedgerow 0700
#   /etc/systemd/system/hedgerow.service, /usr/local/bin/hedgerow -> /opt/hedgerow/bin/hedgerow
#
# Idempotent: a second run with the same program changes nothing. An upgrade replaces /opt/hedgerow whole (no
# stale files), after a backup of the node into /var/lib/hedgerow/backups, and restarts the service, which
# migrates the database when it starts.
#
# --root PREFIX installs into PREFIX instead of / (an image, or a test): no user is created, nothing is chown'd,
# systemctl is not called; what would have been done is printed. --no-user skips the user on a real system.
set -euo pipefail

SERVICE_USER=hedgerow
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
MODE=install
PURGE=0
CREATE_USER=1
INIT_ARGS=()

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 64; }
say() { printf 'hedgerow install: %s\n' "$*"; }
fail() { printf 'hedgerow install: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --uninstall) MODE=uninstall; shift ;;
    --purge) PURGE=1; shift ;;
    --no-user) CREATE_USER=0; shift ;;
    --hostname|--participant-id) INIT_ARGS+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    -h|--help) usage ;;
    *) printf 'hedgerow install: unknown option %s\n' "$1" >&2; usage ;;
  esac
done
[ "$PURGE" = 1 ] && [ "$MODE" != uninstall ] && fail "--purge goes with --uninstall"
if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT" && ROOT="$(cd "$ROOT" && pwd)"
  CREATE_USER=0
fi

OPT="$ROOT/opt/hedgerow"
ETC="$ROOT/etc/hedgerow"
CERTS="$ETC/certs"
DATA="$ROOT/var/lib/hedgerow"
CONFIG="$ETC/hedgerow.json"
UNIT="$ROOT/etc/systemd/system/hedgerow.service"
LINK="$ROOT/usr/local/bin/hedgerow"

# systemctl only on the real root of a machine whose PID 1 is systemd.
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then HAVE_SYSTEMD=1; else HAVE_SYSTEMD=0; fi
if [ -n "$ROOT" ]; then NO_SYSTEMD_REASON="--root was given"; else NO_SYSTEMD_REASON="systemd is not PID 1 here"; fi
systemctl_or_say() {
  if [ "$HAVE_SYSTEMD" = 1 ]; then systemctl "$@"; else say "skipped: systemctl $* ($NO_SYSTEMD_REASON)"; fi
}

# Whether the service user owns its directories (real install) or the files stay with the caller.
user_exists() { [ "$CREATE_USER" = 1 ] && getent passwd "$SERVICE_USER" >/dev/null; }
own() { if user_exists; then chown "$@"; fi; }

# As the service user where there is one, so that what it creates is the service's.
as_service_user() {
  if user_exists; then runuser -u "$SERVICE_USER" -- "$@"; else "$@"; fi
}

# The CLI of the program in directory $1, on the installed configuration; under --root, paths point into the prefix.
cli_of() {
  local program="$1"; shift
  if [ -n "$ROOT" ]; then
    "$NODE" "$program/dist/cli/main.js" "$@" --config "$CONFIG" --data-dir "$DATA" --certs-dir "$CERTS"
  else
    as_service_user "$NODE" "$program/dist/cli/main.js" "$@" --config "$CONFIG"
  fi
}

# path, type, mode, and content or link target of every entry: equal listings mean equal trees.
tree_listing() {
  (
    cd "$1"
    find . -mindepth 1 -printf '%p %y %m %l\n' | LC_ALL=C sort
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
  )
}

uninstall() {
  if [ "$HAVE_SYSTEMD" = 1 ] && [ -f "$UNIT" ]; then systemctl disable --now hedgerow.service || true; else say "skipped: systemctl disable --now hedgerow.service ($NO_SYSTEMD_REASON)"; fi
  rm -f "$UNIT" "$LINK"
  rm -rf "$OPT"
  systemctl_or_say daemon-reload
  say "removed $OPT, $UNIT and $LINK"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$ETC" "$DATA"
    say "purged $ETC (configuration, keys, certificates) and $DATA (database, backups)"
    if [ "$CREATE_USER" = 1 ] && getent passwd "$SERVICE_USER" >/dev/null; then
      userdel "$SERVICE_USER" && say "removed user $SERVICE_USER"
    elif [ -n "$ROOT" ]; then
      say "skipped: userdel $SERVICE_USER (--root was given)"
    fi
  else
    say "kept $ETC (configuration, keys, certificates) and $DATA (database): remove them with --uninstall --purge"
  fi
}

if [ "$MODE" = uninstall ]; then uninstall; exit 0; fi

# --- prerequisites --------------------------------------------------------------------------------------------
NODE="$(command -v node)" || fail "Node.js 20.19 or newer is needed (apt-get install nodejs, or NodeSource)"
"$NODE" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || fail "Node.js $("$NODE" --version) is too old: 20.19 or newer is needed"
case "$NODE" in
  /home/*|/root/*) fail "node is at $NODE, inside a home directory the service cannot see (ProtectHome=yes): install Node.js system-wide" ;;
esac
[ -f "$SOURCE/dist/cli/main.js" ] || fail "$SOURCE/dist is missing: run npm ci (it builds) in $SOURCE first"
[ -d "$SOURCE/node_modules/better-sqlite3/build/Release" ] || fail "$SOURCE/node_modules has no built better-sqlite3: run npm ci in $SOURCE on this machine"
"$NODE" -e 'require(process.argv[1])' "$SOURCE/node_modules/better-sqlite3" 2>/dev/null \
  || fail "better-sqlite3 in $SOURCE/node_modules was built for another architecture or Node version: run npm ci here"

# --- the service user -----------------------------------------------------------------------------------------
if [ "$CREATE_USER" = 1 ]; then
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/hedgerow --no-create-home --shell /usr/sbin/nologin \
      --comment "hedgerow dataspace connector" "$SERVICE_USER"
    say "created system user $SERVICE_USER"
  fi
else
  say "skipped: useradd --system $SERVICE_USER ($([ -n "$ROOT" ] && echo '--root was given' || echo '--no-user')); files stay owned by $(id -un)"
fi

# --- the program, staged and compared: replaced whole only when it differs ------------------------------------
# Staged outside the tree (on disk: /tmp can be a small tmpfs), so that an unchanged program touches nothing there.
STAGE="$(mktemp -d "${TMPDIR:-/var/tmp}/hedgerow-install.XXXXXX")"
trap 'rm -rf "$STAGE" "$OPT.new"' EXIT
cp -a "$SOURCE/dist" "$SOURCE/config" "$SOURCE/spec" "$SOURCE/package.json" "$STAGE/"
[ -f "$SOURCE/README.md" ] && cp -a "$SOURCE/README.md" "$STAGE/"
mkdir -p "$STAGE/deploy" && cp -a "$SOURCE/deploy/install.sh" "$SOURCE/deploy/systemd" "$STAGE/deploy/"
rm -f "$STAGE/dist/.tsbuildinfo"
# Production dependencies only (the closure npm computes); without npm, the whole node_modules.
mkdir -p "$STAGE/node_modules"
if command -v npm >/dev/null; then
  (cd "$SOURCE" && npm ls --omit=dev --all --parseable 2>/dev/null || true) \
    | sed -n "s#^$SOURCE/node_modules/##p" | sed -E 's#^((@[^/]+/)?[^/]+).*#\1#' | LC_ALL=C sort -u \
    | while read -r pkg; do mkdir -p "$STAGE/node_modules/$(dirname "$pkg")" && cp -a "$SOURCE/node_modules/$pkg" "$STAGE/node_modules/$pkg"; done
else
  say "npm not found: installing all of node_modules (development tools included)"
  cp -a "$SOURCE/node_modules/." "$STAGE/node_modules/"
fi
# better-sqlite3's sources and compiler output are not needed at run time (about 25 MB on an SD card).
rm -rf "$STAGE/node_modules/better-sqlite3/"{deps,src} "$STAGE/node_modules/better-sqlite3/build/"{deps,Release/obj,Release/obj.target,Release/.deps,Release/test_extension.node}
mkdir -p "$STAGE/bin"
cat >"$STAGE/bin/hedgerow" <<EOF
#!/bin/sh
# hedgerow as installed by deploy/install.sh; the configuration defaults to the installed one.
: "\${HEDGEROW_CONFIG:=/etc/hedgerow/hedgerow.json}"
export HEDGEROW_CONFIG
exec $NODE /opt/hedgerow/dist/cli/main.js "\$@"
EOF
chmod 0755 "$STAGE" "$STAGE/bin/hedgerow"

PROGRAM_CHANGED=0
if [ -d "$OPT" ] && [ "$(tree_listing "$OPT")" = "$(tree_listing "$STAGE")" ]; then
  say "program in $OPT is up to date"
else
  PROGRAM_CHANGED=1
  if [ -d "$OPT" ] && [ -f "$DATA/hedgerow.db" ]; then
    # An upgrade: keep a way back before the new release migrates the database.
    mkdir -p "$DATA/backups" && chmod 0700 "$DATA/backups" && own "$SERVICE_USER:$SERVICE_USER" "$DATA/backups"
    old_version="$("$NODE" -p "require('$OPT/package.json').version" 2>/dev/null || echo unknown)"
    backup="$DATA/backups/pre-upgrade-$old_version-$(date -u +%Y%m%dT%H%M%SZ).tar.gz"
    # The new program makes it: it can copy any older database, and the old one may predate "hedgerow backup".
    cli_of "$STAGE" backup --out "$backup" 2>&1 | sed 's/^/  /'
    say "backed up the node before the upgrade: $backup (keys in clear, in the 0700 data directory)"
  fi
  # Next to the old program first (a copy if /var/tmp is another file system), then two renames.
  mkdir -p "$(dirname "$OPT")"
  rm -rf "$OPT.new" "$OPT.old"
  mv "$STAGE" "$OPT.new"
  if [ -d "$OPT" ]; then mv "$OPT" "$OPT.old"; fi
  mv "$OPT.new" "$OPT"
  rm -rf "$OPT.old"
  say "installed the program in $OPT (hedgerow $("$NODE" -p "require('$OPT/package.json').version"))"
fi

# --- configuration, certificates and data directories ---------------------------------------------------------
mkdir -p "$ETC" "$CERTS" "$DATA"
chmod 0750 "$ETC" && own "root:$SERVICE_USER" "$ETC"
chmod 0700 "$CERTS" "$DATA" && own "$SERVICE_USER:$SERVICE_USER" "$CERTS" "$DATA"
if [ ! -f "$CONFIG" ]; then
  (umask 027 && cat >"$CONFIG" <<EOF
{
  "dataDir": "/var/lib/hedgerow",
  "certsDir": "/etc/hedgerow/certs",
  "log": { "format": "json" }
}
EOF
  )
  chmod 0640 "$CONFIG" && own "root:$SERVICE_USER" "$CONFIG"
  say "wrote $CONFIG"
else
  say "kept $CONFIG"
fi

# --- first run: key, certificate, database (once) -------------------------------------------------------------
if [ ! -f "$CERTS/connector.key.pem" ]; then
  [ ${#INIT_ARGS[@]} -gt 0 ] || INIT_ARGS=(--hostname "$(hostname -f 2>/dev/null || hostname)")
  (umask 077 && cli_of "$OPT" init "${INIT_ARGS[@]}")
else
  say "kept the connector key in $CERTS (hedgerow init ran before)"
fi

# --- the unit ---------------------------------------------------------------------------------------------------
UNIT_CHANGED=0
if ! cmp -s "$SOURCE/deploy/systemd/hedgerow.service" "$UNIT"; then
  mkdir -p "$(dirname "$UNIT")"
  install -m 0644 "$SOURCE/deploy/systemd/hedgerow.service" "$UNIT"
  UNIT_CHANGED=1
  say "installed $UNIT"
fi
if [ "$(readlink "$LINK" 2>/dev/null)" != /opt/hedgerow/bin/hedgerow ]; then
  mkdir -p "$(dirname "$LINK")" && ln -sfn /opt/hedgerow/bin/hedgerow "$LINK"
fi

if [ "$UNIT_CHANGED" = 1 ]; then systemctl_or_say daemon-reload; fi
if [ "$HAVE_SYSTEMD" = 1 ]; then
  systemctl is-enabled --quiet hedgerow.service || systemctl enable hedgerow.service
  if ! systemctl is-active --quiet hedgerow.service; then systemctl start hedgerow.service && say "started hedgerow.service"
  elif [ "$PROGRAM_CHANGED" = 1 ] || [ "$UNIT_CHANGED" = 1 ]; then systemctl restart hedgerow.service && say "restarted hedgerow.service"
  fi
else
  say "skipped: systemctl enable --now hedgerow.service ($NO_SYSTEMD_REASON)"
fi
say "done. Status: systemctl status hedgerow; logs: journalctl -u hedgerow -o cat; check: sudo -u hedgerow hedgerow doctor"
