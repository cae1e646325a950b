// Runs the generated Kotlin bindings for real against the reference issuer
// (tests/issuer), as an Android app would use them: a Kotlin signer holding a
// P-256 key (java.security, as Android Keystore does), a Kotlin HTTP client,
// typed exceptions, sessions saved as strings.
//
// Usage: java ... WalletTestKt <issuer base URL>   (or OID4VCI_ISSUER=<url>)
// Optional, for the DPoP, https and wallet attestation checks (skipped without them):
//   OID4VCI_ISSUER_DPOP=<url>        an issuer run with --require-dpop --dpop-nonce
//   OID4VCI_ISSUER_HTTPS=<url>       an issuer run with --tls
//   OID4VCI_ISSUER_HTTPS_CERT=<file> its certificate (PEM, `certificate_pem` of its ready line)
//   OID4VCI_ISSUER_ATTESTATION=<url> an issuer run with --wallet-attestation challenge
//                                    --require-dpop --dpop-nonce
//   OID4VCI_ISSUER_X5C, OID4VCI_ISSUER_X5C_SELF_SIGNED: see TrustChecks.kt
//   OID4VCI_ISSUER_KEY_ATTESTATION, OID4VCI_ISSUER_ATTESTATION_PROOF: see KeyAttestationChecks.kt
//   (the DPoP key store checks in DpopKeyChecks.kt use OID4VCI_ISSUER_DPOP)
// This file is the harness (signer, HTTP client, issuer endpoints, runner) and
// the checks of the flows so far; newer flows have a file of checks each
// (TrustChecks.kt, MdocChecks.kt, KeyAttestationChecks.kt, DpopKeyChecks.kt,
// ResumeChecks.kt),
// run from runChecks.
// Prints one line per check, then `N passed, M failed`; exits 1 on a failure.
// bindings/test-kotlin builds and runs it.

import dev.oid4vci.wallet.AuthorizedSession
import dev.oid4vci.wallet.Credential
import dev.oid4vci.wallet.DeferredCredential
import dev.oid4vci.wallet.DeferredPoll
import dev.oid4vci.wallet.GrantKind
import dev.oid4vci.wallet.HttpClient
import dev.oid4vci.wallet.HttpClientException
import dev.oid4vci.wallet.HttpHeader
import dev.oid4vci.wallet.HttpRequest
import dev.oid4vci.wallet.HttpResponse
import dev.oid4vci.wallet.Issuance
import dev.oid4vci.wallet.NotificationEvent
import dev.oid4vci.wallet.PendingAuthorization
import dev.oid4vci.wallet.Signer
import dev.oid4vci.wallet.TxCodeInputMode
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletConfig
import dev.oid4vci.wallet.WalletException
import kotlinx.coroutines.runBlocking
import java.math.BigInteger
import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient as JavaHttpClient
import java.net.http.HttpRequest as JavaHttpRequest
import java.net.http.HttpResponse as JavaHttpResponse
import java.security.KeyPairGenerator
import java.security.MessageDigest
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.time.Duration
import java.util.Base64
import java.util.concurrent.atomic.AtomicInteger
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory
import kotlin.system.exitProcess

// --- a P-256 signer in Kotlin ---------------------------------------------------

/** Big-endian unsigned, left-padded to `size` bytes (JWK coordinates, R and S). */
fun unsigned(value: BigInteger, size: Int): ByteArray {
    val bytes = value.toByteArray().dropWhile { it == 0.toByte() }.toByteArray()
    require(bytes.size <= size) { "integer too large" }
    return ByteArray(size - bytes.size) + bytes
}

/** An ASN.1 DER ECDSA signature (SEQUENCE of INTEGER r, INTEGER s) to raw R||S. */
fun derToRaw(der: ByteArray, size: Int = 32): ByteArray {
    var pos = 0
    fun length(): Int {
        val first = der[pos++].toInt() and 0xff
        if (first < 0x80) return first
        var len = 0
        repeat(first and 0x7f) { len = (len shl 8) or (der[pos++].toInt() and 0xff) }
        return len
    }
    fun integer(): BigInteger {
        require(der[pos++] == 0x02.toByte()) { "DER: INTEGER expected" }
        val len = length()
        val value = BigInteger(1, der.copyOfRange(pos, pos + len))
        pos += len
        return value
    }
    require(der[pos++] == 0x30.toByte()) { "DER: SEQUENCE expected" }
    length()
    return unsigned(integer(), size) + unsigned(integer(), size)
}

fun b64url(bytes: ByteArray): String = Base64.getUrlEncoder().withoutPadding().encodeToString(bytes)

/**
 * A P-256 key from java.security, like one in Android Keystore. With
 * `digest = false` it signs the message (SHA256withECDSA) and converts the DER
 * signature to R||S itself; with `digest = true` it tells the SDK it signs a
 * SHA-256 digest (NONEwithECDSA, as some hardware keys do) and returns DER,
 * which the SDK converts.
 */
class KotlinSigner(private val digest: Boolean = false) : Signer {
    private val keyPair = KeyPairGenerator.getInstance("EC").apply {
        initialize(ECGenParameterSpec("secp256r1"))
    }.generateKeyPair()
    val calls = AtomicInteger()
    val lastInputSize = AtomicInteger(-1)

    val x: String
    val y: String

    init {
        val point = (keyPair.public as ECPublicKey).w
        x = b64url(unsigned(point.affineX, 32))
        y = b64url(unsigned(point.affineY, 32))
    }

    override fun algorithm(): String = "ES256"
    override fun publicJwk(): String = """{"kty":"EC","crv":"P-256","x":"$x","y":"$y"}"""
    override fun signsDigest(): Boolean = digest

    override fun sign(data: ByteArray): ByteArray {
        calls.incrementAndGet()
        lastInputSize.set(data.size)
        val signature = Signature.getInstance(if (digest) "NONEwithECDSA" else "SHA256withECDSA")
        signature.initSign(keyPair.private)
        signature.update(data)
        val der = signature.sign()
        return if (digest) der else derToRaw(der)
    }
}

// --- an HTTP stack of the app's ---------------------------------------------------

/** java.net.http as the app's HTTP stack: no redirects, counts its requests. */
class KotlinHttpClient : HttpClient {
    private val client = JavaHttpClient.newBuilder()
        .followRedirects(JavaHttpClient.Redirect.NEVER)
        .version(JavaHttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10))
        .build()
    val requests = AtomicInteger()
    val paths = java.util.Collections.synchronizedList(mutableListOf<String>())
    /** The paths of the requests that carried a Wallet Attestation and its PoP. */
    val attestedPaths = java.util.Collections.synchronizedList(mutableListOf<String>())

    override fun send(request: HttpRequest): HttpResponse {
        requests.incrementAndGet()
        val uri = URI.create(request.url)
        paths.add(uri.path)
        val names = request.headers.map { it.name.lowercase() }
        if ("oauth-client-attestation" in names && "oauth-client-attestation-pop" in names) attestedPaths.add(uri.path)
        val builder = JavaHttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(30))
        for (h in request.headers) {
            // java.net.http sets these itself and refuses them.
            if (h.name.lowercase() in setOf("host", "content-length", "connection")) continue
            builder.header(h.name, h.value)
        }
        val body = if (request.body.isEmpty()) JavaHttpRequest.BodyPublishers.noBody()
        else JavaHttpRequest.BodyPublishers.ofByteArray(request.body)
        builder.method(request.method, body)
        val response = try {
            client.send(builder.build(), JavaHttpResponse.BodyHandlers.ofByteArray())
        } catch (e: java.net.http.HttpTimeoutException) {
            throw HttpClientException.Timeout()
        } catch (e: java.net.ConnectException) {
            throw HttpClientException.Connect(e.toString())
        } catch (e: java.io.IOException) {
            throw HttpClientException.Other(e.toString())
        }
        val headers = response.headers().map().flatMap { (name, values) ->
            values.map { HttpHeader(name, it) }
        }
        return HttpResponse(response.statusCode().toUShort(), headers, response.body())
    }
}

// --- the issuer's test endpoints --------------------------------------------------

val http: JavaHttpClient = JavaHttpClient.newBuilder().version(JavaHttpClient.Version.HTTP_1_1).build()
lateinit var base: String

/** A tiny extraction of a string or null field from flat JSON (no library needed). */
fun jsonString(json: String, field: String): String? {
    val match = Regex("\"${Regex.escape(field)}\"\\s*:\\s*(null|\"((?:[^\"\\\\]|\\\\.)*)\")").find(json)
        ?: error("no field $field in $json")
    return if (match.groupValues[1] == "null") null else match.groupValues[2].replace("\\/", "/")
}

data class Offer(val url: String, val txCode: String?)

/** Creates an offer at `issuer` (the main one unless given), through `client`. */
fun createOffer(
    configuration: String = "pid_sd_jwt",
    txCode: Boolean = false,
    byReference: Boolean = false,
    deferred: Boolean = false,
    authorizationCode: Boolean = false,
    issuer: String = base,
    client: JavaHttpClient = http,
): Offer {
    val body = """{"credential_configuration_ids":["$configuration"],"tx_code":$txCode,""" +
        """"by_reference":$byReference,"deferred":$deferred,"authorization_code":$authorizationCode}"""
    val request = JavaHttpRequest.newBuilder(URI.create("$issuer/test/offers"))
        .header("content-type", "application/json")
        .POST(JavaHttpRequest.BodyPublishers.ofString(body))
        .build()
    val response = client.send(request, JavaHttpResponse.BodyHandlers.ofString())
    check(response.statusCode() == 200) { "POST /test/offers: ${response.statusCode()} ${response.body()}" }
    return Offer(jsonString(response.body(), "offer_url")!!, jsonString(response.body(), "tx_code"))
}

/** The issuer's counters (`GET /test/stats`): requests per path, and the DPoP counters when it requires DPoP. */
fun issuerStats(issuer: String = base, client: JavaHttpClient = http): Map<String, Int> {
    val request = JavaHttpRequest.newBuilder(URI.create("$issuer/test/stats")).GET().build()
    val body = client.send(request, JavaHttpResponse.BodyHandlers.ofString()).body()
    return Regex("\"((?:[^\"\\\\]|\\\\.)*)\"\\s*:\\s*(\\d+)").findAll(body)
        .associate { it.groupValues[1] to it.groupValues[2].toInt() }
}

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

/** Requests per path the issuer has seen (`/test/...` not counted). */
fun issuerRequestCount(): Int = issuerStats().values.sum()

/** java.net.http trusting only `certificatePem` (the https issuer's self-signed certificate). */
fun trustingHttp(certificatePem: String): JavaHttpClient {
    val certificate = java.security.cert.CertificateFactory.getInstance("X.509")
        .generateCertificate(certificatePem.byteInputStream())
    val store = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType()).apply {
        load(null, null)
        setCertificateEntry("reference-issuer", certificate)
    }
    val trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()).apply { init(store) }
    val tls = SSLContext.getInstance("TLS").apply { init(null, trust.trustManagers, null) }
    return JavaHttpClient.newBuilder().sslContext(tls).version(JavaHttpClient.Version.HTTP_1_1).build()
}

// --- the user in the browser ---------------------------------------------------

/** The value of the first `attr="..."` after `after` in an HTML page. */
fun attribute(html: String, after: String, attr: String): String {
    val start = html.indexOf(after)
    if (start < 0) throw CheckFailed("no $after in $html")
    val key = "$attr=\""
    val at = html.indexOf(key, start)
    if (at < 0) throw CheckFailed("no $attr after $after in $html")
    val end = html.indexOf('"', at + key.length)
    return html.substring(at + key.length, end).replace("&amp;", "&")
}

/** A browser that does not follow redirects: the app gets the redirect URL, not the AS. */
val browserHttp: JavaHttpClient = JavaHttpClient.newBuilder()
    .followRedirects(JavaHttpClient.Redirect.NEVER)
    .version(JavaHttpClient.Version.HTTP_1_1)
    .build()

fun postForm(url: String, fields: List<Pair<String, String>>): JavaHttpResponse<String> {
    val body = fields.joinToString("&") { (name, value) ->
        URLEncoder.encode(name, Charsets.UTF_8) + "=" + URLEncoder.encode(value, Charsets.UTF_8)
    }
    val request = JavaHttpRequest.newBuilder(URI.create(url))
        .header("content-type", "application/x-www-form-urlencoded")
        .POST(JavaHttpRequest.BodyPublishers.ofString(body))
        .build()
    return browserHttp.send(request, JavaHttpResponse.BodyHandlers.ofString())
}

/**
 * What the user does in the browser: opens the authorization URL, signs in,
 * allows or denies. Returns the `Location` of the AS's 303 (the redirect the
 * browser would hand back to the app), without following it.
 */
fun browser(url: String, user: String, password: String, allow: Boolean): String {
    val page = browserHttp.send(JavaHttpRequest.newBuilder(URI.create(url)).GET().build(), JavaHttpResponse.BodyHandlers.ofString())
    expect(page.statusCode() == 200) { "authorization page: ${page.statusCode()} ${page.body()}" }
    val txn = attribute(page.body(), "name=\"txn\"", "value")
    val consent = postForm(
        attribute(page.body(), "<form", "action"),
        listOf("txn" to txn, "username" to user, "password" to password),
    )
    expect(consent.statusCode() == 200 && consent.body().contains("id=\"allow\"")) {
        "consent page: ${consent.statusCode()} ${consent.body()}"
    }
    val redirect = postForm(
        attribute(consent.body(), "<form", "action"),
        listOf("txn" to txn, "decision" to if (allow) "allow" else "deny"),
    )
    expect(redirect.statusCode() == 303) { "consent answer: ${redirect.statusCode()} ${redirect.body()}" }
    return redirect.headers().firstValue("location").orElseThrow { CheckFailed("303 without Location") }
}

/** The query parameter `name` of `url` (decoded), or null. */
fun queryParameter(url: String, name: String): String? =
    URI.create(url).rawQuery?.split('&')?.map { it.split('=', limit = 2) }
        ?.firstOrNull { it[0] == name }?.getOrNull(1)?.let { java.net.URLDecoder.decode(it, Charsets.UTF_8) }

// --- a minimal test runner --------------------------------------------------------

var passed = 0
var failed = 0

class CheckFailed(message: String) : Exception(message)

inline fun expect(condition: Boolean, message: () -> String) {
    if (!condition) throw CheckFailed(message())
}

suspend fun check(name: String, body: suspend () -> Unit) {
    val start = System.nanoTime()
    try {
        body()
        passed++
        println("ok    $name (${(System.nanoTime() - start) / 1_000_000} ms)")
    } catch (e: Throwable) {
        failed++
        println("FAIL  $name: $e")
        if (e !is CheckFailed) e.printStackTrace(System.out)
    }
}

/** A check that cannot run here (not counted). */
fun skip(name: String, why: String) = println("skip  $name: $why")

/** Runs `body`, expecting a `T`; returns it. */
suspend inline fun <reified T : Throwable> expectThrows(crossinline body: suspend () -> Unit): T {
    try {
        body()
    } catch (e: Throwable) {
        if (e is T) return e
        throw CheckFailed("expected ${T::class.simpleName}, got $e")
    }
    throw CheckFailed("expected ${T::class.simpleName}, nothing was thrown")
}

// --- the checks ---------------------------------------------------------------------

val locales = listOf("de-DE", "en")
fun config() = WalletConfig(locales = locales, dangerousAllowHttp = true)

/** The authorization code flow needs a client_id. */
fun codeFlowConfig() = WalletConfig(clientId = "kotlin-wallet-test", locales = locales, dangerousAllowHttp = true)
const val REDIRECT_URI = "https://wallet.example/callback"

fun issued(issuance: Issuance): List<Credential> = when (issuance) {
    is Issuance.Issued -> issuance.credentials
    is Issuance.Deferred -> throw CheckFailed("expected an issued credential, got a deferred one")
}

fun deferred(issuance: Issuance): DeferredCredential = when (issuance) {
    is Issuance.Deferred -> issuance.pending
    is Issuance.Issued -> throw CheckFailed("expected a deferred credential, got an issued one")
}

/** The PID: given_name Erika (labelled "Vorname" in German), bound to `signer`'s key. */
fun expectPid(credentials: List<Credential>, signer: KotlinSigner?) {
    expect(credentials.size == 1) { "expected one credential, got ${credentials.size}" }
    val pid = credentials[0]
    expect(pid.configurationId == "pid_sd_jwt") { "configuration ${pid.configurationId}" }
    expect(pid.format == "dc+sd-jwt") { "format ${pid.format}" }
    expect(pid.signatureVerified) { "issuer signature not verified" }
    val claims = pid.claimsJson ?: throw CheckFailed("no claims")
    expect(jsonString(claims, "given_name") == "Erika") { "given_name in $claims" }
    expect(jsonString(claims, "family_name") == "Mustermann") { "family_name in $claims" }
    val label = pid.claims.find { it.valueJson == "\"Erika\"" }?.label
    expect(label == "Vorname") { "label of Erika: $label (claims ${pid.claims})" }
    if (signer != null) {
        val jwk = pid.holderJwk ?: throw CheckFailed("no holder key")
        expect(jsonString(jwk, "x") == signer.x && jsonString(jwk, "y") == signer.y) {
            "credential bound to $jwk, not to the signer's key"
        }
        expect(signer.calls.get() >= 1) { "the Kotlin signer was not called" }
    }
}

/** One SD-JWT credential of `configuration` with `claim` == `value`, verified, bound to `signer`'s key if given. */
fun expectClaim(credentials: List<Credential>, configuration: String, claim: String, value: String, signer: KotlinSigner?) {
    expect(credentials.size == 1) { "expected one credential, got ${credentials.size}" }
    val credential = credentials[0]
    expect(credential.configurationId == configuration) { "configuration ${credential.configurationId}" }
    expect(credential.format == "dc+sd-jwt") { "format ${credential.format}" }
    expect(credential.signatureVerified) { "issuer signature not verified" }
    val claims = credential.claimsJson ?: throw CheckFailed("no claims")
    expect(jsonString(claims, claim) == value) { "$claim in $claims" }
    if (signer != null) {
        val jwk = credential.holderJwk ?: throw CheckFailed("no holder key")
        expect(jsonString(jwk, "x") == signer.x && jsonString(jwk, "y") == signer.y) {
            "credential bound to $jwk, not to the signer's key"
        }
        expect(signer.calls.get() >= 1) { "the Kotlin signer was not called" }
    }
}

/** A pending authorization for a fresh authorization-code offer of the PID, and its redirect after `user` answered. */
suspend fun authorizedRedirect(wallet: Wallet, allow: Boolean = true): Pair<PendingAuthorization, String> {
    val pending = wallet.resolveOffer(createOffer(authorizationCode = true).url).beginAuthorization(wallet, REDIRECT_URI)
    return pending to browser(pending.authorizationUrl(), "erika", "erika-password", allow)
}

fun main(args: Array<String>) {
    runBlocking { runChecks(args) }
    println("$passed passed, $failed failed")
    // exitProcess also stops the SDK's and JNA's non-daemon threads.
    exitProcess(if (failed == 0) 0 else 1)
}

suspend fun runChecks(args: Array<String>) {
    base = (args.firstOrNull() ?: System.getenv("OID4VCI_ISSUER")
        ?: error("usage: WalletTestKt <issuer base URL> (or OID4VCI_ISSUER)")).trimEnd('/')
    println("Kotlin bindings against $base")
    val wallet = Wallet(config())

    check("pre-authorized with tx_code, Kotlin signer, display in de") {
        val offer = createOffer(txCode = true)
        val resolved = wallet.resolveOffer(offer.url)
        expect(resolved.issuerId() == base) { "issuer ${resolved.issuerId()}" }
        expect(resolved.grants() == listOf(GrantKind.PRE_AUTHORIZED)) { "grants ${resolved.grants()}" }
        val txCode = resolved.txCode() ?: throw CheckFailed("no tx_code spec")
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

    check("wrong tx_code raises WalletException.TxCodeRejected (invalid_grant)") {
        val offer = createOffer(txCode = true)
        val resolved = wallet.resolveOffer(offer.url)
        val wrong = if (offer.txCode == "000000") "111111" else "000000"
        val e = expectThrows<WalletException.TxCodeRejected> { resolved.authorize(wallet, wrong) }
        expect(e.details.contains("invalid_grant")) { "details: ${e.details}" }
    }

    check("invalid offer URL raises WalletException.InvalidOffer") {
        for (url in listOf("openid-credential-offer://?nothing=here", "not a url", "openid-credential-offer://?credential_offer=%7Bnope")) {
            expectThrows<WalletException.InvalidOffer> { wallet.resolveOffer(url) }
        }
    }

    check("offer by reference used twice raises WalletException.OfferExpiredOrUsed") {
        val offer = createOffer(byReference = true)
        expect(offer.url.contains("credential_offer_uri")) { "not by reference: ${offer.url}" }
        wallet.resolveOffer(offer.url)
        expectThrows<WalletException.OfferExpiredOrUsed> { wallet.resolveOffer(offer.url) }
    }

    check("unreachable issuer raises WalletException.Network") {
        val offer = "openid-credential-offer://?credential_offer=" + java.net.URLEncoder.encode(
            """{"credential_issuer":"http://127.0.0.1:9","credential_configuration_ids":["pid_sd_jwt"],""" +
                """"grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"x"}}}""",
            "UTF-8",
        )
        expectThrows<WalletException.Network> { wallet.resolveOffer(offer) }
    }

    check("save an authorized session, restore it in a fresh Wallet, finish it") {
        val offer = createOffer(txCode = true)
        val saved = wallet.resolveOffer(offer.url).authorize(wallet, offer.txCode).toJson()
        expect(saved.contains("pid_sd_jwt")) { "saved session: no configuration id" }
        val freshWallet = Wallet(config())
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
        val freshWallet = Wallet(config())
        val restored = DeferredCredential.fromJson(saved, locales)
        expectPid(restored.pollUntilReady(freshWallet, 30_000u), signer)
    }

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
    check("authorization code flow from an offer: save, restore, sign in as max, Kotlin signer") {
        val offer = createOffer(authorizationCode = true)
        expect(offer.txCode == null) { "tx_code ${offer.txCode}" }
        val codeWallet = Wallet(codeFlowConfig())
        val resolved = codeWallet.resolveOffer(offer.url)
        expect(resolved.grants() == listOf(GrantKind.AUTHORIZATION_CODE)) { "grants ${resolved.grants()}" }
        expect(resolved.txCode() == null) { "tx_code spec ${resolved.txCode()}" }
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
        val freshWallet = Wallet(codeFlowConfig())
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
        val codeWallet = Wallet(codeFlowConfig())
        val (pending, location) = authorizedRedirect(codeWallet, allow = false)
        expect(queryParameter(location, "error") == "access_denied") { "redirect $location" }
        val e = expectThrows<WalletException.AuthorizationFailed> { pending.complete(codeWallet, location) }
        expect(e.details.contains("access_denied")) { "details: ${e.details}" }
    }

    check("tampered state raises WalletException.AuthorizationFailed; the genuine redirect still works") {
        val codeWallet = Wallet(codeFlowConfig())
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
        val codeWallet = Wallet(codeFlowConfig())
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

    // --- DPoP (an issuer run with --require-dpop --dpop-nonce) ----------------------

    val dpopBase = System.getenv("OID4VCI_ISSUER_DPOP")?.trimEnd('/')
    val dpopPreAuthorized = "pre-authorized with tx_code over DPoP with nonces: session saved and restored, Kotlin signer"
    val dpopCodeFlow = "authorization code flow over DPoP: pending authorization saved and restored, sign in as max"
    if (dpopBase == null) {
        skip(dpopPreAuthorized, "OID4VCI_ISSUER_DPOP not set")
        skip(dpopCodeFlow, "OID4VCI_ISSUER_DPOP not set")
    } else {
        check(dpopPreAuthorized) {
            val before = issuerStats(dpopBase)
            val offer = createOffer(txCode = true, issuer = dpopBase)
            val dpopWallet = Wallet(config())
            val resolved = dpopWallet.resolveOffer(offer.url)
            expect(resolved.issuerId() == dpopBase) { "issuer ${resolved.issuerId()}" }
            val session = resolved.authorize(dpopWallet, offer.txCode)
            expect(session.usesDpop()) { "the session does not use DPoP" }
            // The app saves the session (with its DPoP key) and is killed before the credential request.
            val saved = session.toJson()
            session.destroy()
            val restored = AuthorizedSession.fromJson(saved, locales)
            expect(restored.usesDpop()) { "the restored session does not use DPoP" }
            val freshWallet = Wallet(config())
            val signer = KotlinSigner()
            expectPid(issued(restored.requestCredential(freshWallet, "pid_sd_jwt", signer)), signer)
            val after = issuerStats(dpopBase)
            fun delta(name: String) = (after[name] ?: 0) - (before[name] ?: 0)
            expect(delta("dpop_nonce_challenges_as") >= 1) { "no use_dpop_nonce from the AS: $after" }
            expect(delta("dpop_rejected") == 0) { "the issuer rejected DPoP proofs: $after" }
            expect(delta("/credential") == 1) { "credential requests: ${delta("/credential")} ($after)" }
        }

        check(dpopCodeFlow) {
            val codeWallet = Wallet(codeFlowConfig())
            val offer = createOffer(authorizationCode = true, issuer = dpopBase)
            val pending = codeWallet.resolveOffer(offer.url).beginAuthorization(codeWallet, REDIRECT_URI)
            expect(pending.usesDpop()) { "the pending authorization does not use DPoP" }
            val saved = pending.toJson()
            pending.destroy()
            val restored = PendingAuthorization.fromJson(saved, locales)
            expect(restored.usesDpop()) { "the restored authorization does not use DPoP" }
            val location = browser(restored.authorizationUrl(), "max", "max-password", allow = true)
            val session = restored.complete(Wallet(codeFlowConfig()), location)
            expect(session.usesDpop()) { "the session does not use DPoP" }
            val signer = KotlinSigner()
            expectClaim(issued(session.requestCredential(codeWallet, "pid_sd_jwt", signer)), "pid_sd_jwt", "given_name", "Max", signer)
        }
    }

    // --- wallet attestation (an issuer run with --wallet-attestation challenge --require-dpop --dpop-nonce)

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
            val attested = Wallet.withAttestation(config(), attestation, platformKey)
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
            val anonymous = Wallet(config())
            val offer = createOffer(txCode = true, issuer = attestationBase)
            val refused = expectThrows<WalletException.Server> {
                anonymous.resolveOffer(offer.url).authorize(anonymous, offer.txCode)
            }
            expect(refused.code == "invalid_client" && refused.status == 400.toUShort()) { "refused: $refused (${refused.details})" }
            // Refused locally, when the wallet is built.
            val platformKey = KotlinSigner()
            val attestation = walletAttestation(attestationBase, "kotlin-wallet", platformKey.publicJwk())
            val otherKey = expectThrows<WalletException.Configuration> { Wallet.withAttestation(config(), attestation, KotlinSigner()) }
            expect(otherKey.details.contains("cnf.jwk")) { "another key: ${otherKey.details}" }
            expectThrows<WalletException.Configuration> {
                Wallet.withHttpClientAndAttestation(config(), KotlinHttpClient(), attestation, KotlinSigner())
            }
            val otherClient = expectThrows<WalletException.Configuration> {
                Wallet.withAttestation(codeFlowConfig(), attestation, platformKey)
            }
            expect(otherClient.details.contains("client_id")) { "another client_id: ${otherClient.details}" }
            expectThrows<WalletException.Configuration> { Wallet.withAttestation(config(), "not.a.jwt", platformKey) }
            // Expired: refused before anything is sent; the app fetches a fresh one.
            val expiredAttestation = walletAttestation(attestationBase, "kotlin-wallet", platformKey.publicJwk(), lifetimeSecs = 0)
            val expired = Wallet.withAttestation(config(), expiredAttestation, platformKey)
            val resolved = expired.resolveOffer(createOffer(issuer = attestationBase).url)
            val tokens = issuerStats(attestationBase)["/token"] ?: 0
            val e = expectThrows<WalletException.Configuration> { resolved.authorize(expired, null) }
            expect(e.details.contains("expired")) { "expired: ${e.details}" }
            expect((issuerStats(attestationBase)["/token"] ?: 0) == tokens) { "a token request was sent" }
        }
    }

    // --- https (an issuer run with --tls, its self-signed certificate) -------------

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
            val untrusted = Wallet(WalletConfig(locales = locales))
            val e = expectThrows<WalletException.Network> { untrusted.resolveOffer(offer.url) }
            expect(issuerStats(httpsBase, trusting).values.sum() == before) { "a request got through: ${e.details}" }
            // The same offer (by value) with the certificate trusted.
            val trustingWallet = Wallet(WalletConfig(locales = locales, rootCertificatesPem = listOf(pem)))
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

    // --- one file of checks per flow ------------------------------------------------

    trustChecks()
    mdocChecks()
    keyAttestationChecks()
    attestationProofChecks()
    dpopKeyChecks()
    resumeChecks()
}
