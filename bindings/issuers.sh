# Sourced by bindings/test-kotlin and bindings/test-swift: starts the reference
# issuers (target/debug/oid4vci-issuer, already built) the binding tests run
# against, each on a free loopback port, with its output in a directory of the
# caller's.
#
#   start_issuers DIR   starts nine instances and sets
#                         ISSUER_BASE              the main one (deferred polls: interval 1 s, 2 pending)
#                         ISSUER_DPOP_BASE         --require-dpop --dpop-nonce
#                         ISSUER_HTTPS_BASE        --tls; its self-signed certificate is
#                                                  written to DIR/https-cert.pem (ISSUER_HTTPS_CERT)
#                         ISSUER_ATTESTATION_BASE  --wallet-attestation challenge --require-dpop
#                                                  --dpop-nonce (attestation-based client
#                                                  authentication with challenges, and DPoP)
#                         ISSUER_X5C_BASE          --credential-signing x5c (credentials signed
#                                                  with an x5c chain to its test root CA, which
#                                                  the tests fetch from its GET /test/trust)
#                         ISSUER_X5C_SELF_SIGNED_BASE  --credential-signing x5c --fault
#                                                  x5c-self-signed (a forgery: its own
#                                                  self-signed certificate in x5c)
#                         ISSUER_KEY_ATTESTATION_BASE  --key-attestations-required (every
#                                                  configuration lists key_attestations_required;
#                                                  attestations of its trusted wallet provider
#                                                  come from its POST /test/key-attestation)
#                         ISSUER_ATTESTATION_PROOF_BASE  --key-attestation required-with-nonce
#                                                  --attestation-proof-only --batch-size 3 (only
#                                                  the `attestation` proof type: the key
#                                                  attestation, with the c_nonce, is the proof)
#                         ISSUER_SLOW_BASE         --latency-ms 3000 (every answer, /test/*
#                                                  included, waits 3 s: the cancellation checks)
#   stop_issuers        stops whatever start_issuers started (call it from the EXIT trap)
#
# Honors CARGO_TARGET_DIR (default: target).

issuer_pids=()

# start_issuer DIR NAME [FLAG...]: starts one instance, waits for its ready
# line (DIR/NAME.out) and sets issuer_base to its base URL.
start_issuer() {
  local dir=$1 name=$2
  shift 2
  "${CARGO_TARGET_DIR:-target}/debug/oid4vci-issuer" --addr 127.0.0.1:0 "$@" \
    >"$dir/$name.out" 2>"$dir/$name.err" &
  local pid=$!
  issuer_pids+=("$pid")
  issuer_base=
  for _ in $(seq 1 100); do
    issuer_base=$(sed -n 's/.*"ready" *: *"\([^"]*\)".*/\1/p' "$dir/$name.out" | head -n 1)
    [ -n "$issuer_base" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the $name issuer ($*) exited:" >&2
      cat "$dir/$name.err" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the $name issuer ($*) printed no ready line" >&2
  cat "$dir/$name.err" >&2
  return 1
}

start_issuers() {
  local dir=$1
  start_issuer "$dir" main --deferred-interval 1 --deferred-pending-polls 2 || return 1
  ISSUER_BASE=$issuer_base
  start_issuer "$dir" dpop --deferred-interval 1 --deferred-pending-polls 2 --require-dpop --dpop-nonce || return 1
  ISSUER_DPOP_BASE=$issuer_base
  start_issuer "$dir" attestation --wallet-attestation challenge --require-dpop --dpop-nonce || return 1
  ISSUER_ATTESTATION_BASE=$issuer_base
  start_issuer "$dir" x5c --credential-signing x5c || return 1
  ISSUER_X5C_BASE=$issuer_base
  start_issuer "$dir" x5c-self-signed --credential-signing x5c --fault x5c-self-signed || return 1
  ISSUER_X5C_SELF_SIGNED_BASE=$issuer_base
  start_issuer "$dir" key-attestation --key-attestations-required || return 1
  ISSUER_KEY_ATTESTATION_BASE=$issuer_base
  start_issuer "$dir" attestation-proof --key-attestation required-with-nonce --attestation-proof-only \
    --batch-size 3 || return 1
  ISSUER_ATTESTATION_PROOF_BASE=$issuer_base
  start_issuer "$dir" slow --latency-ms 3000 || return 1
  ISSUER_SLOW_BASE=$issuer_base
  start_issuer "$dir" https --tls || return 1
  ISSUER_HTTPS_BASE=$issuer_base
  # The ready line carries the certificate as a JSON string; PEM has no
  # characters JSON escapes other than the newlines.
  ISSUER_HTTPS_CERT="$dir/https-cert.pem"
  sed -n 's/.*"certificate_pem" *: *"\([^"]*\)".*/\1/p' "$dir/https.out" | head -n 1 \
    | sed 's/\\n/\n/g' >"$ISSUER_HTTPS_CERT"
  if ! grep -q -- "-----BEGIN CERTIFICATE-----" "$ISSUER_HTTPS_CERT"; then
    echo "no certificate_pem in the https issuer's ready line: $(cat "$dir/https.out")" >&2
    return 1
  fi
}

stop_issuers() {
  local pid
  for pid in "${issuer_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${issuer_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  issuer_pids=()
}
