// The harness of the Kotlin test program (bindings/kotlin/test): the Kotlin
// signer and HTTP client an app would write, the reference issuer's test
// endpoints, the user in the browser, the runner (`check`, `skip`,
// `expectThrows`, the final `N passed, M failed` line and exit code) and what
// the checks share. WalletTest.kt is the entry point; each flow has a file of
// checks (PreAuthorizedChecks.kt, ... ResumeChecks.kt) that it calls in order.

import dev.oid4vci.wallet.Credential
import dev.oid4vci.wallet.DeferredCredential
import dev.oid4vci.wallet.HttpClient
import dev.oid4vci.wallet.HttpClientException
import dev.oid4vci.wallet.HttpHeader
import dev.oid4vci.wallet.HttpRequest
import dev.oid4vci.wallet.HttpResponse
import dev.oid4vci.wallet.Issuance
import dev.oid4vci.wallet.Signer
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletBuilder
import dev.oid4vci.wallet.WalletConfig
import kotlinx.coroutines.runBlocking
import java.math.BigInteger
import java.net.URI
import java.net.URLEncoder
import java.net.http.HttpClient as JavaHttpClient
import java.net.http.HttpRequest as JavaHttpRequest
import java.net.http.HttpResponse as JavaHttpResponse
import java.security.KeyPairGenerator
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

/**
 * java.net.http as the app's HTTP stack: no redirects, counts its requests;
 * `tls` replaces the platform's trust (e.g. a test issuer's certificate).
 */
class KotlinHttpClient(tls: javax.net.ssl.SSLContext? = null) : HttpClient {
    private val client = JavaHttpClient.newBuilder()
        .apply { if (tls != null) sslContext(tls) }
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

/** Requests per path the issuer has seen (`/test/...` not counted). */
fun issuerRequestCount(): Int = issuerStats().values.sum()

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

/**
 * The program: takes the main issuer's base URL from `args` (or
 * OID4VCI_ISSUER), runs `checks`, prints `N passed, M failed` and exits 1 on
 * a failure.
 */
fun runTest(args: Array<String>, checks: suspend () -> Unit) {
    runBlocking {
        base = (args.firstOrNull() ?: System.getenv("OID4VCI_ISSUER")
            ?: error("usage: WalletTestKt <issuer base URL> (or OID4VCI_ISSUER)")).trimEnd('/')
        println("Kotlin bindings against $base")
        checks()
    }
    println("$passed passed, $failed failed")
    // exitProcess also stops the SDK's and JNA's non-daemon threads.
    exitProcess(if (failed == 0) 0 else 1)
}

// --- what the checks share ---------------------------------------------------------

val locales = listOf("de-DE", "en")
fun config() = WalletConfig(locales = locales, dangerousAllowHttp = true)

/** The authorization code flow needs a client_id. */
fun codeFlowConfig() = WalletConfig(clientId = "kotlin-wallet-test", locales = locales, dangerousAllowHttp = true)

/**
 * Whether the library under test is built without the built-in HTTP client
 * (`--no-default-features --features uniffi`, the small mobile build): then
 * every wallet sends through [KotlinHttpClient], as an app's would through
 * OkHttp (OID4VCI_APP_HTTP=1, set by bindings/test-kotlin --app-http).
 */
val APP_HTTP = System.getenv("OID4VCI_APP_HTTP") == "1"

/** A wallet on the built-in HTTP client, or on [KotlinHttpClient] when [APP_HTTP]. */
fun newWallet(config: WalletConfig): Wallet =
    if (APP_HTTP) Wallet.withHttpClient(config, KotlinHttpClient()) else Wallet(config)

/** [newWallet] with a wallet attestation. */
fun newAttestedWallet(config: WalletConfig, attestation: String, key: Signer): Wallet =
    if (APP_HTTP) Wallet.withHttpClientAndAttestation(config, KotlinHttpClient(), attestation, key)
    else Wallet.withAttestation(config, attestation, key)

/** A [WalletBuilder] whose wallet sends as [newWallet]'s does. */
fun newBuilder(config: WalletConfig): WalletBuilder =
    WalletBuilder(config).let { if (APP_HTTP) it.httpClient(KotlinHttpClient()) else it }
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
