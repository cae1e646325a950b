# Sourced by bindings/install-kotlin.sh and bindings/install-swift.sh.
#
# tools_cache prints the directory that caches the tools the binding tests
# install (kotlinc, the Swift chroot), creating it: $OID4VCI_TOOLS_CACHE when
# set, else /var/cache/oid4vci-wallet-tools when writable, else
# $HOME/.cache/oid4vci-wallet-tools.
tools_cache() {
  if [ -n "${OID4VCI_TOOLS_CACHE:-}" ]; then
    mkdir -p "$OID4VCI_TOOLS_CACHE" && echo "$OID4VCI_TOOLS_CACHE" && return
  fi
  local dir=/var/cache/oid4vci-wallet-tools
  if mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]; then
    echo "$dir"
  else
    dir="$HOME/.cache/oid4vci-wallet-tools"
    mkdir -p "$dir"
    echo "$dir"
  fi
}
