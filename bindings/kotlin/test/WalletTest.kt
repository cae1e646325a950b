// Runs the generated Kotlin bindings for real against the reference issuer
// (tests/issuer), as an Android app would use them: a Kotlin signer holding a
// P-256 key (java.security, as Android Keystore does), a Kotlin HTTP client,
// typed exceptions, sessions saved as strings.
//
// Usage: java ... WalletTestKt <issuer base URL>   (or OID4VCI_ISSUER=<url>)
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
import dev.oid4vci.wallet.Signer
import dev.oid4vci.wallet.TxCodeInputMode
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletConfig
import dev.oid4vci.wallet.WalletException
import kotlinx.coroutines.runBlocking
import java.math.BigInteger
import java.net.URI
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

    override fun send(request: HttpRequest): HttpResponse {
        requests.incrementAndGet()
        val uri = URI.create(request.url)
        paths.add(uri.path)
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

fun createOffer(
    configuration: String = "pid_sd_jwt",
    txCode: Boolean = false,
    byReference: Boolean = false,
    deferred: Boolean = false,
): Offer {
    val body = """{"credential_configuration_ids":["$configuration"],"tx_code":$txCode,""" +
        """"by_reference":$byReference,"deferred":$deferred}"""
    val request = JavaHttpRequest.newBuilder(URI.create("$base/test/offers"))
        .header("content-type", "application/json")
        .POST(JavaHttpRequest.BodyPublishers.ofString(body))
        .build()
    val response = http.send(request, JavaHttpResponse.BodyHandlers.ofString())
    check(response.statusCode() == 200) { "POST /test/offers: ${response.statusCode()} ${response.body()}" }
    return Offer(jsonString(response.body(), "offer_url")!!, jsonString(response.body(), "tx_code"))
}

/** Requests per path the issuer has seen (`/test/...` not counted). */
fun issuerRequestCount(): Int {
    val request = JavaHttpRequest.newBuilder(URI.create("$base/test/stats")).GET().build()
    val body = http.send(request, JavaHttpResponse.BodyHandlers.ofString()).body()
    return Regex(":\\s*(\\d+)").findAll(body).sumOf { it.groupValues[1].toInt() }
}

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
}
