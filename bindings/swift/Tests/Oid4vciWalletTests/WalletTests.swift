// The Swift binding test: runs the generated Swift bindings (the package's
// Oid4vciWallet module) for real against the reference issuer (tests/issuer),
// as an iOS app would use them: a Swift signer, a Swift HTTP client
// (URLSession), typed errors, sessions saved as strings.
//
// `swift test` runs it (bindings/test-swift does, in the Debian trixie chroot,
// with the issuers it starts). The issuers, from the environment:
//   OID4VCI_ISSUER=<url>               the main one (without it the test is skipped)
//   OID4VCI_ISSUER_DPOP: see DpopChecks.swift (the DPoP key store checks in
//                        DpopKeyChecks.swift use it too)
//   OID4VCI_ISSUER_ATTESTATION: see WalletAttestationChecks.swift
//   OID4VCI_ISSUER_HTTPS, OID4VCI_ISSUER_HTTPS_CERT, OID4VCI_ISSUER_HTTPS_OFFER: see HttpsChecks.swift
//   OID4VCI_ISSUER_X5C, OID4VCI_ISSUER_X5C_SELF_SIGNED: see TrustChecks.swift
//   OID4VCI_ISSUER_KEY_ATTESTATION, OID4VCI_ISSUER_ATTESTATION_PROOF: see KeyAttestationChecks.swift
// (checks whose issuer is not given are skipped). The harness (signer, HTTP
// client, issuer endpoints, browser, runner) is Harness.swift; each flow has a
// file of checks, called here in order. Prints one line per check, then
// `N passed, M failed`; each failed check is also an XCTest failure.
//
// Linux has no CryptoKit or Security framework (and swift-crypto is not
// available offline), so the Swift signer keeps its P-256 key in the SDK's
// exported `SoftwareSigner` and does the rest itself: it is still a Swift
// object implementing the `Signer` protocol that the SDK calls back, exactly
// where an app would call `SecKeyCreateSignature` on a Secure Enclave key.

import Foundation
import Oid4vciWallet
import XCTest

final class WalletTests: XCTestCase {
    func testBindingsAgainstTheReferenceIssuers() async throws {
        guard !base.isEmpty else {
            throw XCTSkip("OID4VCI_ISSUER not set (bindings/test-swift starts the issuers and sets it)")
        }
        try await runChecks()
    }
}

/// Every flow's checks, in order, then the summary line.
@MainActor
func runChecks() async throws {
    setvbuf(stdout, nil, _IOLBF, 0)
    print("Swift bindings against \(base)")
    let wallet = try newWallet(config: config())

    await preAuthorizedChecks(wallet)
    await deferredChecks(wallet)
    await errorChecks(wallet)
    await savedSessionChecks(wallet)
    await httpClientChecks()
    await authorizationCodeChecks()
    await dpopChecks()
    await walletAttestationChecks()
    await httpsChecks()
    await trustChecks()
    await mdocChecks()
    await keyAttestationChecks()
    await attestationProofChecks()
    await dpopKeyChecks()
    await resumeChecks()
    await cancellationChecks(wallet)
    await signerChecks()
    await batchChecks(wallet)

    print("\(passed) passed, \(failed) failed")
    XCTAssertEqual(failed, 0, "\(failed) of \(passed + failed) checks failed")
}
