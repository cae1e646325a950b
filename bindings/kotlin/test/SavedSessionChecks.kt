// The save-and-restore checks of the Kotlin test program (Harness.kt is the
// harness), against the main issuer: an authorized session and a deferred
// transaction saved with `toJson()`, restored with `fromJson(json, locales)`
// and finished in a fresh Wallet (the resolved-offer variant is in
// ResumeChecks.kt).

import dev.oid4vci.wallet.AuthorizedSession
import dev.oid4vci.wallet.DeferredCredential
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletException

suspend fun savedSessionChecks(wallet: Wallet) {
    check("save an authorized session, restore it in a fresh Wallet, finish it") {
        val offer = createOffer(txCode = true)
        val saved = wallet.resolveOffer(offer.url).authorize(wallet, offer.txCode).toJson()
        expect(saved.contains("pid_sd_jwt")) { "saved session: no configuration id" }
        val freshWallet = newWallet(config())
        val restored = AuthorizedSession.fromJson(saved, locales)
        expect(restored.issuerId() == base) { "restored issuer ${restored.issuerId()}" }
        val signer = KotlinSigner()
        expectPid(issued(restored.requestCredential(freshWallet, "pid_sd_jwt", signer)), signer)
        expectThrows<WalletException.InvalidState> { AuthorizedSession.fromJson("{not json", locales) }
    }

    check("save a deferred transaction, restore it in a fresh Wallet, finish it") {
        val offer = createOffer(deferred = true)
        val session = wallet.resolveOffer(offer.url).authorize(wallet, null)
        val signer = KotlinSigner()
        val saved = deferred(session.requestCredential(wallet, "pid_sd_jwt", signer)).toJson()
        val freshWallet = newWallet(config())
        val restored = DeferredCredential.fromJson(saved, locales)
        expectPid(restored.pollUntilReady(freshWallet, 30_000u), signer)
    }
}
