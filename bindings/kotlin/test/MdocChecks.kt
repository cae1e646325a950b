// The mdoc checks of the Kotlin test program (Harness.kt is the harness:
// the runner, the signer, the issuer's test endpoints): ISO mdoc credentials
// (`mso_mdoc`) from the main issuer, decoded by the SDK: every element a
// `Claim` with its `[namespace, element]` path and its `ClaimKind` (dates,
// bytes such as a portrait, arrays), `claimsJson` as namespace → element →
// value, and the issuer's signature verified through its root CA in
// `WalletConfig.trustAnchorsPem` (mdocs always carry an x5chain).
//
// Issuer: the main one (`pid_mdoc`, `mdl_mdoc`; its root CA from GET /test/trust).

import dev.oid4vci.wallet.Claim
import dev.oid4vci.wallet.ClaimKind
import dev.oid4vci.wallet.Credential
import dev.oid4vci.wallet.Verification
import dev.oid4vci.wallet.VerificationMethod
import dev.oid4vci.wallet.Wallet
import dev.oid4vci.wallet.WalletConfig

const val PID_NAMESPACE = "eu.europa.ec.eudi.pid.1"
const val MDL_NAMESPACE = "org.iso.18013.5.1"

// --- a small JSON reader (the test has no JSON library) -------------------------------

/** Parses JSON text into Map / List / String / Double / Boolean / null; throws CheckFailed. */
fun parseJson(text: String): Any? {
    var pos = 0
    fun fail(what: String): Nothing = throw CheckFailed("JSON: $what at $pos in ${text.take(200)}")
    fun ws() { while (pos < text.length && text[pos] in " \t\r\n") pos++ }
    fun literal(word: String, value: Any?): Any? {
        if (!text.startsWith(word, pos)) fail("unexpected input")
        pos += word.length
        return value
    }
    fun string(): String {
        if (text.getOrNull(pos) != '"') fail("string expected")
        pos++
        val out = StringBuilder()
        while (true) {
            val c = text.getOrNull(pos++) ?: fail("unterminated string")
            when (c) {
                '"' -> return out.toString()
                '\\' -> when (val e = text.getOrNull(pos++) ?: fail("unterminated escape")) {
                    '"', '\\', '/' -> out.append(e)
                    'b' -> out.append('\b')
                    'f' -> out.append('\u000c')
                    'n' -> out.append('\n')
                    'r' -> out.append('\r')
                    't' -> out.append('\t')
                    'u' -> {
                        if (pos + 4 > text.length) fail("short \\u escape")
                        out.append(text.substring(pos, pos + 4).toInt(16).toChar())
                        pos += 4
                    }
                    else -> fail("bad escape \\$e")
                }
                else -> out.append(c)
            }
        }
    }
    fun value(): Any? {
        ws()
        return when (text.getOrNull(pos) ?: fail("value expected")) {
            '{' -> {
                pos++
                val map = LinkedHashMap<String, Any?>()
                ws()
                if (text.getOrNull(pos) == '}') { pos++; return map }
                while (true) {
                    ws()
                    val key = string()
                    ws()
                    if (text.getOrNull(pos++) != ':') fail("':' expected")
                    map[key] = value()
                    ws()
                    when (text.getOrNull(pos++)) {
                        ',' -> continue
                        '}' -> return map
                        else -> fail("',' or '}' expected")
                    }
                }
            }
            '[' -> {
                pos++
                val list = mutableListOf<Any?>()
                ws()
                if (text.getOrNull(pos) == ']') { pos++; return list }
                while (true) {
                    list.add(value())
                    ws()
                    when (text.getOrNull(pos++)) {
                        ',' -> continue
                        ']' -> return list
                        else -> fail("',' or ']' expected")
                    }
                }
            }
            '"' -> string()
            't' -> literal("true", true)
            'f' -> literal("false", false)
            'n' -> literal("null", null)
            else -> {
                val start = pos
                while (pos < text.length && text[pos] in "+-0123456789.eE") pos++
                text.substring(start, pos).toDoubleOrNull() ?: fail("number expected")
            }
        }
    }
    val result = value()
    ws()
    if (pos != text.length) fail("trailing input")
    return result
}

/** `text` as a JSON object. */
@Suppress("UNCHECKED_CAST")
fun jsonObject(text: String): Map<String, Any?> =
    parseJson(text) as? Map<String, Any?> ?: throw CheckFailed("not a JSON object: ${text.take(200)}")

// --- what the mdoc checks share ---------------------------------------------------------

/** The claim at `path` (`[namespace, element]`). */
fun claimAt(credential: Credential, vararg path: String): Claim =
    credential.claims.find { it.path == path.toList() }
        ?: throw CheckFailed("no claim at ${path.toList()} in ${credential.claims.map { it.path }}")

/** One mdoc of `configuration` (`doctype`'s elements), bound to `signer`'s key. */
fun expectMdoc(credentials: List<Credential>, configuration: String, signer: KotlinSigner): Credential {
    expect(credentials.size == 1) { "expected one credential, got ${credentials.size}" }
    val mdoc = credentials[0]
    expect(mdoc.configurationId == configuration) { "configuration ${mdoc.configurationId}" }
    expect(mdoc.format == "mso_mdoc") { "format ${mdoc.format}" }
    val jwk = mdoc.holderJwk ?: throw CheckFailed("no holder key")
    expect(jsonString(jwk, "x") == signer.x && jsonString(jwk, "y") == signer.y) {
        "mdoc bound to $jwk (its deviceKey), not to the signer's key"
    }
    expect(signer.calls.get() >= 1) { "the Kotlin signer was not called" }
    return mdoc
}

/** A pre-authorized `configuration` from the main issuer, bound to `signer`'s key. */
suspend fun receiveMdoc(configuration: String, config: WalletConfig, signer: KotlinSigner): List<Credential> {
    val wallet = newWallet(config)
    val offer = createOffer(configuration = configuration)
    val session = wallet.resolveOffer(offer.url).authorize(wallet, offer.txCode)
    return issued(session.requestCredential(wallet, configuration, signer))
}

suspend fun mdocChecks() {
    check("pid_mdoc with the issuer's root in trustAnchorsPem: TRUST_ANCHOR, claims with paths and kinds (Date, Text)") {
        val signer = KotlinSigner()
        val config = trustConfig(listOf(trustAnchorOf(base)), requireVerified = true)
        val pid = expectMdoc(receiveMdoc("pid_mdoc", config, signer), "pid_mdoc", signer)
        val verification = pid.verification
        expect(verification is Verification.Verified && verification.method == VerificationMethod.TRUST_ANCHOR) {
            "verification $verification"
        }
        expect(pid.signatureVerified) { "signatureVerified false for a verified mdoc" }
        // A full-date (tag 1004) is its text, with kind Date.
        val birthDate = claimAt(pid, PID_NAMESPACE, "birth_date")
        expect(birthDate.kind == ClaimKind.DATE) { "birth_date kind ${birthDate.kind}" }
        expect(birthDate.valueJson == "\"1964-08-12\"") { "birth_date value ${birthDate.valueJson}" }
        expect(birthDate.label == "Geburtsdatum") { "birth_date label ${birthDate.label}" }
        val familyName = claimAt(pid, PID_NAMESPACE, "family_name")
        expect(familyName.kind == ClaimKind.TEXT && familyName.valueJson == "\"Mustermann\"") {
            "family_name ${familyName.kind} ${familyName.valueJson}"
        }
        expect(familyName.label == "Nachname") { "family_name label ${familyName.label}" }
        val over18 = claimAt(pid, PID_NAMESPACE, "age_over_18")
        expect(over18.kind == ClaimKind.BOOL && over18.valueJson == "true") { "age_over_18 ${over18.kind} ${over18.valueJson}" }
        // claimsJson: namespace → element → value.
        val claimsJson = jsonObject(pid.claimsJson ?: throw CheckFailed("no claimsJson"))
        @Suppress("UNCHECKED_CAST")
        val namespace = claimsJson[PID_NAMESPACE] as? Map<String, Any?>
            ?: throw CheckFailed("no $PID_NAMESPACE in ${pid.claimsJson}")
        expect(namespace["family_name"] == "Mustermann" && namespace["given_name"] == "Erika") { "namespace $namespace" }
        expect(namespace["birth_date"] == "1964-08-12" && namespace["age_over_18"] == true) { "namespace $namespace" }
        // Every element is a claim.
        val elements = claimsJson.values.sumOf { (it as? Map<*, *>)?.size ?: 0 }
        expect(pid.claims.size == elements && pid.claims.all { it.path.size == 2 }) {
            "${pid.claims.size} claims, $elements elements: ${pid.claims.map { it.path }}"
        }
    }

    check("mdl_mdoc: portrait is Bytes (base64url), driving_privileges Array, birth_date Date") {
        val signer = KotlinSigner()
        val mdl = expectMdoc(receiveMdoc("mdl_mdoc", trustConfig(listOf(trustAnchorOf(base))), signer), "mdl_mdoc", signer)
        val portrait = claimAt(mdl, MDL_NAMESPACE, "portrait")
        expect(portrait.kind == ClaimKind.BYTES) { "portrait kind ${portrait.kind}" }
        val portraitText = parseJson(portrait.valueJson) as? String ?: throw CheckFailed("portrait value ${portrait.valueJson}")
        val jpeg = java.util.Base64.getUrlDecoder().decode(portraitText)
        expect(jpeg.size >= 2 && jpeg[0] == 0xff.toByte() && jpeg[1] == 0xd8.toByte()) { "portrait is no JPEG: $portraitText" }
        val privileges = claimAt(mdl, MDL_NAMESPACE, "driving_privileges")
        expect(privileges.kind == ClaimKind.ARRAY) { "driving_privileges kind ${privileges.kind}" }
        val list = parseJson(privileges.valueJson) as? List<*> ?: throw CheckFailed("driving_privileges ${privileges.valueJson}")
        expect(list.isNotEmpty() && (list[0] as? Map<*, *>)?.containsKey("vehicle_category_code") == true) {
            "driving_privileges ${privileges.valueJson}"
        }
        expect(claimAt(mdl, MDL_NAMESPACE, "birth_date").kind == ClaimKind.DATE) { "birth_date not a Date" }
        val claimsJson = jsonObject(mdl.claimsJson ?: throw CheckFailed("no claimsJson"))
        expect(claimsJson[MDL_NAMESPACE] is Map<*, *>) { "no $MDL_NAMESPACE in ${mdl.claimsJson}" }
    }
}
