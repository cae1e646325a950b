// The checks of resuming after the app was killed, in the Kotlin test program
// (Harness.kt is the harness: the runner, the signer, the issuer's test
// endpoints): an offer by reference is single use, so the resolved offer is
// saved with `ResolvedOffer.toJson()` (on the PIN screen, or before the
// browser), the Wallet and every object are dropped, and a new Wallet
// finishes the issuance from `ResolvedOffer.fromJson(json, locales)`,
// which makes no request: the issuer's /test/stats shows the offer fetched
// once. What is not a saved state raises WalletException.InvalidState
// naming what is wrong.

import dev.oid4vci.wallet.AuthorizedSession
import dev.oid4vci.wallet.ResolvedOffer
import dev.oid4vci.wallet.DeferredCredential
import dev.oid4vci.wallet.PendingAuthorization
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletException
import java.net.URI

/** The issuer's path of an offer by reference (`/offers/<id>`), from its offer URL. */
fun offerPath(offerUrl: String): String {
    val encoded = offerUrl.substringAfter("credential_offer_uri=", "")
    expect(encoded.isNotEmpty()) { "not an offer by reference: $offerUrl" }
    return URI.create(java.net.URLDecoder.decode(encoded, Charsets.UTF_8)).path
}

suspend fun resumeChecks() {
    check(
        "resume on the PIN screen: an offer by reference with a tx_code saved (toJson), the Wallet dropped, " +
            "restored (fromJson) in a new Wallet and issued; the offer fetched once",
    ) {
        val offer = createOffer(txCode = true, byReference = true)
        val path = offerPath(offer.url)
        val firstWallet = newWallet(config())
        val resolved = firstWallet.resolveOffer(offer.url)
        expect(resolved.txCodeSpec() != null) { "no tx_code spec" }
        // The PIN screen is shown: the app saves the offer, and is killed.
        val saved = resolved.toJson()
        resolved.destroy()
        firstWallet.destroy()
        expect(issuerStats()[path] == 1) { "offer fetched ${issuerStats()[path]} times" }

        val before = issuerRequestCount()
        val restored = ResolvedOffer.fromJson(saved, locales)
        expect(issuerRequestCount() == before) { "restoring the offer made a request" }
        expect(restored.issuerId() == base) { "restored issuer ${restored.issuerId()}" }
        val txCode = restored.txCodeSpec() ?: throw CheckFailed("the restored offer has no tx_code spec")
        expect(txCode.length == 6u) { "tx_code spec $txCode" }
        val offered = restored.credentials().single()
        expect(offered.display?.name == "Personalausweis") { "display ${offered.display}" }

        // The user types the code in the restarted app.
        val wallet = newWallet(config())
        val session = restored.authorize(wallet, offer.txCode)
        val signer = KotlinSigner()
        expectPid(issued(session.requestCredential(wallet, "pid_sd_jwt", signer)), signer)
        val stats = issuerStats()
        expect(stats[path] == 1) { "offer fetched ${stats[path]} times: $stats" }
        // Spent: the offer is not saved again (the session is what to save now).
        val e = expectThrows<WalletException.InvalidState> { restored.toJson() }
        expect(e.details.contains("already authorized")) { "details: ${e.details}" }
    }

    check(
        "resume before the browser: an authorization-code offer by reference saved, restored in a new Wallet, " +
            "signed in as erika; the offer fetched once",
    ) {
        val offer = createOffer(byReference = true, authorizationCode = true)
        val path = offerPath(offer.url)
        val firstWallet = newWallet(codeFlowConfig())
        val resolved = firstWallet.resolveOffer(offer.url)
        val saved = resolved.toJson()
        resolved.destroy()
        firstWallet.destroy()

        val wallet = newWallet(codeFlowConfig())
        val restored = ResolvedOffer.fromJson(saved, locales)
        val pending = restored.beginAuthorization(wallet, REDIRECT_URI)
        val location = browser(pending.authorizationUrl(), "erika", "erika-password", true)
        val session = pending.complete(wallet, location)
        val signer = KotlinSigner()
        expectPid(issued(session.requestCredential(wallet, "pid_sd_jwt", signer)), signer)
        val stats = issuerStats()
        expect(stats[path] == 1) { "offer fetched ${stats[path]} times: $stats" }
    }

    check("what is not a saved state raises InvalidState naming it: garbage, another state's JSON, a newer format") {
        val restorers = listOf<Pair<String, (String) -> Unit>>(
            "resolved offer" to { json: String -> ResolvedOffer.fromJson(json, locales).destroy() },
            "pending authorization" to { json: String -> PendingAuthorization.fromJson(json, locales).destroy() },
            "authorized session" to { json: String -> AuthorizedSession.fromJson(json, locales).destroy() },
            "deferred transaction" to { json: String -> DeferredCredential.fromJson(json, locales).destroy() },
        )
        for ((name, restore) in restorers) {
            for (json in listOf("", "{not json", "{}", "[]", "null", "{\"saved_state\":\"nonsense\",\"saved_version\":1}")) {
                val e = expectThrows<WalletException.InvalidState> { restore(json) }
                expect(e.details.contains("saved $name")) { "$name from $json: ${e.details}" }
            }
        }
        val wallet = newWallet(config())
        val saved = wallet.resolveOffer(createOffer().url).toJson()
        for ((name, restore) in restorers.drop(1)) {
            val e = expectThrows<WalletException.InvalidState> { restore(saved) }
            expect(e.details.contains("this is a saved resolved offer")) { "$name from a saved offer: ${e.details}" }
        }
        val newer = saved.replace("\"saved_version\":1", "\"saved_version\":2")
        expect(newer != saved) { "no saved_version in $saved" }
        val e = expectThrows<WalletException.InvalidState> { ResolvedOffer.fromJson(newer, locales) }
        expect(e.details.contains("newer")) { "details: ${e.details}" }
    }
}
