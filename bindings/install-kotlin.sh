#!/usr/bin/env bash
# Installs what the Kotlin binding test needs, idempotently:
#   - kotlinc 2.4.x from the npm package `kotlin-compiler` (it ships
#     lib/kotlin-stdlib.jar and lib/kotlinx-coroutines-core-jvm.jar too);
#   - JNA from Debian's `libjna-java` (/usr/share/java/jna.jar).
# Java (17+) must already be on the machine.
#
# The npm package goes to a cache: /var/cache/oid4vci-wallet-tools, or
# $HOME/.cache/oid4vci-wallet-tools when that is not writable (override with
# OID4VCI_TOOLS_CACHE). A second run reuses it and installs nothing.
#
# Prints shell assignments (KOTLINC=..., KOTLIN_STDLIB=..., COROUTINES_JAR=...,
# JNA_JAR=...) on stdout, so a caller can `eval "$(bindings/install-kotlin.sh)"`;
# progress goes to stderr.
set -euo pipefail

KOTLIN_VERSION="${KOTLIN_VERSION:-2.4.20}"

log() { echo "install-kotlin: $*" >&2; }
die() { echo "install-kotlin: error: $*" >&2; exit 1; }

# shellcheck source=tools-cache.sh
. "$(dirname "$0")/tools-cache.sh"

command -v java >/dev/null || die "java is required (JDK 17 or newer)"

# --- kotlinc ---------------------------------------------------------------
cache=$(tools_cache)
kdir="$cache/kotlin-compiler-$KOTLIN_VERSION"
kroot="$kdir/node_modules/kotlin-compiler"
if [ -f "$kdir/.complete" ] && [ -x "$kroot/bin/kotlinc" ]; then
  log "kotlinc $KOTLIN_VERSION already in $kroot"
else
  command -v npm >/dev/null || die "npm is required to install the kotlin-compiler package"
  log "installing npm package kotlin-compiler@$KOTLIN_VERSION into $kdir"
  rm -rf "$kdir"
  mkdir -p "$kdir"
  npm install --no-audit --no-fund --no-save --loglevel=error \
    --prefix "$kdir" "kotlin-compiler@$KOTLIN_VERSION" >&2 \
    || die "npm install kotlin-compiler@$KOTLIN_VERSION failed"
  [ -x "$kroot/bin/kotlinc" ] || die "the kotlin-compiler package has no bin/kotlinc"
  touch "$kdir/.complete"
fi
for jar in kotlin-stdlib.jar kotlinx-coroutines-core-jvm.jar; do
  [ -f "$kroot/lib/$jar" ] || die "the kotlin-compiler package has no lib/$jar"
done

# --- JNA -------------------------------------------------------------------
jna=/usr/share/java/jna.jar
if [ -f "$jna" ]; then
  log "JNA already at $jna"
else
  command -v apt-get >/dev/null || die "apt-get is required to install libjna-java (or put jna.jar at $jna)"
  export DEBIAN_FRONTEND=noninteractive
  log "installing Debian package libjna-java"
  if ! apt-get install -y --no-install-recommends libjna-java >&2; then
    log "apt-get install failed; running apt-get update and trying again"
    apt-get update >&2 || die "apt-get update failed"
    apt-get install -y --no-install-recommends libjna-java >&2 || die "apt-get install libjna-java failed"
  fi
  [ -f "$jna" ] || die "libjna-java installed but $jna is missing"
fi

echo "KOTLINC=$kroot/bin/kotlinc"
echo "KOTLIN_STDLIB=$kroot/lib/kotlin-stdlib.jar"
echo "COROUTINES_JAR=$kroot/lib/kotlinx-coroutines-core-jvm.jar"
echo "JNA_JAR=$jna"
