// Runs the generated Swift bindings for real against the reference issuer
// (tests/issuer), as an iOS app would use them: a Swift signer, a Swift HTTP
// client (URLSession), typed errors, sessions saved as strings.
//
// Usage: wallet-test <issuer base URL>   (or OID4VCI_ISSUER=<url>)
// Prints one line per check, then `N passed, M failed`; exits 1 on a failure.
// bindings/test-swift builds it (against the Oid4vciWallet module compiled
// from the generated bindings) and runs it in the Debian trixie chroot.
//
// Linux has no CryptoKit or Security framework (and swift-crypto is not
// available offline), so the Swift signer keeps its P-256 key in the SDK's
// exported `SoftwareSigner` and does the rest itself: it is still a Swift
// object implementing the `Signer` protocol that the SDK calls back, exactly
// where an app would call `SecKeyCreateSignature` on a Secure Enclave key.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet

setvbuf(stdout, nil, _IOLBF, 0)

// --- helpers ----------------------------------------------------------------------

struct CheckFailed: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CheckFailed(message()) }
}

func jsonObject(_ text: String) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
        throw CheckFailed("not a JSON object: \(text)")
    }
    return object
}

/// A Locked counter/list: the SDK calls signers and HTTP clients from its own threads.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    private var last = -1
    func record(_ size: Int = 0) { lock.lock(); count += 1; last = size; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    var lastSize: Int { lock.lock(); defer { lock.unlock() }; return last }
}

// --- a signer in Swift --------------------------------------------------------------

/// DER encoding of an ECDSA signature (what `SecKeyCreateSignature` returns
/// for `.ecdsaSignatureMessageX962SHA256`) from raw R||S.
func rawToDer(_ raw: Data) -> Data {
    func integer(_ bytes: Data) -> [UInt8] {
        var b = Array(bytes.drop(while: { $0 == 0 }))
        if b.isEmpty { b = [0] }
        if b[0] & 0x80 != 0 { b.insert(0, at: 0) }
        return [0x02, UInt8(b.count)] + b
    }
    let half = raw.count / 2
    let body = integer(raw.prefix(half)) + integer(raw.suffix(half))
    return Data([0x30, UInt8(body.count)] + body)
}

/// A P-256 signer implemented in Swift. `der: true` returns DER signatures, as
/// Apple's SecKey API does; the SDK converts them.
final class SwiftSigner: Signer, @unchecked Sendable {
    private let key = SoftwareSigner.generate()
    private let der: Bool
    let calls = Counter()
    let x: String
    let y: String

    init(der: Bool = false) throws {
        self.der = der
        let jwk = try jsonObject(key.publicJwk())
        x = jwk["x"] as? String ?? ""
        y = jwk["y"] as? String ?? ""
    }

    func algorithm() -> String { "ES256" }
    func publicJwk() -> String { #"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)"}"# }
    func signsDigest() -> Bool { false }

    func sign(data: Data) throws -> Data {
        calls.record(data.count)
        let raw = try key.sign(data: data)
        guard raw.count == 64 else { throw WalletError.Signing(details: "raw signature of \(raw.count) bytes") }
        return der ? rawToDer(raw) : raw
    }
}

// --- an HTTP stack of the app's -------------------------------------------------------

/// URLSession as the app's HTTP stack: synchronous (the SDK calls `send` on a
/// background thread), no redirects, counts its requests.
final class SwiftHttpClient: NSObject, HttpClient, URLSessionTaskDelegate, @unchecked Sendable {
    let requests = Counter()
    private var session: URLSession!

    override init() {
        super.init()
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: configuration, delegate: self, delegateQueue: nil)
    }

    // Hand 3xx responses to the SDK instead of following them.
    func urlSession(_ session: URLSession, task: URLSessionTask,
                    willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest,
                    completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func send(request: HttpRequest) throws -> HttpResponse {
        requests.record()
        guard let url = URL(string: request.url) else { throw HttpClientError.Other(details: "bad URL") }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = request.method
        for header in request.headers {
            urlRequest.addValue(header.value, forHTTPHeaderField: header.name)
        }
        if !request.body.isEmpty { urlRequest.httpBody = request.body }

        final class Box: @unchecked Sendable { var data: Data?; var response: URLResponse?; var error: Error? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        session.dataTask(with: urlRequest) { data, response, error in
            box.data = data; box.response = response; box.error = error
            done.signal()
        }.resume()
        done.wait()

        if let error = box.error as? URLError {
            switch error.code {
            case .timedOut: throw HttpClientError.Timeout
            case .cannotConnectToHost, .cannotFindHost, .networkConnectionLost:
                throw HttpClientError.Connect(details: "\(error.code)")
            default: throw HttpClientError.Other(details: "\(error.code)")
            }
        }
        if let error = box.error { throw HttpClientError.Other(details: "\(error)") }
        guard let response = box.response as? HTTPURLResponse else {
            throw HttpClientError.Other(details: "no HTTP response")
        }
        let headers = response.allHeaderFields.map { name, value in
            HttpHeader(name: "\(name)", value: "\(value)")
        }
        return HttpResponse(status: UInt16(response.statusCode), headers: headers, body: box.data ?? Data())
    }
}

// --- the issuer's test endpoints ------------------------------------------------------

let arguments = CommandLine.arguments
guard let baseArgument = arguments.count > 1 ? arguments[1] : ProcessInfo.processInfo.environment["OID4VCI_ISSUER"] else {
    FileHandle.standardError.write(Data("usage: wallet-test <issuer base URL> (or OID4VCI_ISSUER)\n".utf8))
    exit(2)
}
let base = baseArgument.hasSuffix("/") ? String(baseArgument.dropLast()) : baseArgument

struct Offer { let url: String; let txCode: String? }

func createOffer(configuration: String = "pid_sd_jwt", txCode: Bool = false,
                 byReference: Bool = false, deferred: Bool = false) async throws -> Offer {
    var request = URLRequest(url: URL(string: "\(base)/test/offers")!)
    request.httpMethod = "POST"
    request.setValue("application/json", forHTTPHeaderField: "content-type")
    request.httpBody = try JSONSerialization.data(withJSONObject: [
        "credential_configuration_ids": [configuration], "tx_code": txCode,
        "by_reference": byReference, "deferred": deferred,
    ])
    let (data, response) = try await URLSession.shared.data(for: request)
    let body = String(decoding: data, as: UTF8.self)
    try expect((response as? HTTPURLResponse)?.statusCode == 200, "POST /test/offers: \(body)")
    let json = try jsonObject(body)
    guard let url = json["offer_url"] as? String else { throw CheckFailed("no offer_url in \(body)") }
    return Offer(url: url, txCode: json["tx_code"] as? String)
}

/// Requests the issuer has seen (`/test/...` not counted).
func issuerRequestCount() async throws -> Int {
    let (data, _) = try await URLSession.shared.data(from: URL(string: "\(base)/test/stats")!)
    return try jsonObject(String(decoding: data, as: UTF8.self)).values.reduce(0) { $0 + (($1 as? Int) ?? 0) }
}

// --- a minimal test runner --------------------------------------------------------------

var passed = 0
var failed = 0

@MainActor
func check(_ name: String, _ body: () async throws -> Void) async {
    let start = Date()
    do {
        try await body()
        passed += 1
        print("ok    \(name) (\(Int(Date().timeIntervalSince(start) * 1000)) ms)")
    } catch {
        failed += 1
        print("FAIL  \(name): \(error)")
    }
}

/// Runs `body`, expecting a `WalletError` that `matches`; returns it.
@discardableResult
func expectError<T>(_ what: String, _ body: () async throws -> T,
                    _ matches: (WalletError) -> Bool) async throws -> WalletError {
    do {
        _ = try await body()
    } catch let error as WalletError {
        try expect(matches(error), "expected \(what), got \(error)")
        return error
    }
    throw CheckFailed("expected \(what), nothing was thrown")
}

// --- the checks -----------------------------------------------------------------------------

let locales = ["de-DE", "en"]
func config() -> WalletConfig { WalletConfig(locales: locales, dangerousAllowHttp: true) }

func issued(_ issuance: Issuance) throws -> [Credential] {
    switch issuance {
    case .issued(let credentials): return credentials
    case .deferred: throw CheckFailed("expected an issued credential, got a deferred one")
    }
}

func deferred(_ issuance: Issuance) throws -> DeferredCredential {
    switch issuance {
    case .deferred(let pending): return pending
    case .issued: throw CheckFailed("expected a deferred credential, got an issued one")
    }
}

/// The PID: given_name Erika (labelled "Vorname" in German), bound to `signer`'s key.
func expectPid(_ credentials: [Credential], _ signer: SwiftSigner) throws {
    try expect(credentials.count == 1, "expected one credential, got \(credentials.count)")
    let pid = credentials[0]
    try expect(pid.configurationId == "pid_sd_jwt", "configuration \(pid.configurationId)")
    try expect(pid.format == "dc+sd-jwt", "format \(pid.format)")
    try expect(pid.signatureVerified, "issuer signature not verified")
    let claims = try jsonObject(pid.claimsJson ?? "null")
    try expect(claims["given_name"] as? String == "Erika", "given_name in \(claims)")
    try expect(claims["family_name"] as? String == "Mustermann", "family_name in \(claims)")
    let label = pid.claims.first { $0.valueJson == "\"Erika\"" }?.label
    try expect(label == "Vorname", "label of Erika: \(label ?? "none") (claims \(pid.claims))")
    let jwk = try jsonObject(pid.holderJwk ?? "null")
    try expect(jwk["x"] as? String == signer.x && jwk["y"] as? String == signer.y,
               "credential bound to \(jwk), not to the signer's key")
    try expect(signer.calls.value >= 1, "the Swift signer was not called")
}

print("Swift bindings against \(base)")
let wallet = try Wallet(config: config())

await check("pre-authorized with tx_code, Swift signer, display in de") {
    let offer = try await createOffer(txCode: true)
    let resolved = try await wallet.resolveOffer(offerUrl: offer.url)
    try expect(resolved.issuerId() == base, "issuer \(resolved.issuerId())")
    try expect(resolved.grants() == [.preAuthorized], "grants \(resolved.grants())")
    guard let txCode = resolved.txCode() else { throw CheckFailed("no tx_code spec") }
    try expect(txCode.inputMode == .numeric && txCode.length == 6, "tx_code spec \(txCode)")
    let offered = resolved.credentials()
    try expect(offered.count == 1 && offered[0].configurationId == "pid_sd_jwt", "offered \(offered)")
    try expect(offered[0].display?.name == "Personalausweis", "display \(String(describing: offered[0].display))")
    let session = try await resolved.authorize(wallet: wallet, txCode: offer.txCode)
    let ids = await session.credentialConfigurationIds()
    try expect(ids.contains("pid_sd_jwt"), "ids \(ids)")
    let signer = try SwiftSigner()
    let credentials = try issued(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer))
    try expectPid(credentials, signer)
    try expect(signer.calls.lastSize > 32, "the signer got \(signer.calls.lastSize) bytes, not the signing input")
    if let notificationId = credentials[0].notificationId {
        try await session.notify(wallet: wallet, notificationId: notificationId, event: .credentialAccepted)
    }
    // The pre-authorized code is single use.
    try await expectError("InvalidState", { try await resolved.authorize(wallet: wallet, txCode: offer.txCode) }) {
        if case .InvalidState(let details) = $0 { return details.contains("already") }
        return false
    }
}

await check("signer that returns DER, like SecKeyCreateSignature") {
    let offer = try await createOffer()
    let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: nil)
    let signer = try SwiftSigner(der: true)
    try expectPid(try issued(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
}

await check("deferred issuance: poll, then poll until ready") {
    let offer = try await createOffer(deferred: true)
    let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: nil)
    let signer = try SwiftSigner()
    let pending = try deferred(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer))
    let interval = await pending.intervalMs()
    try expect(interval > 0, "interval \(interval)")
    switch try await pending.poll(wallet: wallet) {
    case .pending(let intervalMs): try expect(intervalMs > 0, "pending interval \(intervalMs)")
    case .issued: throw CheckFailed("issued on the first poll; the issuer answers pending first")
    }
    try expectPid(try await pending.pollUntilReady(wallet: wallet, deadlineMs: 30_000), signer)
}

await check("wrong tx_code throws WalletError.TxCodeRejected (invalid_grant)") {
    let offer = try await createOffer(txCode: true)
    let resolved = try await wallet.resolveOffer(offerUrl: offer.url)
    let wrong = offer.txCode == "000000" ? "111111" : "000000"
    try await expectError("TxCodeRejected naming invalid_grant", { try await resolved.authorize(wallet: wallet, txCode: wrong) }) {
        if case .TxCodeRejected(let details) = $0 { return details.contains("invalid_grant") }
        return false
    }
}

await check("invalid offer URL throws WalletError.InvalidOffer") {
    for url in ["openid-credential-offer://?nothing=here", "not a url", "openid-credential-offer://?credential_offer=%7Bnope"] {
        try await expectError("InvalidOffer for \(url)", { try await wallet.resolveOffer(offerUrl: url) }) {
            if case .InvalidOffer = $0 { return true }
            return false
        }
    }
}

await check("offer by reference used twice throws WalletError.OfferExpiredOrUsed") {
    let offer = try await createOffer(byReference: true)
    try expect(offer.url.contains("credential_offer_uri"), "not by reference: \(offer.url)")
    _ = try await wallet.resolveOffer(offerUrl: offer.url)
    try await expectError("OfferExpiredOrUsed", { try await wallet.resolveOffer(offerUrl: offer.url) }) {
        if case .OfferExpiredOrUsed = $0 { return true }
        return false
    }
}

await check("unreachable issuer throws WalletError.Network") {
    let json = #"{"credential_issuer":"http://127.0.0.1:9","credential_configuration_ids":["pid_sd_jwt"],"#
        + #""grants":{"urn:ietf:params:oauth:grant-type:pre-authorized_code":{"pre-authorized_code":"x"}}}"#
    let url = "openid-credential-offer://?credential_offer="
        + json.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
    try await expectError("Network", { try await wallet.resolveOffer(offerUrl: url) }) {
        if case .Network = $0 { return true }
        return false
    }
}

await check("save an authorized session, restore it in a fresh Wallet, finish it") {
    let offer = try await createOffer(txCode: true)
    let saved = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: offer.txCode).toJson()
    try expect(saved.contains("pid_sd_jwt"), "saved session: no configuration id")
    let freshWallet = try Wallet(config: config())
    let restored = try AuthorizedSession.fromJson(json: saved, locales: locales)
    let issuer = await restored.issuerId()
    try expect(issuer == base, "restored issuer \(issuer)")
    let signer = try SwiftSigner()
    try expectPid(try issued(try await restored.requestCredential(wallet: freshWallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
    try await expectError("InvalidState", { try AuthorizedSession.fromJson(json: "{not json", locales: locales) }) {
        if case .InvalidState = $0 { return true }
        return false
    }
}

await check("save a deferred transaction, restore it in a fresh Wallet, finish it") {
    let offer = try await createOffer(deferred: true)
    let session = try await wallet.resolveOffer(offerUrl: offer.url).authorize(wallet: wallet, txCode: nil)
    let signer = try SwiftSigner()
    let saved = try await deferred(try await session.requestCredential(wallet: wallet, configurationId: "pid_sd_jwt", signer: signer)).toJson()
    let freshWallet = try Wallet(config: config())
    let restored = try DeferredCredential.fromJson(json: saved, locales: locales)
    try expectPid(try await restored.pollUntilReady(wallet: freshWallet, deadlineMs: 30_000), signer)
}

await check("full issuance through a Swift HttpClient (URLSession, no redirects)") {
    let client = SwiftHttpClient()
    let appWallet = try Wallet.withHttpClient(config: config(), httpClient: client)
    let before = try await issuerRequestCount()
    let offer = try await createOffer(txCode: true, byReference: true)
    let resolved = try await appWallet.resolveOffer(offerUrl: offer.url)
    try expect(resolved.credentials().first?.display?.name == "Personalausweis", "display")
    let session = try await resolved.authorize(wallet: appWallet, txCode: offer.txCode)
    let signer = try SwiftSigner()
    try expectPid(try issued(try await session.requestCredential(wallet: appWallet, configurationId: "pid_sd_jwt", signer: signer)), signer)
    let seen = try await issuerRequestCount() - before
    try expect(client.requests.value >= 4, "only \(client.requests.value) requests went through the Swift client")
    try expect(seen == client.requests.value, "the issuer saw \(seen) requests, the Swift client sent \(client.requests.value)")
}

print("\(passed) passed, \(failed) failed")
exit(failed == 0 ? 0 : 1)
