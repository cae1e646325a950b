// The checks of DPoP keys held by the app, in the Kotlin test program
// (Harness.kt is the harness: the runner, the signer, the issuer's test
// endpoints): a wallet from `WalletBuilder(config).dpopKeys(store)` signs
// every DPoP proof of a session with a key of the app's `DpopKeyStore` (here
// an in-memory map of `SoftwareSigner`s; an Android app keeps them in the
// Keystore), the saved session holds only the key's reference and public
// key, and a restored session needs a wallet with that store.
//
// Issuer (skipped without it):
//   OID4VCI_ISSUER_DPOP=<url>  an issuer run with --require-dpop --dpop-nonce

import dev.oid4vci.wallet.AuthorizedSession
import dev.oid4vci.wallet.DpopKeyStore
import dev.oid4vci.wallet.NotificationEvent
import dev.oid4vci.wallet.Signer
import dev.oid4vci.wallet.SoftwareSigner
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletBuilder
import dev.oid4vci.wallet.WalletException
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.AtomicInteger

/**
 * The app's DPoP key store as a Kotlin `DpopKeyStore`: fresh
 * `SoftwareSigner` keys in a map under references of its own (an app would
 * create Keystore keys under these aliases), and a record of what the SDK
 * asked for.
 */
class KotlinDpopKeys : DpopKeyStore {
    val keys = ConcurrentHashMap<String, SoftwareSigner>()
    val created = AtomicInteger()
    val lookups: MutableList<String> = java.util.Collections.synchronizedList(mutableListOf())

    override fun createKey(): String {
        val reference = "kotlin-dpop-key-${created.incrementAndGet()}-${java.util.UUID.randomUUID()}"
        keys[reference] = SoftwareSigner.generate()
        return reference
    }

    override fun signer(reference: String): Signer {
        lookups.add(reference)
        return keys[reference] ?: throw WalletException.Signing("no DPoP key under $reference")
    }
}

suspend fun dpopKeyChecks() {
    val dpopBase = System.getenv("OID4VCI_ISSUER_DPOP")?.trimEnd('/')
    val appKeys = "DPoP keys of the app: WalletBuilder.dpopKeys with a Kotlin store, session saved with the reference " +
        "and restored; without the store InvalidState(dpop_keys)"
    if (dpopBase == null) {
        skip(appKeys, "OID4VCI_ISSUER_DPOP not set")
        return
    }

    check(appKeys) {
        val before = issuerStats(dpopBase)
        val store = KotlinDpopKeys()
        val wallet = newBuilder(config()).dpopKeys(store).build()
        val offer = createOffer(txCode = true, issuer = dpopBase)
        val session = wallet.resolveOffer(offer.url).authorize(wallet, offer.txCode)
        expect(session.usesDpop()) { "the session does not use DPoP" }
        expect(store.created.get() == 1) { "createKey called ${store.created.get()} times" }
        val reference = store.keys.keys.single()
        val publicX = jsonString(store.keys.getValue(reference).publicJwk(), "x")!!

        // The app saves the session and is killed before the credential request.
        val saved = session.toJson()
        session.destroy()
        expect(saved.contains(jsonQuote(reference))) { "the saved session does not name the key's reference: $saved" }
        expect(saved.contains(jsonQuote(publicX))) { "the saved session does not hold the app key's public key" }
        expect(!saved.contains("\"d\"")) { "the saved session holds a private key (\"d\")" }

        // Restored into a wallet without the store: the SDK cannot sign DPoP proofs.
        val withoutStore = AuthorizedSession.fromJson(saved, locales)
        expect(withoutStore.usesDpop()) { "the restored session does not use DPoP" }
        val e = expectThrows<WalletException.InvalidState> {
            withoutStore.requestCredential(newWallet(config()), "pid_sd_jwt", KotlinSigner())
        }
        expect(e.details.contains("dpop_keys")) { "details: ${e.details}" }

        // Restored into a new wallet with the same store: request and notify.
        val restored = AuthorizedSession.fromJson(saved, locales)
        val sameStore = newBuilder(config()).dpopKeys(store).build()
        val signer = KotlinSigner()
        val credentials = issued(restored.requestCredential(sameStore, "pid_sd_jwt", signer))
        expectPid(credentials, signer)
        val notificationId = credentials[0].notificationId ?: throw CheckFailed("no notificationId")
        restored.notify(sameStore, notificationId, NotificationEvent.CREDENTIAL_ACCEPTED)

        expect(store.created.get() == 1) { "createKey called ${store.created.get()} times" }
        val lookups = store.lookups.toList()
        expect(lookups.size >= 2 && lookups.all { it == reference }) { "signer lookups $lookups (key $reference)" }
        val after = issuerStats(dpopBase)
        fun delta(name: String) = (after[name] ?: 0) - (before[name] ?: 0)
        expect(delta("dpop_nonce_challenges_as") >= 1) { "no use_dpop_nonce from the AS: $after" }
        expect(delta("dpop_rejected") == 0) { "the issuer rejected DPoP proofs: $after" }
        expect(delta("/credential") == 1) { "credential requests: ${delta("/credential")} ($after)" }
        expect(delta("/notification") == 1) { "notifications: ${delta("/notification")} ($after)" }
    }
}
