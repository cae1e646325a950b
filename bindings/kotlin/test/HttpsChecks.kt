// The https checks of the Kotlin test program (Harness.kt is the harness):
// the built-in HTTP client against an issuer with a self-signed certificate,
// refused (Network) until the certificate is in `rootCertificatesPem`, then a
// full issuance over https (no dangerousAllowHttp); an unparsable certificate,
// or `rootCertificatesPem` with an HttpClient, is Configuration. In the
// app-HTTP run (no built-in client) the same issuance goes through
// KotlinHttpClient trusting the certificate, and Wallet(config) is refused.
//
// Issuer (the https issuance skipped without it; the misuse check runs anyway):
//   OID4VCI_ISSUER_HTTPS=<url>        an issuer run with --tls
//   OID4VCI_ISSUER_HTTPS_CERT=<file>  its certificate (PEM, `certificate_pem` of its ready line)

import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletConfig
import dev.oid4vci.wallet.WalletException
import java.net.http.HttpClient as JavaHttpClient
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory

/** TLS trusting only `certificatePem` (the https issuer's self-signed certificate). */
fun trustingTls(certificatePem: String): SSLContext {
    val certificate = java.security.cert.CertificateFactory.getInstance("X.509")
        .generateCertificate(certificatePem.byteInputStream())
    val store = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType()).apply {
        load(null, null)
        setCertificateEntry("reference-issuer", certificate)
    }
    val trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()).apply { init(store) }
    return SSLContext.getInstance("TLS").apply { init(null, trust.trustManagers, null) }
}

/** java.net.http trusting only `certificatePem`. */
fun trustingHttp(certificatePem: String): JavaHttpClient =
    JavaHttpClient.newBuilder().sslContext(trustingTls(certificatePem)).version(JavaHttpClient.Version.HTTP_1_1).build()

suspend fun httpsChecks() {
    val httpsBase = System.getenv("OID4VCI_ISSUER_HTTPS")?.trimEnd('/')
    val certificateFile = System.getenv("OID4VCI_ISSUER_HTTPS_CERT")
    val httpsIssuance = "https issuance trusting the issuer's certificate (rootCertificatesPem); without it WalletException.Network"
    val rootMisuse = "unparsable rootCertificatesPem, or with an HttpClient, raises WalletException.Configuration"
    if (httpsBase == null || certificateFile == null) {
        skip(httpsIssuance, "OID4VCI_ISSUER_HTTPS / OID4VCI_ISSUER_HTTPS_CERT not set")
    } else {
        check(httpsIssuance) {
            val pem = java.io.File(certificateFile).readText()
            expect(pem.startsWith("-----BEGIN CERTIFICATE-----")) { "not a PEM certificate: $certificateFile" }
            expect(httpsBase.startsWith("https://")) { "not https: $httpsBase" }
            // The test's own client must trust the certificate too, to create the offer.
            val trusting = trustingHttp(pem)
            val offer = createOffer(txCode = true, issuer = httpsBase, client = trusting)
            val before = issuerStats(httpsBase, trusting).values.sum()
            // https only (no dangerousAllowHttp), platform roots only: the handshake fails.
            val untrusted = newWallet(WalletConfig(locales = locales))
            val e = expectThrows<WalletException.Network> { untrusted.resolveOffer(offer.url) }
            expect(issuerStats(httpsBase, trusting).values.sum() == before) { "a request got through: ${e.details}" }
            // The same offer (by value) with the certificate trusted: by the
            // built-in client's rootCertificatesPem, or by the app's own stack.
            val trustingWallet = if (APP_HTTP) Wallet.withHttpClient(WalletConfig(locales = locales), KotlinHttpClient(trustingTls(pem)))
            else Wallet(WalletConfig(locales = locales, rootCertificatesPem = listOf(pem)))
            val resolved = trustingWallet.resolveOffer(offer.url)
            expect(resolved.issuerId() == httpsBase) { "issuer ${resolved.issuerId()}" }
            val session = resolved.authorize(trustingWallet, offer.txCode)
            val signer = KotlinSigner()
            expectPid(issued(session.requestCredential(trustingWallet, "pid_sd_jwt", signer)), signer)
        }
    }
    check(rootMisuse) {
        expectThrows<WalletException.Configuration> {
            Wallet(WalletConfig(locales = locales, rootCertificatesPem = listOf("not a certificate")))
        }
        val pem = certificateFile?.let { java.io.File(it).readText() }
            ?: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        val e = expectThrows<WalletException.Configuration> {
            Wallet.withHttpClient(WalletConfig(locales = locales, rootCertificatesPem = listOf(pem)), KotlinHttpClient())
        }
        expect(e.details.contains("HttpClient")) { "details: ${e.details}" }
    }
    if (APP_HTTP) {
        check("without the built-in HTTP client, Wallet(config) raises WalletException.Configuration naming withHttpClient") {
            val e = expectThrows<WalletException.Configuration> { Wallet(config()) }
            expect(e.details.contains("built-in HTTP client") && e.details.contains("withHttpClient")) { "details: ${e.details}" }
        }
    }
}
