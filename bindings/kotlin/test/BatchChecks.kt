// The batch check of the Kotlin test program (Harness.kt is the harness),
// against the main issuer (batch_size 3): `Wallet.receive` with a Kotlin
// `KeySource` (a fresh KotlinSigner per credential), an `Interaction` that
// types the transaction code and a `ProgressObserver` that hears each stage;
// three credentials, each bound to its own key, and the stages in order.

import dev.oid4vci.wallet.Interaction
import dev.oid4vci.wallet.KeySource
import dev.oid4vci.wallet.NotificationEvent
import dev.oid4vci.wallet.ProgressObserver
import dev.oid4vci.wallet.ReceiveOptions
import dev.oid4vci.wallet.ReceiveStage
import dev.oid4vci.wallet.Signer
import dev.oid4vci.wallet.TxCodeInfo
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletException

suspend fun batchChecks(wallet: Wallet) {
    check("receive: a batch of 3, each bound to its own fresh Kotlin key, with progress") {
        val offer = createOffer(txCode = true, byReference = true)
        val made = java.util.Collections.synchronizedList(mutableListOf<KotlinSigner>())
        val keys = object : KeySource {
            override fun newKey(): Signer = KotlinSigner().also { made.add(it) }
        }
        val stages = java.util.Collections.synchronizedList(mutableListOf<ReceiveStage>())
        val observer = object : ProgressObserver {
            override fun onStage(stage: ReceiveStage) {
                stages.add(stage)
            }
        }
        val user = object : Interaction {
            override fun txCode(info: TxCodeInfo): String = offer.txCode ?: throw WalletException.Cancelled()
            override fun redirectUri(): String? = null
            override fun authorize(authorizationUrl: String): String = throw WalletException.Cancelled()
        }
        val result = wallet.receive(offer.url, keys, ReceiveOptions(), user, observer)
        expect(result.credentials.size == 3) { "expected 3 credentials, got ${result.credentials.size}" }
        expect(made.size == 3) { "expected 3 keys made, got ${made.size}" }
        val bound = result.credentials.map { jsonString(it.holderJwk ?: throw CheckFailed("no holder key"), "x") }
        expect(bound.toSet() == made.map { it.x }.toSet()) { "bound to $bound, made ${made.map { it.x }}" }
        expect(made.all { it.calls.get() >= 1 }) { "a key signed no proof" }
        expect(result.credentials.all { it.configurationId == "pid_sd_jwt" && it.signatureVerified }) {
            "credentials ${result.credentials.map { it.configurationId }}"
        }
        val kinds = stages.map {
            when (it) {
                is ReceiveStage.ResolvingOffer -> "offer"
                is ReceiveStage.ReadingMetadata -> "metadata"
                is ReceiveStage.WaitingForTxCode -> "tx_code"
                is ReceiveStage.WaitingForBrowser -> "browser"
                is ReceiveStage.Token -> "token"
                is ReceiveStage.Credential -> "credential ${it.index}/${it.total} x${it.batchSize}"
                is ReceiveStage.Deferred -> "deferred"
                is ReceiveStage.Done -> "done ${it.credentials}"
            }
        }
        expect(kinds == listOf("offer", "metadata", "tx_code", "token", "credential 1/1 x3", "done 3")) {
            "stages $kinds"
        }
        val id = result.credentials[0].notificationId ?: throw CheckFailed("no notification_id")
        result.session.notify(wallet, id, NotificationEvent.CREDENTIAL_ACCEPTED)
    }
}
