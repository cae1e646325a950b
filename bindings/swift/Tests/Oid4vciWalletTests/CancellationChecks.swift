// The cancellation checks of the Swift test program (Harness.swift is the
// harness). UniFFI 0.32's Swift bindings await a Rust future with
// `withUnsafeContinuation` and no cancellation handler (the generated
// `uniffiRustCallAsync` never calls `rust_future_cancel`), so `Task.cancel()`
// does not reach the SDK: the call runs to its end, its requests reach the
// issuer, and it returns its result (or error) as if nothing happened. These
// checks pin that down against an issuer whose every answer waits 3 s:
//   - Task.cancel() during resolveOffer: the call returns the offer ~6 s
//     later (the issuer's metadata, in full);
//   - Task.cancel() during authorize: the token request reaches the issuer
//     (its answer, for this never-issued code, comes 3 s later);
// and what does work: any call given a `Cancellation` wired to Task
// cancellation with `withTaskCancellationHandler { ... } onCancel: {
// cancel.cancel() }` ends with WalletError.Cancelled within 1 s (resolveOffer,
// authorize), a deferred wait wired to Task cancellation with
// `withTaskCancellationHandler { ... } onCancel: { pending.cancel() }` ends
// with WalletError.Cancelled within 1 s (that object's waits stay cancelled:
// restore it from toJson() to wait again), and the wallet issues a
// credential afterwards.
//
// Issuer (skipped without it):
//   OID4VCI_ISSUER_SLOW=<url>   an issuer run with --latency-ms 3000

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

/// When the app gives up on a call.
let cancelAfterNanoseconds: UInt64 = 200_000_000
/// How long after the cancel a cancelled call may take to end, in seconds.
let cancelBound: TimeInterval = 1.0

/// Milliseconds since `start`.
func msSince(_ start: Date) -> Int { Int(Date().timeIntervalSince(start) * 1000) }

/// An offer by value for `issuer` whose pre-authorized code is never
/// redeemed: resolving it fetches the issuer's metadata, authorizing it sends
/// a token request that the issuer refuses.
func offerByValue(_ issuer: String) -> String {
    let json = #"{"credential_issuer":"\#(issuer)","credential_configuration_ids":["pid_sd_jwt"],"#
        + #""grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":"#
        + #"{"pre-authorized_code":"never-issued"}}}"#
    return "openid-credential-offer://?credential_offer=\(formEncode(json))"
}

/// Starts `call` in a Task, cancels the Task after 200 ms, and returns the
/// Task's result and how long after the cancel it came.
func cancelTask<T: Sendable>(_ call: @escaping @Sendable () async throws -> T) async throws -> (Result<T, Error>, Int) {
    let task = Task { try await call() }
    try await Task.sleep(nanoseconds: cancelAfterNanoseconds)
    task.cancel()
    let cancelled = Date()
    let result = await task.result
    return (result, msSince(cancelled))
}

@MainActor
func cancellationChecks(_ wallet: Wallet) async {
    let names = [
        "Task.cancel() during resolveOffer (issuer answering in 3 s) does NOT stop it: the offer comes back seconds later",
        "Task.cancel() during authorize (issuer answering in 3 s) does NOT stop it: the token request reaches the issuer",
        "Task.cancel() wired to DeferredCredential.cancel() (withTaskCancellationHandler) ends a deferred wait within 1 s",
        "Task.cancel() wired to a Cancellation (withTaskCancellationHandler) stops resolveOffer within 1 s with Cancelled",
        "Task.cancel() wired to a Cancellation stops authorize within 1 s with Cancelled, and the offer can be authorized again",
        "after the cancellations the same wallet issues a credential (main issuer)",
    ]
    guard let slow = environment["OID4VCI_ISSUER_SLOW"].map(trimmed) else {
        for name in names { skip(name, "OID4VCI_ISSUER_SLOW not set") }
        return
    }
    let offerUrl = offerByValue(slow)
    var slowOffer: ResolvedOffer?

    await check(names[0]) {
        let (result, after) = try await cancelTask { try await wallet.resolveOffer(offerUrl: offerUrl) }
        let offer = try result.get()
        try expect(offer.issuerId() == slow, "issuer \(offer.issuerId())")
        try expect(after > 1000, "resolveOffer ended \(after) ms after Task.cancel(): the bindings cancel now; " +
            "update this check, the next one and the README")
        slowOffer = offer
        print("      (Task.cancel() had no effect: the offer came \(after) ms after it)")
    }

    await check(names[1]) {
        guard let offer = slowOffer else { throw CheckFailed("no offer from the slow issuer (previous check)") }
        let (result, after) = try await cancelTask { try await offer.authorize(wallet: wallet, txCode: nil) }
        switch result {
        case .success: throw CheckFailed("a never-issued code was accepted")
        case .failure(let error as WalletError):
            // The issuer's answer to a code it never issued: the request
            // carried no transaction code, so it is the server's
            // invalid_grant, not a refused code.
            guard case .Server(let code, _, _, _) = error, code == "invalid_grant" else {
                throw CheckFailed("authorize: \(error)")
            }
        case .failure(let error): throw CheckFailed("authorize: \(error)")
        }
        try expect(after > 1000, "authorize ended \(after) ms after Task.cancel(): the bindings cancel now; " +
            "update this check and the README")
        let tokenRequests = try await issuerStats(slow)["/token"] ?? 0
        try expect(tokenRequests == 1, "the slow issuer handled \(tokenRequests) token requests, not the 1 cancelled")
        print("      (Task.cancel() had no effect: the issuer's answer came \(after) ms after it)")
    }

    await check(names[2]) {
        let offer = try await createOffer(deferred: true)
        let signer = try SwiftSigner()
        let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: nil)
        let pending = try deferred(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer))
        let (result, after) = try await cancelTask {
            try await withTaskCancellationHandler {
                try await pending.pollUntilReady(wallet: wallet, deadlineMs: 30_000)
            } onCancel: {
                pending.cancel()
            }
        }
        switch result {
        case .failure(let error as WalletError):
            guard case .Cancelled = error else { throw CheckFailed("pollUntilReady after the cancel: \(error)") }
        case .failure(let error): throw CheckFailed("pollUntilReady after the cancel: \(error)")
        case .success: throw CheckFailed("pollUntilReady finished despite the cancel")
        }
        try expect(Double(after) / 1000 < cancelBound, "pollUntilReady ended \(after) ms after the cancel")
        // cancel() is for good on this object: its next wait ends at once.
        let again = Date()
        try await expectError("Cancelled", { try await pending.pollUntilReady(wallet: wallet, deadlineMs: 30_000) }) {
            if case .Cancelled = $0 { return true } else { return false }
        }
        try expect(Double(msSince(again)) / 1000 < cancelBound, "the second wait took \(msSince(again)) ms")
        // The transaction is not: restored from toJson() it is issued.
        let restored = try DeferredCredential.fromJson(json: try await pending.toJson(), locales: locales)
        try expectPid(try await restored.pollUntilReady(wallet: wallet, deadlineMs: 30_000), signer)
        print("      (the wait ended \(after) ms after Task.cancel())")
    }

    await check(names[3]) {
        let cancel = Cancellation()
        let (result, after) = try await cancelTask {
            try await withTaskCancellationHandler {
                try await wallet.resolveOffer(offerUrl: offerUrl, cancel: cancel)
            } onCancel: {
                cancel.cancel()
            }
        }
        switch result {
        case .failure(let error as WalletError):
            guard case .Cancelled = error else { throw CheckFailed("resolveOffer after the cancel: \(error)") }
        case .failure(let error): throw CheckFailed("resolveOffer after the cancel: \(error)")
        case .success: throw CheckFailed("resolveOffer finished despite the cancel")
        }
        try expect(Double(after) / 1000 < cancelBound, "resolveOffer ended \(after) ms after the cancel")
        try expect(cancel.isCancelled(), "the handle says it was cancelled")
        print("      (resolveOffer ended \(after) ms after Task.cancel())")
    }

    await check(names[4]) {
        guard let offer = slowOffer else { throw CheckFailed("no offer from the slow issuer (first check)") }
        let cancel = Cancellation()
        let (result, after) = try await cancelTask {
            try await withTaskCancellationHandler {
                try await offer.authorize(wallet: wallet, txCode: nil, cancel: cancel)
            } onCancel: {
                cancel.cancel()
            }
        }
        switch result {
        case .failure(let error as WalletError):
            guard case .Cancelled = error else { throw CheckFailed("authorize after the cancel: \(error)") }
        case .failure(let error): throw CheckFailed("authorize after the cancel: \(error)")
        case .success: throw CheckFailed("authorize finished despite the cancel")
        }
        try expect(Double(after) / 1000 < cancelBound, "authorize ended \(after) ms after the cancel")
        // Not marked authorized: the next call is sent (and refused by the
        // issuer for this never-issued code), not refused as a second use.
        do {
            _ = try await offer.authorize(wallet: wallet, txCode: nil)
            throw CheckFailed("a never-issued code was accepted")
        } catch let error as WalletError {
            guard case .Server(let code, _, _, _) = error, code == "invalid_grant" else {
                throw CheckFailed("authorize again: \(error)")
            }
        }
        print("      (authorize ended \(after) ms after Task.cancel())")
    }

    await check(names[5]) {
        let offer = try await createOffer(txCode: true)
        let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: offer.txCode)
        let signer = try SwiftSigner()
        try expectPid(try issued(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
    }
}
