// The signer checks of the Kotlin test program (Harness.kt is the harness:
// the runner, the issuer's test endpoints), against the main issuer: keys
// that answer as Android Keystore keys do, each completing an issuance, the
// credential bound to the key:
//   - a key that signs the message (SHA256withECDSA) and returns its DER
//     signature as it is: the SDK converts it to R||S;
//   - a digest-only key (NONEwithECDSA over the SHA-256 digest the SDK
//     gives it, 32 bytes) that returns raw R||S;
// and for both, `sign` runs on a thread of the SDK's, not on the thread that
// awaits the SDK's call (here runBlocking's main thread), which a biometric
// prompt must not find blocked by its own signer.

import dev.oid4vci.wallet.Signer
import dev.oid4vci.wallet.Wallet
import java.security.KeyPairGenerator
import java.security.MessageDigest
import java.security.Signature
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.util.Collections

/**
 * A P-256 key of java.security answering as Keystore does: `SHA256withECDSA`
 * over the input, or with `digestOnly` `NONEwithECDSA` over the digest it is
 * given; returns what java.security returns (DER) unless `raw`. Records the
 * threads it is called on and what it is given.
 */
class JavaSecuritySigner(private val digestOnly: Boolean, private val raw: Boolean) : Signer {
    private val keyPair = KeyPairGenerator.getInstance("EC").apply {
        initialize(ECGenParameterSpec("secp256r1"))
    }.generateKeyPair()
    val threads: MutableList<Thread> = Collections.synchronizedList(mutableListOf())
    val inputs: MutableList<ByteArray> = Collections.synchronizedList(mutableListOf())
    val x: String
    val y: String

    init {
        val point = (keyPair.public as ECPublicKey).w
        x = b64url(unsigned(point.affineX, 32))
        y = b64url(unsigned(point.affineY, 32))
    }

    override fun algorithm(): String = "ES256"
    override fun publicJwk(): String = """{"kty":"EC","crv":"P-256","x":"$x","y":"$y"}"""
    override fun signsDigest(): Boolean = digestOnly

    override fun sign(data: ByteArray): ByteArray {
        threads.add(Thread.currentThread())
        inputs.add(data)
        val signature = Signature.getInstance(if (digestOnly) "NONEwithECDSA" else "SHA256withECDSA")
        signature.initSign(keyPair.private)
        signature.update(data)
        val der = signature.sign()
        return if (raw) derToRaw(der) else der
    }
}

/** Issues the PID to `signer` at the main issuer from the calling thread; checks it and where `sign` ran. */
suspend fun issueTo(signer: JavaSecuritySigner) {
    val wallet = newWallet(config())
    val offer = createOffer()
    val session = wallet.resolveOffer(offer.url).authorize(wallet, null)
    val caller = Thread.currentThread()
    val credentials = issued(session.requestCredential(wallet, "pid_sd_jwt", signer))
    expectPid(credentials, null)
    val jwk = credentials[0].holderJwk ?: throw CheckFailed("no holder key")
    expect(jsonString(jwk, "x") == signer.x && jsonString(jwk, "y") == signer.y) {
        "credential bound to $jwk, not to the signer's key"
    }
    val threads = signer.threads.toList()
    expect(threads.isNotEmpty()) { "the signer was not called" }
    expect(threads.none { it == caller }) {
        "sign ran on the thread awaiting the SDK (${caller.name}): ${threads.map { it.name }}"
    }
}

suspend fun signerChecks() {
    check("a signer returning DER from SHA256withECDSA, called off the awaiting thread") {
        val signer = JavaSecuritySigner(digestOnly = false, raw = false)
        issueTo(signer)
        expect(signer.inputs.all { it.size > 32 && it.contains('.'.code.toByte()) }) {
            "the signer got ${signer.inputs.map { it.size }} bytes, not the signing input"
        }
    }

    check("a digest-only signer (NONEwithECDSA over the SHA-256 digest) returning R||S, called off the awaiting thread") {
        val signer = JavaSecuritySigner(digestOnly = true, raw = true)
        issueTo(signer)
        expect(signer.inputs.all { it.size == MessageDigest.getInstance("SHA-256").digestLength }) {
            "the signer got ${signer.inputs.map { it.size }} bytes, not a SHA-256 digest"
        }
    }
}
