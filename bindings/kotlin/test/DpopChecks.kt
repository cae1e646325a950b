// The DPoP checks of the Kotlin test program (Harness.kt is the harness),
// against an issuer that requires DPoP with nonces: a pre-authorized issuance
// whose session (with its DPoP key) is saved and restored before the
// credential request, and a code flow whose pending authorization is saved and
// restored; `usesDpop()` on every object, the issuer's DPoP counters.
//
// Issuer (skipped without it):
//   OID4VCI_ISSUER_DPOP=<url>  an issuer run with --require-dpop --dpop-nonce

import dev.oid4vci.wallet.AuthorizedSession
import dev.oid4vci.wallet.PendingAuthorization
import dev.oid4vci.wallet.Wallet

suspend fun dpopChecks() {
    val dpopBase = System.getenv("OID4VCI_ISSUER_DPOP")?.trimEnd('/')
    val dpopPreAuthorized = "pre-authorized with tx_code over DPoP with nonces: session saved and restored, Kotlin signer"
    val dpopCodeFlow = "authorization code flow over DPoP: pending authorization saved and restored, sign in as max"
    if (dpopBase == null) {
        skip(dpopPreAuthorized, "OID4VCI_ISSUER_DPOP not set")
        skip(dpopCodeFlow, "OID4VCI_ISSUER_DPOP not set")
    } else {
        check(dpopPreAuthorized) {
            val before = issuerStats(dpopBase)
            val offer = createOffer(txCode = true, issuer = dpopBase)
            val dpopWallet = newWallet(config())
            val resolved = dpopWallet.resolveOffer(offer.url)
            expect(resolved.issuerId() == dpopBase) { "issuer ${resolved.issuerId()}" }
            val session = resolved.authorize(dpopWallet, offer.txCode)
            expect(session.usesDpop()) { "the session does not use DPoP" }
            // The app saves the session (with its DPoP key) and is killed before the credential request.
            val saved = session.toJson()
            session.destroy()
            val restored = AuthorizedSession.fromJson(saved, locales)
            expect(restored.usesDpop()) { "the restored session does not use DPoP" }
            val freshWallet = newWallet(config())
            val signer = KotlinSigner()
            expectPid(issued(restored.requestCredential(freshWallet, "pid_sd_jwt", signer)), signer)
            val after = issuerStats(dpopBase)
            fun delta(name: String) = (after[name] ?: 0) - (before[name] ?: 0)
            expect(delta("dpop_nonce_challenges_as") >= 1) { "no use_dpop_nonce from the AS: $after" }
            expect(delta("dpop_rejected") == 0) { "the issuer rejected DPoP proofs: $after" }
            expect(delta("/credential") == 1) { "credential requests: ${delta("/credential")} ($after)" }
        }

        check(dpopCodeFlow) {
            val codeWallet = newWallet(codeFlowConfig())
            val offer = createOffer(authorizationCode = true, issuer = dpopBase)
            val pending = codeWallet.resolveOffer(offer.url).beginAuthorization(codeWallet, REDIRECT_URI)
            expect(pending.usesDpop()) { "the pending authorization does not use DPoP" }
            val saved = pending.toJson()
            pending.destroy()
            val restored = PendingAuthorization.fromJson(saved, locales)
            expect(restored.usesDpop()) { "the restored authorization does not use DPoP" }
            val location = browser(restored.authorizationUrl(), "max", "max-password", allow = true)
            val session = restored.complete(newWallet(codeFlowConfig()), location)
            expect(session.usesDpop()) { "the session does not use DPoP" }
            val signer = KotlinSigner()
            expectClaim(issued(session.requestCredential(codeWallet, "pid_sd_jwt", signer)), "pid_sd_jwt", "given_name", "Max", signer)
        }
    }
}
