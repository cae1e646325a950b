// The deferred issuance check of the Kotlin test program (Harness.kt is the
// harness), against the main issuer (deferred polls: pending twice, interval
// 1 s): a deferred credential polled once (pending), then until ready.

import dev.oid4vci.wallet.DeferredPoll
import dev.oid4vci.wallet.Wallet

suspend fun deferredChecks(wallet: Wallet) {
    check("deferred issuance: poll, then poll until ready") {
        val offer = createOffer(deferred = true)
        val session = wallet.resolveOffer(offer.url).authorize(wallet, null)
        val signer = KotlinSigner()
        val pending = deferred(session.requestCredential(wallet, "pid_sd_jwt", signer))
        expect(pending.intervalMs() > 0u) { "interval ${pending.intervalMs()}" }
        when (val poll = pending.poll(wallet)) {
            is DeferredPoll.Pending -> expect(poll.intervalMs > 0u) { "pending interval ${poll.intervalMs}" }
            is DeferredPoll.Issued -> throw CheckFailed("issued on the first poll; the issuer answers pending first")
        }
        expectPid(pending.pollUntilReady(wallet, 30_000u), signer)
    }
}
