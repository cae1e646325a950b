// The key attestation checks of the Swift test program (Harness.swift is the
// harness: the runner, the signer, the issuer's test endpoints): an issuer
// that lists `key_attestations_required` (EU PID style) refuses a wallet
// without a key attestation provider before anything is spent
// (`WalletError.Proof` with `.keyAttestationRequired`, no token request), and
// a wallet built with `WalletBuilder(config:).keyAttestations(provider:)` gets
// the credential, its Swift provider fetching each attestation from the
// issuer's trusted wallet provider (`POST /test/key-attestation`), as an app
// asks its own wallet provider. An issuer that accepts only the `attestation`
// proof type gets the provider's key attestation itself as the proof: one for a
// batch of keys, with the issuer's c_nonce.
//
// Issuers (each check skipped without its own):
//   OID4VCI_ISSUER_KEY_ATTESTATION=<url>   an issuer run with --key-attestations-required
//   OID4VCI_ISSUER_ATTESTATION_PROOF=<url> an issuer run with --key-attestation
//                                          required-with-nonce --attestation-proof-only
//                                          --batch-size 3

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

/// The app's wallet provider as a Swift `KeyAttestationProvider`: posts the
/// keys and the nonce to the issuer's `POST /test/key-attestation`
/// (synchronous: the SDK calls it on its own thread) and records what the SDK
/// asked for.
final class SwiftKeyAttestations: KeyAttestationProvider, @unchecked Sendable {
    private let issuer: String
    private let lock = NSLock()
    private var asked: [KeyAttestationRequest] = []

    init(issuer: String) { self.issuer = issuer }

    var requests: [KeyAttestationRequest] { lock.lock(); defer { lock.unlock() }; return asked }

    func keyAttestation(request: KeyAttestationRequest) throws -> String {
        lock.lock(); asked.append(request); lock.unlock()
        var urlRequest = URLRequest(url: URL(string: "\(issuer)/test/key-attestation")!)
        urlRequest.httpMethod = "POST"
        urlRequest.setValue("application/json", forHTTPHeaderField: "content-type")
        let keys = try request.keysJwk.map { try jsonObject($0) }
        urlRequest.httpBody = try JSONSerialization.data(withJSONObject: [
            "keys": keys, "nonce": request.nonce.map { $0 as Any } ?? NSNull(),
        ] as [String: Any])

        final class Box: @unchecked Sendable { var data: Data?; var response: URLResponse?; var error: Error? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: urlRequest) { data, response, error in
            box.data = data; box.response = response; box.error = error
            done.signal()
        }.resume()
        done.wait()

        if let error = box.error { throw WalletError.Signing(details: "POST /test/key-attestation: \(error)") }
        let body = String(decoding: box.data ?? Data(), as: UTF8.self)
        guard (box.response as? HTTPURLResponse)?.statusCode == 200,
              let jwt = try jsonObject(body)["key_attestation"] as? String else {
            throw WalletError.Signing(details: "POST /test/key-attestation: \(body)")
        }
        return jwt
    }
}

@MainActor
func keyAttestationChecks() async {
    let refused = "key attestations required, no provider: WalletError.Proof(keyAttestationRequired), no token request"
    let attested = "key attestations required: WalletBuilder.keyAttestations with a Swift provider, the PID issued"
    guard let keyAttestationBase = environment["OID4VCI_ISSUER_KEY_ATTESTATION"].map(trimmed) else {
        for name in [refused, attested] { skip(name, "OID4VCI_ISSUER_KEY_ATTESTATION not set") }
        return
    }

    await check(refused) {
        // A plain Wallet, and one from a WalletBuilder given no provider.
        for wallet in [try newWallet(config: config()), try newBuilder(config: config()).build()] {
            let before = try await issuerStats(keyAttestationBase)
            let offer = try await createOffer(txCode: true, issuer: keyAttestationBase)
            let resolved = try await wallet.resolveOffer(offerUrl: offer.url)
            let error = try await expectError("Proof(keyAttestationRequired)", {
                let session = try await resolved.authorize(wallet: wallet, txCode: offer.txCode)
                return try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: try SwiftSigner())
            }) {
                if case .Proof(let kind, _) = $0 { return kind == .keyAttestationRequired }
                return false
            }
            guard case .Proof(_, let details) = error else { throw CheckFailed("expected Proof, got \(error)") }
            try expect(details.contains("key attestation"), "details: \(details)")
            let after = try await issuerStats(keyAttestationBase)
            func delta(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
            try expect(delta("/token") == 0 && delta("/credential") == 0, "requests were sent: \(after)")
        }
    }

    await check(attested) {
        let before = try await issuerStats(keyAttestationBase)
        let provider = SwiftKeyAttestations(issuer: keyAttestationBase)
        let wallet = try newBuilder(config: config()).keyAttestations(provider: provider).build()
        let offer = try await createOffer(txCode: true, issuer: keyAttestationBase)
        let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: offer.txCode)
        let signer = try SwiftSigner()
        try expectPid(try issued(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
        guard let request = provider.requests.last else { throw CheckFailed("the provider was not asked") }
        try expect(request.keyStorage == ["iso_18045_high"], "keyStorage \(request.keyStorage)")
        try expect(request.userAuthentication == ["iso_18045_high"], "userAuthentication \(request.userAuthentication)")
        try expect(request.nonce != nil, "no nonce")
        try expect(request.credentialIssuer == keyAttestationBase, "credentialIssuer \(request.credentialIssuer)")
        let keys = try request.keysJwk.map { try jsonObject($0) }
        try expect(keys.count == 1 && keys[0]["x"] as? String == signer.x, "keysJwk \(request.keysJwk)")
        let after = try await issuerStats(keyAttestationBase)
        func delta(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
        try expect(delta("key_attestations_accepted") >= 1, "no key attestation accepted: \(after)")
        try expect(delta("key_attestations_rejected") == 0, "key attestations rejected: \(after)")
    }
}

/// The attestation proof type (an issuer run with --attestation-proof-only): a batch under one key attestation.
@MainActor
func attestationProofChecks() async {
    let name = "attestation proof type only, nonce required: a batch of 3 PIDs under one key attestation "
        + "from a Swift provider"
    guard let attestationProofBase = environment["OID4VCI_ISSUER_ATTESTATION_PROOF"].map(trimmed) else {
        skip(name, "OID4VCI_ISSUER_ATTESTATION_PROOF not set")
        return
    }
    await check(name) {
        let before = try await issuerStats(attestationProofBase)
        let provider = SwiftKeyAttestations(issuer: attestationProofBase)
        let wallet = try newBuilder(config: config()).keyAttestations(provider: provider).build()
        let offer = try await createOffer(txCode: true, issuer: attestationProofBase)
        let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: offer.txCode)
        let signers = try (0..<3).map { _ in try SwiftSigner() }
        let credentials = try issued(try await session.requestCredentials(
            wallet: wallet, configurationId: "pid_sd_jwt", signers: signers))
        try expect(credentials.count == 3, "expected 3 credentials, got \(credentials.count)")
        for pid in credentials {
            try expect(pid.configurationId == "pid_sd_jwt" && pid.format == "dc+sd-jwt", "\(pid.configurationId) \(pid.format)")
            try expect(pid.signatureVerified, "issuer signature not verified")
            let claims = try jsonObject(pid.claimsJson ?? "null")
            try expect(claims["given_name"] as? String == "Erika", "given_name in \(claims)")
        }
        // Each credential bound to one of the keys, each key to one credential.
        let keys = Set(signers.map { $0.x })
        let bound = Set(try credentials.map { try jsonObject($0.holderJwk ?? "null")["x"] as? String ?? "" })
        try expect(bound == keys, "bound to \(bound), the keys are \(keys)")
        let requests = provider.requests
        try expect(requests.count == 1, "the provider was asked \(requests.count) times")
        let request = requests[0]
        try expect(request.nonce != nil, "no nonce")
        try expect(request.credentialIssuer == attestationProofBase, "credentialIssuer \(request.credentialIssuer)")
        let asked = Set(try request.keysJwk.map { try jsonObject($0)["x"] as? String ?? "" })
        try expect(request.keysJwk.count == 3 && asked == keys, "keysJwk \(request.keysJwk)")
        let after = try await issuerStats(attestationProofBase)
        func delta(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
        try expect(delta("key_attestations_accepted") >= 1, "no key attestation accepted: \(after)")
        try expect(delta("key_attestations_rejected") == 0, "key attestations rejected: \(after)")
        try expect(delta("/credential") == 1, "credential requests: \(delta("/credential")) (\(after))")
    }
}
