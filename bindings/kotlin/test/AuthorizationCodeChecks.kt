// The authorization code flow checks of the Kotlin test program (Harness.kt
// is the harness; the test plays the browser with java.net.http, redirects not
// followed, through the reference issuer's login and consent forms), against
// the main issuer: from an offer (PAR, the pending authorization saved,
// dropped, restored and completed in a fresh Wallet; user max),
// wallet-initiated with `startIssuance` through the Kotlin HttpClient (user
// erika, membership_sd_jwt), and its errors: consent denied and a tampered
// state (AuthorizationFailed), the same redirect completed twice (InvalidState
// from the same object, Server with invalid_grant from a restored copy).

import dev.oid4vci.wallet.GrantKind
import dev.oid4vci.wallet.PendingAuthorization
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletException

/** A pending authorization for a fresh authorization-code offer of the PID, and its redirect after `user` answered. */
suspend fun authorizedRedirect(wallet: Wallet, allow: Boolean = true): Pair<PendingAuthorization, String> {
    val pending = wallet.resolveOffer(createOffer(authorizationCode = true).url).beginAuthorization(wallet, REDIRECT_URI)
    return pending to browser(pending.authorizationUrl(), "erika", "erika-password", allow)
}

suspend fun authorizationCodeChecks() {
    check("authorization code flow from an offer: save, restore, sign in as max, Kotlin signer") {
        val offer = createOffer(authorizationCode = true)
        expect(offer.txCode == null) { "tx_code ${offer.txCode}" }
        val codeWallet = newWallet(codeFlowConfig())
        val resolved = codeWallet.resolveOffer(offer.url)
        expect(resolved.grants() == listOf(GrantKind.AUTHORIZATION_CODE)) { "grants ${resolved.grants()}" }
        expect(resolved.txCodeSpec() == null) { "tx_code spec ${resolved.txCodeSpec()}" }
        val pending = resolved.beginAuthorization(codeWallet, REDIRECT_URI)
        expect(!pending.usesDpop()) { "DPoP with an issuer that does not offer it" }
        val url = pending.authorizationUrl()
        // PAR: the URL carries only client_id and request_uri.
        expect(url.startsWith("$base/authorize?")) { "authorization URL $url" }
        expect(queryParameter(url, "client_id") == "kotlin-wallet-test") { "client_id in $url" }
        expect(queryParameter(url, "request_uri")?.startsWith("urn:ietf:params:oauth:request_uri:") == true) { "request_uri in $url" }
        // The app saves it before opening the browser and is killed meanwhile.
        val saved = pending.toJson()
        pending.destroy()
        val location = browser(url, "max", "max-password", allow = true)
        expect(location.startsWith("$REDIRECT_URI?")) { "redirect $location" }
        expect(queryParameter(location, "code") != null && queryParameter(location, "iss") == base) { "redirect $location" }
        // Restarted: a fresh Wallet and the restored authorization.
        val freshWallet = newWallet(codeFlowConfig())
        val restored = PendingAuthorization.fromJson(saved, locales)
        expect(restored.authorizationUrl() == url) { "restored URL ${restored.authorizationUrl()}" }
        expect(restored.redirectUri() == REDIRECT_URI) { "restored redirect URI ${restored.redirectUri()}" }
        expect(restored.issuerId() == base) { "restored issuer ${restored.issuerId()}" }
        expect(restored.credentialConfigurationIds() == listOf("pid_sd_jwt")) { "ids ${restored.credentialConfigurationIds()}" }
        val session = restored.complete(freshWallet, location)
        expect(session.credentialConfigurationIds().contains("pid_sd_jwt")) { "ids ${session.credentialConfigurationIds()}" }
        val signer = KotlinSigner()
        val credentials = issued(session.requestCredential(freshWallet, "pid_sd_jwt", signer))
        expectClaim(credentials, "pid_sd_jwt", "given_name", "Max", signer)
        expect(jsonString(credentials[0].claimsJson!!, "family_name") == "Meier") { "family_name in ${credentials[0].claimsJson}" }
        expectThrows<WalletException.InvalidState> { PendingAuthorization.fromJson("{not json", locales) }
    }

    check("wallet-initiated authorization code flow through a Kotlin HttpClient, sign in as erika") {
        val client = KotlinHttpClient()
        val appWallet = Wallet.withHttpClient(codeFlowConfig(), client)
        val before = issuerRequestCount()
        val pending = appWallet.startIssuance(base, listOf("membership_sd_jwt"), REDIRECT_URI)
        expect(pending.issuerId() == base) { "issuer ${pending.issuerId()}" }
        expect(pending.credentialConfigurationIds() == listOf("membership_sd_jwt")) { "ids ${pending.credentialConfigurationIds()}" }
        val location = browser(pending.authorizationUrl(), "erika", "erika-password", allow = true)
        val session = pending.complete(appWallet, location)
        val credentials = issued(session.requestCredential(appWallet, "membership_sd_jwt", KotlinSigner()))
        expectClaim(credentials, "membership_sd_jwt", "member_id", "M-1001", null)
        for (path in listOf("/par", "/token", "/credential")) {
            expect(client.paths.contains(path)) { "no $path request through the Kotlin client: ${client.paths}" }
        }
        // Everything but the browser's three requests went through the Kotlin client.
        val seen = issuerRequestCount() - before
        expect(seen == client.requests.get() + 3) {
            "the issuer saw $seen requests, the Kotlin client sent ${client.requests.get()}, the browser 3: ${client.paths}"
        }
    }

    check("consent denied raises WalletException.AuthorizationFailed (access_denied)") {
        val codeWallet = newWallet(codeFlowConfig())
        val (pending, location) = authorizedRedirect(codeWallet, allow = false)
        expect(queryParameter(location, "error") == "access_denied") { "redirect $location" }
        val e = expectThrows<WalletException.AuthorizationFailed> { pending.complete(codeWallet, location) }
        expect(e.details.contains("access_denied")) { "details: ${e.details}" }
    }

    check("tampered state raises WalletException.AuthorizationFailed; the genuine redirect still works") {
        val codeWallet = newWallet(codeFlowConfig())
        val (pending, location) = authorizedRedirect(codeWallet)
        val tampered = location.replace(Regex("([?&]state=)[^&]*"), "$1tampered")
        expect(tampered != location) { "no state in $location" }
        val requestsBefore = issuerRequestCount()
        val e = expectThrows<WalletException.AuthorizationFailed> { pending.complete(codeWallet, tampered) }
        expect(e.details.contains("state")) { "details: ${e.details}" }
        expect(issuerRequestCount() == requestsBefore) { "a request was sent after a failed state check" }
        val session = pending.complete(codeWallet, location)
        expectClaim(issued(session.requestCredential(codeWallet, "pid_sd_jwt", KotlinSigner())), "pid_sd_jwt", "given_name", "Erika", null)
    }

    check("the same redirect completed twice: InvalidState, and Server(invalid_grant) from a restored copy") {
        val codeWallet = newWallet(codeFlowConfig())
        val (pending, location) = authorizedRedirect(codeWallet)
        val saved = pending.toJson()
        pending.complete(codeWallet, location)
        // The same object knows it completed: nothing is sent.
        val again = expectThrows<WalletException.InvalidState> { pending.complete(codeWallet, location) }
        expect(again.details.contains("already")) { "second complete: ${again.details}" }
        // A copy restored from before (e.g. the redirect delivered twice): the AS refuses the used code.
        val replay = expectThrows<WalletException.Server> {
            PendingAuthorization.fromJson(saved, locales).complete(codeWallet, location)
        }
        expect(replay.code == "invalid_grant" && replay.status == 400.toUShort()) { "replay: $replay (${replay.details})" }
    }
}
