// The pre-authorized code checks of the Kotlin test program (Harness.kt is
// the harness: the runner, the signer, the issuer's test endpoints), against
// the main issuer with the wallet WalletTest.kt shares among the first flows:
// an offer with a tx_code resolved (grants, tx_code spec, German display
// names), authorized and issued to the Kotlin signer (claims, holder key
// binding, the signing input), notified, its pre-authorized code single use;
// and a signer that signs a SHA-256 digest and returns DER.

import dev.oid4vci.wallet.GrantKind
import dev.oid4vci.wallet.NotificationEvent
import dev.oid4vci.wallet.TxCodeInputMode
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletException

suspend fun preAuthorizedChecks(wallet: Wallet) {
    check("pre-authorized with tx_code, Kotlin signer, display in de") {
        val offer = createOffer(txCode = true)
        val resolved = wallet.resolveOffer(offer.url)
        expect(resolved.issuerId() == base) { "issuer ${resolved.issuerId()}" }
        expect(resolved.grants() == listOf(GrantKind.PRE_AUTHORIZED)) { "grants ${resolved.grants()}" }
        val txCode = resolved.txCodeSpec() ?: throw CheckFailed("no tx_code spec")
        expect(txCode.inputMode == TxCodeInputMode.NUMERIC && txCode.length == 6u) { "tx_code spec $txCode" }
        val offered = resolved.credentials().single()
        expect(offered.configurationId == "pid_sd_jwt") { "offered ${offered.configurationId}" }
        expect(offered.display?.name == "Personalausweis") { "display ${offered.display}" }
        val session = resolved.authorize(wallet, offer.txCode)
        expect(session.credentialConfigurationIds().contains("pid_sd_jwt")) { "ids ${session.credentialConfigurationIds()}" }
        expect(!session.usesDpop()) { "DPoP with an issuer that does not offer it" }
        val signer = KotlinSigner()
        val credentials = issued(session.requestCredential(wallet, "pid_sd_jwt", signer))
        expectPid(credentials, signer)
        expect(signer.lastInputSize.get() > 32) { "the signer got ${signer.lastInputSize.get()} bytes, not the signing input" }
        val notificationId = credentials[0].notificationId
        if (notificationId != null) session.notify(wallet, notificationId, NotificationEvent.CREDENTIAL_ACCEPTED)
        // The pre-authorized code is single use.
        val again = expectThrows<WalletException.InvalidState> { resolved.authorize(wallet, offer.txCode) }
        expect(again.details.contains("already")) { "second authorize: ${again.details}" }
    }

    check("signer that signs a SHA-256 digest and returns DER") {
        val offer = createOffer()
        val session = wallet.resolveOffer(offer.url).authorize(wallet, null)
        val signer = KotlinSigner(digest = true)
        expectPid(issued(session.requestCredential(wallet, "pid_sd_jwt", signer)), signer)
        expect(signer.lastInputSize.get() == 32) { "the signer got ${signer.lastInputSize.get()} bytes, not a digest" }
    }
}
