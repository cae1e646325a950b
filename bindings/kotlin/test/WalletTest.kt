// Runs the generated Kotlin bindings for real against the reference issuer
// (tests/issuer), as an Android app would use them: a Kotlin signer holding a
// P-256 key (java.security, as Android Keystore does), a Kotlin HTTP client,
// typed exceptions, sessions saved as strings.
//
// Usage: java ... WalletTestKt <issuer base URL>   (or OID4VCI_ISSUER=<url>)
// Optional, for the checks of the other issuers (each skipped without its own):
//   OID4VCI_ISSUER_DPOP: see DpopChecks.kt (and DpopKeyChecks.kt)
//   OID4VCI_ISSUER_ATTESTATION: see WalletAttestationChecks.kt
//   OID4VCI_ISSUER_HTTPS, OID4VCI_ISSUER_HTTPS_CERT: see HttpsChecks.kt
//   OID4VCI_ISSUER_X5C, OID4VCI_ISSUER_X5C_SELF_SIGNED: see TrustChecks.kt
//   OID4VCI_ISSUER_KEY_ATTESTATION, OID4VCI_ISSUER_ATTESTATION_PROOF: see KeyAttestationChecks.kt
// This file is only the entry point: Harness.kt is the harness (signer, HTTP
// client, issuer endpoints, runner), and each flow has a file of checks,
// called here in order.
// Prints one line per check, then `N passed, M failed`; exits 1 on a failure.
// bindings/test-kotlin builds and runs it.

import dev.oid4vci.wallet.Wallet

fun main(args: Array<String>) = runTest(args) {
    // The first flows share one wallet, as one app's would be.
    val wallet = newWallet(config())
    preAuthorizedChecks(wallet)
    deferredChecks(wallet)
    errorChecks(wallet)
    savedSessionChecks(wallet)
    httpClientChecks()
    authorizationCodeChecks()
    dpopChecks()
    walletAttestationChecks()
    httpsChecks()
    trustChecks()
    mdocChecks()
    keyAttestationChecks()
    attestationProofChecks()
    dpopKeyChecks()
    resumeChecks()
    cancellationChecks(wallet)
    signerChecks()
    batchChecks(wallet)
}
