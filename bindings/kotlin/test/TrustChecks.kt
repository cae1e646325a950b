// The issuer-trust checks of the Kotlin test program (Harness.kt is the
// harness: the runner, the signer, the issuer's test endpoints): credentials
// signed with an x5c chain, verified through the app's trust anchors
// (`WalletConfig.trustAnchorsPem`) or not, and a forgery refused with
// `requireVerified`, the error keeping the credential as issued.
//
// Issuers (skipped without them):
//   OID4VCI_ISSUER_X5C=<url>              an issuer run with --credential-signing x5c
//   OID4VCI_ISSUER_X5C_SELF_SIGNED=<url>  one run with --credential-signing x5c --fault x5c-self-signed
// Each one's trust anchor is its root CA, from its GET /test/trust.

import dev.oid4vci.wallet.Credential
import dev.oid4vci.wallet.Verification
import dev.oid4vci.wallet.VerificationMethod
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletConfig
import dev.oid4vci.wallet.WalletException
import java.net.URI
import java.net.http.HttpRequest as JavaHttpRequest
import java.net.http.HttpResponse as JavaHttpResponse

/** The issuer's root CA (`GET /test/trust`, PEM): the trust anchor of its x5c chains. */
fun trustAnchorOf(issuer: String): String {
    val request = JavaHttpRequest.newBuilder(URI.create("$issuer/test/trust")).GET().build()
    val response = http.send(request, JavaHttpResponse.BodyHandlers.ofString())
    expect(response.statusCode() == 200) { "GET /test/trust: ${response.statusCode()} ${response.body()}" }
    expect(response.body().startsWith("-----BEGIN CERTIFICATE-----")) { "not a PEM certificate: ${response.body()}" }
    return response.body()
}

/** A wallet for the trust checks: http to loopback, these anchors. */
fun trustConfig(anchors: List<String>, requireVerified: Boolean = false) = WalletConfig(
    locales = locales,
    dangerousAllowHttp = true,
    trustAnchorsPem = anchors,
    requireVerified = requireVerified,
)

/** A pre-authorized PID from `issuer`, bound to `signer`'s key. */
suspend fun receivePid(issuer: String, config: WalletConfig, signer: KotlinSigner): List<Credential> {
    val wallet = newWallet(config)
    val offer = createOffer(issuer = issuer)
    val session = wallet.resolveOffer(offer.url).authorize(wallet, offer.txCode)
    return issued(session.requestCredential(wallet, "pid_sd_jwt", signer))
}

suspend fun trustChecks() {
    val x5cBase = System.getenv("OID4VCI_ISSUER_X5C")?.trimEnd('/')
    val selfSignedBase = System.getenv("OID4VCI_ISSUER_X5C_SELF_SIGNED")?.trimEnd('/')
    val anchored = "x5c issuer with its root in trustAnchorsPem: Verification.Verified by TRUST_ANCHOR"
    val unanchored = "the same x5c issuer without trust anchors: Verification.Unverified, the credential delivered"
    val forged = "self-signed x5c forgery, anchor configured, requireVerified: CredentialCheck with the rawCredentials"

    if (x5cBase == null) {
        skip(anchored, "OID4VCI_ISSUER_X5C not set")
        skip(unanchored, "OID4VCI_ISSUER_X5C not set")
    } else {
        check(anchored) {
            val signer = KotlinSigner()
            val credentials = receivePid(x5cBase, trustConfig(listOf(trustAnchorOf(x5cBase)), requireVerified = true), signer)
            expectPid(credentials, signer)
            val verification = credentials[0].verification
            expect(verification is Verification.Verified && verification.method == VerificationMethod.TRUST_ANCHOR) {
                "verification $verification"
            }
            // The anchor's subject.
            expect((verification as Verification.Verified).detail.contains("CN=")) { "detail ${verification.detail}" }
            // Trust anchors are not TLS roots: a wallet on the app's HttpClient takes them.
            Wallet.withHttpClient(trustConfig(listOf(trustAnchorOf(x5cBase))), KotlinHttpClient()).destroy()
        }

        check(unanchored) {
            val credentials = receivePid(x5cBase, trustConfig(emptyList()), KotlinSigner())
            expect(credentials.size == 1) { "expected one credential, got ${credentials.size}" }
            val credential = credentials[0]
            val verification = credential.verification
            expect(verification is Verification.Unverified && verification.reason.contains("anchor")) {
                "verification $verification"
            }
            expect(!credential.signatureVerified) { "signatureVerified without a trust anchor" }
            expect(jsonString(credential.claimsJson ?: "{}", "given_name") == "Erika") { "claims ${credential.claimsJson}" }
        }
    }

    if (selfSignedBase == null) {
        skip(forged, "OID4VCI_ISSUER_X5C_SELF_SIGNED not set")
    } else {
        check(forged) {
            val before = issuerStats(selfSignedBase)["/notification"] ?: 0
            val config = trustConfig(listOf(trustAnchorOf(selfSignedBase)), requireVerified = true)
            val e = expectThrows<WalletException.CredentialCheck> { receivePid(selfSignedBase, config, KotlinSigner()) }
            expect(e.details.contains("not verified")) { "details: ${e.details}" }
            val rawCredentials = e.rejected.rawCredentials()
            expect(rawCredentials.size == 1 && e.rejected.count() == 1u) { "rawCredentials: ${rawCredentials.size} entries" }
            // The SD-JWT as issued, not a JSON string literal.
            val raw = rawCredentials[0]
            expect(raw.startsWith("ey") && raw.contains('~')) { "raw credential ${raw.take(40)}..." }
            expect(e.rejected.notificationId() != null) { "no notificationId" }
            // The message (what apps log) carries no credential.
            expect(!(e.message ?: "").contains(raw) && !e.toString().contains(raw)) { "the message quotes the credential" }
            // The wallet told the issuer credential_failure.
            val after = issuerStats(selfSignedBase)["/notification"] ?: 0
            expect(after == before + 1) { "notifications: $before before, $after after" }
        }
    }

    check("unparsable trustAnchorsPem raises WalletException.Configuration naming the entry") {
        for (bad in listOf("not a certificate", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")) {
            val e = expectThrows<WalletException.Configuration> { newWallet(trustConfig(listOf(bad))) }
            expect(e.details.contains("trust_anchors_pem[0]")) { "details: ${e.details}" }
            // Anchors apply with the app's HttpClient too, so a bad one fails there as well.
            expectThrows<WalletException.Configuration> { Wallet.withHttpClient(trustConfig(listOf(bad)), KotlinHttpClient()) }
        }
    }
}
