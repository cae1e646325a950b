// The signer check of the Swift test program (Harness.swift is the harness),
// against the main issuer: a key that returns DER signatures, as
// `SecKeyCreateSignature` with `.ecdsaSignatureMessageX962SHA256` does,
// completes an issuance bound to it, and the SDK calls its `sign` on a
// thread of its own, not on the main thread that awaits the SDK's call here
// (the checks run on the main actor), which a Secure Enclave key's
// `LAContext` prompt needs free.
//
// Not here: a digest-only key. Linux has no CryptoKit or Security framework
// and swift-crypto is not available offline, and the SDK's `SoftwareSigner`
// signs messages only, so a Swift key that signs a prehashed digest
// (`.ecdsaSignatureDigestX962SHA256`) cannot be written on Linux without
// another package; the Kotlin checks (NONEwithECDSA) and the Rust tests
// (src/ffi/signer_tests.rs) cover digest-only keys.

import Foundation
import Oid4vciWallet

/// A `SwiftSigner` answering DER that records whether `sign` ran on the main thread.
final class ThreadRecordingSigner: Signer, @unchecked Sendable {
    let inner: SwiftSigner
    private let lock = NSLock()
    private var onMain: [Bool] = []
    var calledOnMain: [Bool] { lock.lock(); defer { lock.unlock() }; return onMain }

    init() throws { inner = try SwiftSigner(der: true) }

    func algorithm() -> String { inner.algorithm() }
    func publicJwk() -> String { inner.publicJwk() }
    func signsDigest() -> Bool { inner.signsDigest() }
    func sign(data: Data) throws -> Data {
        lock.lock(); onMain.append(Thread.isMainThread); lock.unlock()
        return try inner.sign(data: data)
    }
}

@MainActor
func signerChecks() async {
    await check("a signer returning DER, called off the main thread that awaits the SDK") {
        try expect(Thread.isMainThread, "the checks do not run on the main thread")
        let wallet = try newWallet(config: config())
        let offer = try await createOffer()
        let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: nil)
        let signer = try ThreadRecordingSigner()
        let credentials = try issued(try await session.requestCredential(
            wallet: wallet, configurationId: "pid_sd_jwt", signer: signer))
        try expectPid(credentials, signer.inner)
        try expect(signer.inner.calls.lastSize > 32, "the signer got \(signer.inner.calls.lastSize) bytes, not the signing input")
        let onMain = signer.calledOnMain
        try expect(!onMain.isEmpty && !onMain.contains(true), "sign ran on the main thread: \(onMain)")
    }
}
