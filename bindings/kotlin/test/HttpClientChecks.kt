// The app's HTTP stack check of the Kotlin test program (Harness.kt is the
// harness): a full issuance from the main issuer through `KotlinHttpClient`
// (java.net.http, no redirects, as an app's OkHttp would be), which must carry
// every request the issuer sees.

import dev.oid4vci.wallet.Wallet

suspend fun httpClientChecks() {
    check("full issuance through a Kotlin HttpClient (java.net.http, no redirects)") {
        val client = KotlinHttpClient()
        val appWallet = Wallet.withHttpClient(config(), client)
        val before = issuerRequestCount()
        val offer = createOffer(txCode = true, byReference = true)
        val resolved = appWallet.resolveOffer(offer.url)
        expect(resolved.credentials().single().display?.name == "Personalausweis") { "display" }
        val session = resolved.authorize(appWallet, offer.txCode)
        val signer = KotlinSigner()
        expectPid(issued(session.requestCredential(appWallet, "pid_sd_jwt", signer)), signer)
        val seen = issuerRequestCount() - before
        expect(client.requests.get() >= 4) { "only ${client.requests.get()} requests went through the Kotlin client" }
        expect(seen == client.requests.get()) {
            "the issuer saw $seen requests, the Kotlin client sent ${client.requests.get()}: ${client.paths}"
        }
    }
}
