#!/usr/bin/env bash
# Installs a Swift toolchain for the Swift binding test, idempotently.
#
# This machine's Debian release has no Swift package; Debian trixie has
# `swiftlang` (6.0.x). So this builds a Debian trixie chroot with debootstrap
# (--variant=minbase) and installs swiftlang, libc6-dev, libstdc++-14-dev and
# ca-certificates (the SDK's built-in HTTPS client needs root certificates
# even to start) in it with apt. The mirror is read at run time from this machine's own apt
# configuration (/etc/apt/sources.list and /etc/apt/sources.list.d/*.sources,
# *.list): the entry that serves this machine's Debian release.
#
# The chroot is cached in /var/cache/oid4vci-wallet-tools/swift-trixie (or
# $HOME/.cache/oid4vci-wallet-tools/swift-trixie when /var/cache is not
# writable; override the parent with OID4VCI_TOOLS_CACHE) and reused when its
# marker file (written only after a fully successful setup) is there; packages
# added to the list below since are installed into the cached chroot. The
# first run takes about a minute and about 3 GB. Needs root (debootstrap,
# chroot, mount).
#
# Prints `SWIFT_ROOT=<chroot>` on stdout (for `eval`); progress goes to stderr.
set -euo pipefail

SUITE=trixie
PACKAGES="swiftlang libc6-dev libstdc++-14-dev ca-certificates"
MARKER_NAME=.oid4vci-swift-ready

log() { echo "install-swift: $*" >&2; }
die() { echo "install-swift: error: $*" >&2; exit 1; }

# shellcheck source=tools-cache.sh
. "$(dirname "$0")/tools-cache.sh"

cache=$(tools_cache)
root="$cache/swift-$SUITE"
marker="$root/$MARKER_NAME"

# Runs a command inside the chroot $1 with a clean environment.
chroot_in() {
  local dir=$1
  shift
  chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# The packages of $PACKAGES not installed in the chroot $1.
missing_packages() {
  local p
  for p in $PACKAGES; do
    chroot_in "$1" dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" \
      || echo "$p"
  done
}

if [ -f "$marker" ]; then
  missing=$(missing_packages "$root" | tr '\n' ' ' | sed 's/ $//')
  if [ -n "$missing" ]; then
    [ "$(id -u)" = 0 ] || die "adding $missing to the Swift chroot needs root"
    log "adding $missing to the Swift chroot in $root"
    mounted_proc=
    if ! mountpoint -q "$root/proc"; then
      mount -t proc proc "$root/proc"
      mounted_proc=1
    fi
    ok=1
    # shellcheck disable=SC2086
    if ! chroot_in "$root" apt-get install -y --no-install-recommends $missing >&2; then
      log "apt-get install failed; running apt-get update inside the chroot and trying again"
      # shellcheck disable=SC2086
      { chroot_in "$root" apt-get update >&2 \
          && chroot_in "$root" apt-get install -y --no-install-recommends $missing >&2; } || ok=
    fi
    chroot_in "$root" apt-get clean >&2 || true
    [ -z "$mounted_proc" ] || umount "$root/proc" || umount -l "$root/proc" || true
    [ -n "$ok" ] || die "apt-get install $missing inside the chroot failed"
  fi
  log "Swift chroot already set up in $root ($(cat "$marker"))"
  echo "SWIFT_ROOT=$root"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "building the Swift chroot needs root (debootstrap, chroot, mount)"

# --- the mirror, from this machine's apt sources --------------------------------
# Prints the URI of the first enabled `deb` entry whose suites include this
# machine's release codename (the main archive, not -security/-updates).
find_mirror() {
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || return 1
  local files=()
  [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
  local f
  for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 1
  for f in "${files[@]}"; do
    case "$f" in
      *.sources)
        # deb822: stanzas separated by blank lines.
        awk -v want="$codename" '
          function flush() {
            if (types ~ /(^| )deb( |$)/ && enabled !~ /^(no|false)$/) {
              n = split(suites, s, " ")
              for (i = 1; i <= n; i++) if (s[i] == want) {
                split(uris, u, " ")
                if (u[1] ~ /^https?:\/\//) { print u[1]; found = 1; exit }
              }
            }
            types = ""; uris = ""; suites = ""; enabled = ""
          }
          /^[ \t]*#/ { next }
          /^[ \t]*$/ { flush(); next }
          {
            line = $0; key = tolower(line); sub(/:.*/, "", key)
            val = line; sub(/^[^:]*:[ \t]*/, "", val)
            if (key == "types") types = val
            else if (key == "uris") uris = val
            else if (key == "suites") suites = val
            else if (key == "enabled") enabled = tolower(val)
          }
          END { if (!found) flush() }
        ' "$f"
        ;;
      *)
        # one-line format: deb [options] uri suite components...
        awk -v want="$codename" '
          /^[ \t]*deb[ \t]/ {
            line = $0
            gsub(/\[[^]]*\]/, "", line)
            n = split(line, w, /[ \t]+/)
            k = 0
            for (i = 1; i <= n; i++) if (w[i] != "") a[++k] = w[i]
            if (a[3] == want && a[2] ~ /^https?:\/\//) { print a[2]; exit }
          }
        ' "$f"
        ;;
    esac
  done | head -n 1
}

mirror="${OID4VCI_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror=$(find_mirror || true)
fi
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/ for this machine's release (set OID4VCI_DEBIAN_MIRROR to a Debian archive URL)"
log "Debian mirror from this machine's apt sources: $mirror"

# --- debootstrap ----------------------------------------------------------------
if ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  log "installing Debian package debootstrap"
  if ! apt-get install -y --no-install-recommends debootstrap >&2; then
    log "apt-get install failed; running apt-get update and trying again"
    apt-get update >&2 || die "apt-get update failed"
    apt-get install -y --no-install-recommends debootstrap >&2 || die "apt-get install debootstrap failed"
  fi
fi
[ -e "/usr/share/debootstrap/scripts/$SUITE" ] || die "this debootstrap does not know the suite $SUITE"

keyring_args=()
for k in /usr/share/keyrings/debian-archive-keyring.gpg; do
  [ -f "$k" ] && keyring_args=(--keyring="$k")
done

partial="$root.partial"

# Unmounts everything under $1 (deepest first). Returns non-zero if anything
# stays mounted.
unmount_under() {
  local dir m
  dir=$(readlink -f "$1")
  for m in $(awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  ! awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/mounts
}

remove_tree() {
  [ -e "$1" ] || return 0
  unmount_under "$1" || die "cannot unmount everything under $1; remove it by hand"
  rm -rf --one-file-system "$1"
}

cleanup() {
  if [ -d "$partial" ]; then
    unmount_under "$partial" || true
  fi
}
trap cleanup EXIT

# An unfinished earlier attempt, or a finished chroot without its marker: start over.
remove_tree "$partial"
remove_tree "$root"

start=$(date +%s)
log "debootstrap --variant=minbase $SUITE into $partial (takes a while)"
debootstrap --variant=minbase "${keyring_args[@]}" "$SUITE" "$partial" "$mirror" >&2 \
  || { tail -n 30 "$partial/debootstrap/debootstrap.log" >&2 2>/dev/null || true; die "debootstrap failed"; }

mount -t proc proc "$partial/proc"
[ -e "$partial/dev/null" ] || mount --bind /dev "$partial/dev"
cp /etc/resolv.conf "$partial/etc/resolv.conf" 2>/dev/null || true

log "installing $PACKAGES inside the chroot"
in_chroot() { chroot_in "$partial" "$@"; }
in_chroot apt-get update >&2 || die "apt-get update inside the chroot failed"
# shellcheck disable=SC2086
in_chroot apt-get install -y --no-install-recommends $PACKAGES >&2 \
  || die "apt-get install $PACKAGES inside the chroot failed"
in_chroot apt-get clean >&2 || true

swiftc_path=$(in_chroot sh -c 'command -v swiftc || ls /usr/lib/swift/bin/swiftc /usr/libexec/swift/*/bin/swiftc 2>/dev/null | head -n 1' || true)
[ -n "$swiftc_path" ] || die "swiftlang installed but no swiftc found in the chroot"
version=$(in_chroot "$swiftc_path" --version 2>&1 | head -n 1)
log "swiftc: $swiftc_path: $version"

# A smoke test: compile and run a tiny program with async code.
mkdir -p "$partial/tmp/smoke"
cat >"$partial/tmp/smoke/main.swift" <<'EOF'
func answer() async -> Int { 42 }
let value = await answer()
print("swift ok \(value)")
EOF
in_chroot "$swiftc_path" -o /tmp/smoke/smoke /tmp/smoke/main.swift >&2 || die "swiftc cannot compile a test program"
[ "$(in_chroot /tmp/smoke/smoke)" = "swift ok 42" ] || die "a compiled Swift program did not run"
rm -rf "$partial/tmp/smoke"

unmount_under "$partial" || die "cannot unmount /proc in $partial"
echo "swiftc=$swiftc_path; $version" >"$partial/$MARKER_NAME"
mv "$partial" "$root"
trap - EXIT
log "Swift chroot ready in $root ($(( $(date +%s) - start )) s, $(du -sh --one-file-system "$root" | cut -f1))"
echo "SWIFT_ROOT=$root"
