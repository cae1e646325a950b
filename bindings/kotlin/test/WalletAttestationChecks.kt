// The wallet attestation checks of the Kotlin test program (Harness.kt is the
// harness): attestation-based client authentication with a Wallet Attestation
// for the Kotlin platform key from the issuer's wallet provider
// (`POST /test/wallet-attestation`, client id kotlin-wallet): a pre-authorized
// issuance with `Wallet.withAttestation`, a code flow with PAR through the
// Kotlin HttpClient with `Wallet.withHttpClientAndAttestation` (the /par and
// /token requests attested, /credential not), and the refusals (no
// attestation: Server invalid_client; another key, another client_id, not a
// JWT, expired: Configuration).
//
// Issuer (skipped without it):
//   OID4VCI_ISSUER_ATTESTATION=<url>  an issuer run with --wallet-attestation challenge
//                                     --require-dpop --dpop-nonce

import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletException
import java.net.URI
import java.net.http.HttpRequest as JavaHttpRequest
import java.net.http.HttpResponse as JavaHttpResponse

/**
 * A Wallet Attestation for `jwk` (the app instance's public key) naming
 * `clientId`, from the issuer's built-in wallet provider
 * (`POST /test/wallet-attestation`), as an app gets one from its wallet provider.
 */
fun walletAttestation(issuer: String, clientId: String, jwk: String, lifetimeSecs: Int = 3600): String {
    val body = """{"client_id":"$clientId","jwk":$jwk,"lifetime_secs":$lifetimeSecs}"""
    val request = JavaHttpRequest.newBuilder(URI.create("$issuer/test/wallet-attestation"))
        .header("content-type", "application/json")
        .POST(JavaHttpRequest.BodyPublishers.ofString(body))
        .build()
    val response = http.send(request, JavaHttpResponse.BodyHandlers.ofString())
    check(response.statusCode() == 200) { "POST /test/wallet-attestation: ${response.statusCode()} ${response.body()}" }
    return jsonString(response.body(), "wallet_attestation")!!
}

suspend fun walletAttestationChecks() {
    val attestationBase = System.getenv("OID4VCI_ISSUER_ATTESTATION")?.trimEnd('/')
    val attestedPreAuthorized = "wallet attestation with challenges and DPoP nonces: pre-authorized issuance, Kotlin platform key"
    val attestedCodeFlow = "wallet attestation: authorization code flow with PAR through a Kotlin HttpClient, sign in as max"
    val attestationRefusals = "wallet attestation: without it Server(invalid_client); another key, another client_id, " +
        "not a JWT, expired: Configuration"
    if (attestationBase == null) {
        for (name in listOf(attestedPreAuthorized, attestedCodeFlow, attestationRefusals)) skip(name, "OID4VCI_ISSUER_ATTESTATION not set")
    } else {
        check(attestedPreAuthorized) {
            val before = issuerStats(attestationBase)
            // The app instance's key (Android Keystore in an app) and the attestation its wallet provider issues for it.
            val platformKey = KotlinSigner()
            val attestation = walletAttestation(attestationBase, "kotlin-wallet", platformKey.publicJwk())
            val attested = newAttestedWallet(config(), attestation, platformKey)
            expect(attested.clientId() == "kotlin-wallet") { "client_id ${attested.clientId()}" }
            val offer = createOffer(txCode = true, issuer = attestationBase)
            val session = attested.resolveOffer(offer.url).authorize(attested, offer.txCode)
            expect(session.usesDpop()) { "the session does not use DPoP" }
            expect(platformKey.calls.get() >= 1) { "the platform key signed no proof of possession" }
            val holder = KotlinSigner()
            expectPid(issued(session.requestCredential(attested, "pid_sd_jwt", holder)), holder)
            val after = issuerStats(attestationBase)
            fun delta(name: String) = (after[name] ?: 0) - (before[name] ?: 0)
            expect(delta("attestation_rejected") == 0) { "the issuer rejected the attestation: $after" }
            expect(delta("attestation_challenges_issued") >= 1) { "no attestation challenge issued: $after" }
            expect(delta("dpop_rejected") == 0) { "the issuer rejected DPoP proofs: $after" }
            expect(delta("/token") >= 1 && delta("/credential") == 1) { "requests: $after" }
        }

        check(attestedCodeFlow) {
            val before = issuerStats(attestationBase)
            val platformKey = KotlinSigner()
            val attestation = walletAttestation(attestationBase, "kotlin-wallet", platformKey.publicJwk())
            val client = KotlinHttpClient()
            val attested = Wallet.withHttpClientAndAttestation(config(), client, attestation, platformKey)
            val offer = createOffer(authorizationCode = true, issuer = attestationBase)
            val pending = attested.resolveOffer(offer.url).beginAuthorization(attested, REDIRECT_URI)
            val url = pending.authorizationUrl()
            expect(queryParameter(url, "client_id") == "kotlin-wallet") { "client_id in $url" }
            expect(queryParameter(url, "request_uri")?.startsWith("urn:ietf:params:oauth:request_uri:") == true) { "no PAR: $url" }
            val location = browser(url, "max", "max-password", allow = true)
            val session = pending.complete(attested, location)
            val holder = KotlinSigner()
            expectClaim(issued(session.requestCredential(attested, "pid_sd_jwt", holder)), "pid_sd_jwt", "given_name", "Max", holder)
            for (path in listOf("/par", "/token")) {
                expect(path in client.attestedPaths) { "no attested $path request: attested ${client.attestedPaths}, all ${client.paths}" }
            }
            expect("/credential" !in client.attestedPaths) { "the attestation went to the credential endpoint" }
            val after = issuerStats(attestationBase)
            fun delta(name: String) = (after[name] ?: 0) - (before[name] ?: 0)
            expect(delta("attestation_rejected") == 0) { "the issuer rejected the attestation: $after" }
            expect(delta("attestation_challenges_issued") >= 1) { "no attestation challenge issued: $after" }
        }

        check(attestationRefusals) {
            // No attestation: the AS refuses the client.
            val anonymous = newWallet(config())
            val offer = createOffer(txCode = true, issuer = attestationBase)
            val refused = expectThrows<WalletException.Server> {
                anonymous.resolveOffer(offer.url).authorize(anonymous, offer.txCode)
            }
            expect(refused.code == "invalid_client" && refused.status == 400.toUShort()) { "refused: $refused (${refused.details})" }
            // Refused locally, when the wallet is built.
            val platformKey = KotlinSigner()
            val attestation = walletAttestation(attestationBase, "kotlin-wallet", platformKey.publicJwk())
            val otherKey = expectThrows<WalletException.Configuration> { newAttestedWallet(config(), attestation, KotlinSigner()) }
            expect(otherKey.details.contains("cnf.jwk")) { "another key: ${otherKey.details}" }
            expectThrows<WalletException.Configuration> {
                Wallet.withHttpClientAndAttestation(config(), KotlinHttpClient(), attestation, KotlinSigner())
            }
            val otherClient = expectThrows<WalletException.Configuration> {
                newAttestedWallet(codeFlowConfig(), attestation, platformKey)
            }
            expect(otherClient.details.contains("client_id")) { "another client_id: ${otherClient.details}" }
            expectThrows<WalletException.Configuration> { newAttestedWallet(config(), "not.a.jwt", platformKey) }
            // Expired: refused before anything is sent; the app fetches a fresh one.
            val expiredAttestation = walletAttestation(attestationBase, "kotlin-wallet", platformKey.publicJwk(), lifetimeSecs = 0)
            val expired = newAttestedWallet(config(), expiredAttestation, platformKey)
            val resolved = expired.resolveOffer(createOffer(issuer = attestationBase).url)
            val tokens = issuerStats(attestationBase)["/token"] ?: 0
            val e = expectThrows<WalletException.Configuration> { resolved.authorize(expired, null) }
            expect(e.details.contains("expired")) { "expired: ${e.details}" }
            expect((issuerStats(attestationBase)["/token"] ?: 0) == tokens) { "a token request was sent" }
        }
    }
}
