// The mdoc checks of the Swift test program (Harness.swift is the harness:
// the runner, the signer, the issuer's test endpoints): ISO mdoc credentials
// (`mso_mdoc`) from the main issuer, decoded by the SDK: every element a
// `Claim` with its `[namespace, element]` path and its `ClaimKind` (dates,
// bytes such as a portrait, arrays), `claimsJson` as namespace → element →
// value, and the issuer's signature verified through its root CA in
// `WalletConfig.trustAnchorsPem` (mdocs always carry an x5chain).
//
// Issuer: the main one (`pid_mdoc`, `mdl_mdoc`; its root CA from GET /test/trust).

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

let pidNamespace = "eu.europa.ec.eudi.pid.1"
let mdlNamespace = "org.iso.18013.5.1"

/// Any JSON text (a `valueJson`: also a bare string, number, ...).
func jsonValue(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}

/// base64url (with or without padding) to bytes.
func base64UrlDecode(_ text: String) -> Data? {
    var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    base64 = base64.replacingOccurrences(of: "=", with: "")
    base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
    return Data(base64Encoded: base64)
}

/// The claim at `path` (`[namespace, element]`).
func claimAt(_ credential: Credential, _ path: String...) throws -> Claim {
    guard let claim = credential.claims.first(where: { $0.path == path }) else {
        throw CheckFailed("no claim at \(path) in \(credential.claims.map { $0.path })")
    }
    return claim
}

/// One mdoc of `configuration`, bound to `signer`'s key.
func expectMdoc(_ credentials: [Credential], _ configuration: String, _ signer: SwiftSigner) throws -> Credential {
    try expect(credentials.count == 1, "expected one credential, got \(credentials.count)")
    let mdoc = credentials[0]
    try expect(mdoc.configurationId == configuration, "configuration \(mdoc.configurationId)")
    try expect(mdoc.format == "mso_mdoc", "format \(mdoc.format)")
    let jwk = try jsonObject(mdoc.holderJwk ?? "null")
    try expect(jwk["x"] as? String == signer.x && jwk["y"] as? String == signer.y,
               "mdoc bound to \(jwk) (its deviceKey), not to the signer's key")
    try expect(signer.calls.value >= 1, "the Swift signer was not called")
    return mdoc
}

/// A pre-authorized `configuration` from the main issuer, bound to `signer`'s key.
func receiveMdoc(_ configuration: String, _ config: WalletConfig, _ signer: SwiftSigner) async throws -> [Credential] {
    let wallet = try newWallet(config: config)
    let offer = try await createOffer(configuration: configuration)
    let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: offer.txCode)
    return try issued(try await session.requestCredential(wallet: wallet, configurationId: configuration, signer: signer))
}

@MainActor
func mdocChecks() async {
    await check("pid_mdoc with the issuer's root in trustAnchorsPem: trustAnchor, claims with paths and kinds (date, text)") {
        let signer = try SwiftSigner()
        let config = trustConfig([try await trustAnchorOf(base)], requireVerified: true)
        let pid = try expectMdoc(try await receiveMdoc("pid_mdoc", config, signer), "pid_mdoc", signer)
        guard case .verified(let method, _) = pid.verification else {
            throw CheckFailed("verification \(pid.verification)")
        }
        try expect(method == .trustAnchor, "method \(method)")
        try expect(pid.signatureVerified, "signatureVerified false for a verified mdoc")
        // A full-date (tag 1004) is its text, with kind date.
        let birthDate = try claimAt(pid, pidNamespace, "birth_date")
        try expect(birthDate.kind == .date, "birth_date kind \(birthDate.kind)")
        try expect(birthDate.valueJson == "\"1964-08-12\"", "birth_date value \(birthDate.valueJson)")
        try expect(birthDate.label == "Geburtsdatum", "birth_date label \(birthDate.label)")
        let familyName = try claimAt(pid, pidNamespace, "family_name")
        try expect(familyName.kind == .text && familyName.valueJson == "\"Mustermann\"",
                   "family_name \(familyName.kind) \(familyName.valueJson)")
        try expect(familyName.label == "Nachname", "family_name label \(familyName.label)")
        let over18 = try claimAt(pid, pidNamespace, "age_over_18")
        try expect(over18.kind == .bool && over18.valueJson == "true", "age_over_18 \(over18.kind) \(over18.valueJson)")
        // claimsJson: namespace → element → value.
        let claimsJson = try jsonObject(pid.claimsJson ?? "null")
        guard let namespace = claimsJson[pidNamespace] as? [String: Any] else {
            throw CheckFailed("no \(pidNamespace) in \(pid.claimsJson ?? "nil")")
        }
        try expect(namespace["family_name"] as? String == "Mustermann" && namespace["given_name"] as? String == "Erika",
                   "namespace \(namespace)")
        try expect(namespace["birth_date"] as? String == "1964-08-12" && namespace["age_over_18"] as? Bool == true,
                   "namespace \(namespace)")
        // Every element is a claim.
        let elements = claimsJson.values.reduce(0) { $0 + (($1 as? [String: Any])?.count ?? 0) }
        try expect(pid.claims.count == elements && pid.claims.allSatisfy { $0.path.count == 2 },
                   "\(pid.claims.count) claims, \(elements) elements: \(pid.claims.map { $0.path })")
    }

    await check("mdl_mdoc: portrait is bytes (base64url), driving_privileges array, birth_date date") {
        let signer = try SwiftSigner()
        let mdl = try expectMdoc(try await receiveMdoc("mdl_mdoc", trustConfig([try await trustAnchorOf(base)]), signer),
                                 "mdl_mdoc", signer)
        let portrait = try claimAt(mdl, mdlNamespace, "portrait")
        try expect(portrait.kind == .bytes, "portrait kind \(portrait.kind)")
        guard let portraitText = try jsonValue(portrait.valueJson) as? String,
              let jpeg = base64UrlDecode(portraitText) else {
            throw CheckFailed("portrait value \(portrait.valueJson)")
        }
        try expect(jpeg.count >= 2 && jpeg.prefix(2) == Data([0xff, 0xd8]), "portrait is no JPEG: \(portraitText)")
        let privileges = try claimAt(mdl, mdlNamespace, "driving_privileges")
        try expect(privileges.kind == .array, "driving_privileges kind \(privileges.kind)")
        let list = try jsonValue(privileges.valueJson) as? [Any] ?? []
        try expect((list.first as? [String: Any])?["vehicle_category_code"] != nil,
                   "driving_privileges \(privileges.valueJson)")
        let birthDate = try claimAt(mdl, mdlNamespace, "birth_date")
        try expect(birthDate.kind == .date, "birth_date kind \(birthDate.kind)")
        let claimsJson = try jsonObject(mdl.claimsJson ?? "null")
        try expect(claimsJson[mdlNamespace] is [String: Any], "no \(mdlNamespace) in \(mdl.claimsJson ?? "nil")")
    }
}
