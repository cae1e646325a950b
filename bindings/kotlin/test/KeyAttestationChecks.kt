// The key attestation checks of the Kotlin test program (Harness.kt is the
// harness: the runner, the signer, the issuer's test endpoints): an issuer
// that lists `key_attestations_required` (EU PID style) refuses a wallet
// without a key attestation provider before anything is spent
// (`WalletException.Proof` with `KEY_ATTESTATION_REQUIRED`, no token request),
// and a wallet built with `WalletBuilder(config).keyAttestations(provider)`
// gets the credential, its Kotlin provider fetching each attestation from the
// issuer's trusted wallet provider (`POST /test/key-attestation`), as an app
// asks its own wallet provider. An issuer that accepts only the `attestation`
// proof type gets the provider's key attestation itself as the proof: one for a
// batch of keys, with the issuer's c_nonce.
//
// Issuers (each check skipped without its own):
//   OID4VCI_ISSUER_KEY_ATTESTATION=<url>  an issuer run with --key-attestations-required
//   OID4VCI_ISSUER_ATTESTATION_PROOF=<url> an issuer run with --key-attestation
//                                         required-with-nonce --attestation-proof-only
//                                         --batch-size 3

import dev.oid4vci.wallet.KeyAttestationProvider
import dev.oid4vci.wallet.KeyAttestationRequest
import dev.oid4vci.wallet.ProofErrorKind
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletBuilder
import dev.oid4vci.wallet.WalletException
import java.net.URI
import java.net.http.HttpRequest as JavaHttpRequest
import java.net.http.HttpResponse as JavaHttpResponse

/** `text` as a JSON string literal. */
fun jsonQuote(text: String): String = buildString {
    append('"')
    for (c in text) when {
        c == '"' -> append("\\\"")
        c == '\\' -> append("\\\\")
        c < ' ' -> append("\\u%04x".format(c.code))
        else -> append(c)
    }
    append('"')
}

/**
 * The app's wallet provider as a Kotlin `KeyAttestationProvider`: posts the
 * keys and the nonce to the issuer's `POST /test/key-attestation` (blocking;
 * the SDK calls it on its own thread) and records what the SDK asked for.
 */
class KotlinKeyAttestations(private val issuer: String) : KeyAttestationProvider {
    val requests: MutableList<KeyAttestationRequest> = java.util.Collections.synchronizedList(mutableListOf())

    override fun keyAttestation(request: KeyAttestationRequest): String {
        requests.add(request)
        val body = """{"keys":[${request.keysJwk.joinToString(",")}],"nonce":${request.nonce?.let(::jsonQuote) ?: "null"}}"""
        val post = JavaHttpRequest.newBuilder(URI.create("$issuer/test/key-attestation"))
            .header("content-type", "application/json")
            .POST(JavaHttpRequest.BodyPublishers.ofString(body))
            .build()
        val response = http.send(post, JavaHttpResponse.BodyHandlers.ofString())
        if (response.statusCode() != 200) {
            throw WalletException.Signing("POST /test/key-attestation: ${response.statusCode()} ${response.body()}")
        }
        return jsonString(response.body(), "key_attestation") ?: throw WalletException.Signing("no key_attestation")
    }
}

suspend fun keyAttestationChecks() {
    val keyAttestationBase = System.getenv("OID4VCI_ISSUER_KEY_ATTESTATION")?.trimEnd('/')
    val refused = "key attestations required, no provider: WalletException.Proof(KEY_ATTESTATION_REQUIRED), no token request"
    val attested = "key attestations required: WalletBuilder.keyAttestations with a Kotlin provider, the PID issued"
    if (keyAttestationBase == null) {
        for (name in listOf(refused, attested)) skip(name, "OID4VCI_ISSUER_KEY_ATTESTATION not set")
        return
    }

    check(refused) {
        // A plain Wallet, and one from a WalletBuilder given no provider.
        for (wallet in listOf(newWallet(config()), newBuilder(config()).build())) {
            val before = issuerStats(keyAttestationBase)
            val offer = createOffer(txCode = true, issuer = keyAttestationBase)
            val resolved = wallet.resolveOffer(offer.url)
            val e = expectThrows<WalletException.Proof> {
                val session = resolved.authorize(wallet, offer.txCode)
                session.requestCredential(wallet, "pid_sd_jwt", KotlinSigner())
            }
            expect(e.kind == ProofErrorKind.KEY_ATTESTATION_REQUIRED) { "kind ${e.kind} (${e.details})" }
            expect(e.details.contains("key attestation")) { "details: ${e.details}" }
            val after = issuerStats(keyAttestationBase)
            fun delta(name: String) = (after[name] ?: 0) - (before[name] ?: 0)
            expect(delta("/token") == 0 && delta("/credential") == 0) { "requests were sent: $after" }
        }
    }

    check(attested) {
        val before = issuerStats(keyAttestationBase)
        val provider = KotlinKeyAttestations(keyAttestationBase)
        val wallet = newBuilder(config()).keyAttestations(provider).build()
        val offer = createOffer(txCode = true, issuer = keyAttestationBase)
        val session = wallet.resolveOffer(offer.url).authorize(wallet, offer.txCode)
        val signer = KotlinSigner()
        expectPid(issued(session.requestCredential(wallet, "pid_sd_jwt", signer)), signer)
        val requests = provider.requests.toList()
        expect(requests.isNotEmpty()) { "the provider was not asked" }
        val request = requests.last()
        expect(request.keyStorage == listOf("iso_18045_high")) { "keyStorage ${request.keyStorage}" }
        expect(request.userAuthentication == listOf("iso_18045_high")) { "userAuthentication ${request.userAuthentication}" }
        expect(request.nonce != null) { "no nonce" }
        expect(request.credentialIssuer == keyAttestationBase) { "credentialIssuer ${request.credentialIssuer}" }
        expect(request.keysJwk.size == 1 && jsonString(request.keysJwk[0], "x") == signer.x) { "keysJwk ${request.keysJwk}" }
        val after = issuerStats(keyAttestationBase)
        fun delta(name: String) = (after[name] ?: 0) - (before[name] ?: 0)
        expect(delta("key_attestations_accepted") >= 1) { "no key attestation accepted: $after" }
        expect(delta("key_attestations_rejected") == 0) { "key attestations rejected: $after" }
    }
}

/** The attestation proof type (an issuer run with --attestation-proof-only): a batch under one key attestation. */
suspend fun attestationProofChecks() {
    val attestationProofBase = System.getenv("OID4VCI_ISSUER_ATTESTATION_PROOF")?.trimEnd('/')
    val name = "attestation proof type only, nonce required: a batch of 3 PIDs under one key attestation " +
        "from a Kotlin provider"
    if (attestationProofBase == null) {
        skip(name, "OID4VCI_ISSUER_ATTESTATION_PROOF not set")
        return
    }
    check(name) {
        val before = issuerStats(attestationProofBase)
        val provider = KotlinKeyAttestations(attestationProofBase)
        val wallet = newBuilder(config()).keyAttestations(provider).build()
        val offer = createOffer(txCode = true, issuer = attestationProofBase)
        val session = wallet.resolveOffer(offer.url).authorize(wallet, offer.txCode)
        val signers = List(3) { KotlinSigner() }
        val credentials = issued(session.requestCredentials(wallet, "pid_sd_jwt", signers))
        expect(credentials.size == 3) { "expected 3 credentials, got ${credentials.size}" }
        for (pid in credentials) {
            expect(pid.configurationId == "pid_sd_jwt" && pid.format == "dc+sd-jwt") { "${pid.configurationId} ${pid.format}" }
            expect(pid.signatureVerified) { "issuer signature not verified" }
            expect(jsonString(pid.claimsJson ?: "{}", "given_name") == "Erika") { "given_name in ${pid.claimsJson}" }
        }
        // Each credential bound to one of the keys, each key to one credential.
        val bound = credentials.map { jsonString(it.holderJwk ?: throw CheckFailed("no holder key"), "x") }.toSet()
        expect(bound == signers.map { it.x }.toSet()) { "bound to $bound, the keys are ${signers.map { it.x }}" }
        val requests = provider.requests.toList()
        expect(requests.size == 1) { "the provider was asked ${requests.size} times" }
        val request = requests[0]
        expect(request.nonce != null) { "no nonce" }
        expect(request.credentialIssuer == attestationProofBase) { "credentialIssuer ${request.credentialIssuer}" }
        val asked = request.keysJwk.map { jsonString(it, "x") }.toSet()
        expect(request.keysJwk.size == 3 && asked == signers.map { it.x }.toSet()) { "keysJwk ${request.keysJwk}" }
        val after = issuerStats(attestationProofBase)
        fun delta(name: String) = (after[name] ?: 0) - (before[name] ?: 0)
        expect(delta("key_attestations_accepted") >= 1) { "no key attestation accepted: $after" }
        expect(delta("key_attestations_rejected") == 0) { "key attestations rejected: $after" }
        expect(delta("/credential") == 1) { "credential requests: ${delta("/credential")} ($after)" }
    }
}
