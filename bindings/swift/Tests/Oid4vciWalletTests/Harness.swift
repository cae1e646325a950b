// The harness of the Swift binding test (bindings/swift/Tests/Oid4vciWalletTests,
// the test target of Package.swift): the Swift signer and HTTP client, the
// reference issuer's test endpoints, the user in the browser, the runner
// (`check`, `skip`, `expectError`) and what the checks share. Each flow has
// a file of checks (PreAuthorizedChecks.swift, ..., ResumeChecks.swift) that
// WalletTests.swift, the entry point, calls in order.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Oid4vciWallet
import XCTest

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

/// A locked list of request paths.
final class PathLog: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: [String] = []
    func add(_ path: String) { lock.lock(); paths.append(path); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return paths }
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
    /// The paths of the requests that carried a Wallet Attestation and its PoP.
    let attestedPaths = PathLog()
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
        let names = Set(request.headers.map { $0.name.lowercased() })
        if names.contains("oauth-client-attestation") && names.contains("oauth-client-attestation-pop") {
            attestedPaths.add(url.path)
        }
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

let environment = ProcessInfo.processInfo.environment
func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

/// The main issuer: OID4VCI_ISSUER (WalletTests.swift skips the test without it).
let base: String = trimmed(environment["OID4VCI_ISSUER"] ?? "")

struct Offer { let url: String; let txCode: String? }

/// Creates an offer at `issuer` (the main one unless given).
func createOffer(configuration: String = "pid_sd_jwt", txCode: Bool = false,
                 byReference: Bool = false, deferred: Bool = false,
                 authorizationCode: Bool = false, issuer: String = base) async throws -> Offer {
    var request = URLRequest(url: URL(string: "\(issuer)/test/offers")!)
    request.httpMethod = "POST"
    request.setValue("application/json", forHTTPHeaderField: "content-type")
    request.httpBody = try JSONSerialization.data(withJSONObject: [
        "credential_configuration_ids": [configuration], "tx_code": txCode,
        "by_reference": byReference, "deferred": deferred, "authorization_code": authorizationCode,
    ])
    let (data, response) = try await URLSession.shared.data(for: request)
    let body = String(decoding: data, as: UTF8.self)
    try expect((response as? HTTPURLResponse)?.statusCode == 200, "POST /test/offers: \(body)")
    let json = try jsonObject(body)
    guard let url = json["offer_url"] as? String else { throw CheckFailed("no offer_url in \(body)") }
    return Offer(url: url, txCode: json["tx_code"] as? String)
}

/// The issuer's counters (`GET /test/stats`): requests per path, and the DPoP
/// counters when it requires DPoP.
func issuerStats(_ issuer: String = base) async throws -> [String: Int] {
    let (data, _) = try await URLSession.shared.data(from: URL(string: "\(issuer)/test/stats")!)
    return try jsonObject(String(decoding: data, as: UTF8.self)).compactMapValues { $0 as? Int }
}

/// A Wallet Attestation for `jwk` (the app instance's public key) naming
/// `clientId`, from the issuer's built-in wallet provider
/// (`POST /test/wallet-attestation`), as an app gets one from its wallet provider.
func walletAttestation(_ issuer: String, clientId: String, jwk: String, lifetimeSecs: Int = 3600) async throws -> String {
    var request = URLRequest(url: URL(string: "\(issuer)/test/wallet-attestation")!)
    request.httpMethod = "POST"
    request.setValue("application/json", forHTTPHeaderField: "content-type")
    request.httpBody = try JSONSerialization.data(withJSONObject: [
        "client_id": clientId, "jwk": try jsonObject(jwk), "lifetime_secs": lifetimeSecs,
    ] as [String: Any])
    let (data, response) = try await URLSession.shared.data(for: request)
    let body = String(decoding: data, as: UTF8.self)
    try expect((response as? HTTPURLResponse)?.statusCode == 200, "POST /test/wallet-attestation: \(body)")
    guard let jwt = try jsonObject(body)["wallet_attestation"] as? String else {
        throw CheckFailed("no wallet_attestation in \(body)")
    }
    return jwt
}

/// Requests the issuer has seen (`/test/...` not counted).
func issuerRequestCount() async throws -> Int {
    try await issuerStats().values.reduce(0, +)
}

// --- the user in the browser --------------------------------------------------------

/// The value of the first `attr="..."` after `after` in an HTML page.
func attribute(_ html: String, after: String, _ attr: String) throws -> String {
    guard let start = html.range(of: after) else { throw CheckFailed("no \(after) in \(html)") }
    guard let key = html.range(of: "\(attr)=\"", range: start.upperBound..<html.endIndex),
          let end = html.range(of: "\"", range: key.upperBound..<html.endIndex) else {
        throw CheckFailed("no \(attr) after \(after) in \(html)")
    }
    return html[key.upperBound..<end.lowerBound].replacingOccurrences(of: "&amp;", with: "&")
}

func formEncode(_ text: String) -> String {
    var allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
}

/// A browser on URLSession that does not follow redirects: the app gets the
/// redirect URL (as `ASWebAuthenticationSession` hands it back), not the AS.
final class Browser: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
    private var session: URLSession!

    override init() {
        super.init()
        session = URLSession(configuration: .ephemeral, delegate: self, delegateQueue: nil)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask,
                    willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest,
                    completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    /// GET `url`, or POST `form` to it; the response and its body as text.
    func load(_ url: String, form: [(String, String)]? = nil) async throws -> (HTTPURLResponse, String) {
        guard let target = URL(string: url) else { throw CheckFailed("not a URL: \(url)") }
        var request = URLRequest(url: target)
        if let form {
            request.httpMethod = "POST"
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "content-type")
            request.httpBody = Data(form.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&").utf8)
        }
        return try await withCheckedThrowingContinuation { continuation in
            session.dataTask(with: request) { data, response, error in
                if let error { return continuation.resume(throwing: error) }
                guard let response = response as? HTTPURLResponse else {
                    return continuation.resume(throwing: CheckFailed("no HTTP response from \(url)"))
                }
                continuation.resume(returning: (response, String(decoding: data ?? Data(), as: UTF8.self)))
            }.resume()
        }
    }

    /// What the user does in the browser: opens the authorization URL, signs
    /// in, allows or denies. Returns the `Location` of the AS's 303, not followed.
    func authorize(_ url: String, user: String, password: String, allow: Bool) async throws -> String {
        let (page, html) = try await load(url)
        try expect(page.statusCode == 200, "authorization page: \(page.statusCode) \(html)")
        let txn = try attribute(html, after: "name=\"txn\"", "value")
        let (consent, consentHtml) = try await load(try attribute(html, after: "<form", "action"),
                                                    form: [("txn", txn), ("username", user), ("password", password)])
        try expect(consent.statusCode == 200 && consentHtml.contains("id=\"allow\""),
                   "consent page: \(consent.statusCode) \(consentHtml)")
        let (redirect, body) = try await load(try attribute(consentHtml, after: "<form", "action"),
                                              form: [("txn", txn), ("decision", allow ? "allow" : "deny")])
        try expect(redirect.statusCode == 303, "consent answer: \(redirect.statusCode) \(body)")
        let location = redirect.allHeaderFields.first { "\($0.key)".lowercased() == "location" }?.value
        guard let location = location as? String else { throw CheckFailed("303 without Location") }
        return location
    }
}

let browser = Browser()

/// The query parameter `name` of `url` (decoded), or nil.
func queryParameter(_ url: String, _ name: String) -> String? {
    URLComponents(string: url)?.queryItems?.first { $0.name == name }?.value
}

// --- a minimal test runner --------------------------------------------------------------

@MainActor var passed = 0
@MainActor var failed = 0

/// Runs the check `name`: prints `ok` or `FAIL` (and reports the failure to
/// XCTest at the call site).
@MainActor
func check(_ name: String, file: StaticString = #filePath, line: UInt = #line,
           _ body: () async throws -> Void) async {
    let start = Date()
    do {
        try await body()
        passed += 1
        print("ok    \(name) (\(Int(Date().timeIntervalSince(start) * 1000)) ms)")
    } catch {
        failed += 1
        print("FAIL  \(name): \(error)")
        XCTFail("\(name): \(error)", file: file, line: line)
    }
}

/// A check that cannot run here (not counted).
func skip(_ name: String, _ why: String) {
    print("skip  \(name): \(why)")
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

// --- what the checks share -------------------------------------------------------------------

let locales = ["de-DE", "en"]
func config() -> WalletConfig { WalletConfig(locales: locales, dangerousAllowHttp: true) }
/// The authorization code flow needs a client_id.
func codeFlowConfig() -> WalletConfig {
    WalletConfig(clientId: "swift-wallet-test", locales: locales, dangerousAllowHttp: true)
}
let redirectUri = "https://wallet.example/callback"

/// Whether the library under test is built without the built-in HTTP client
/// (`--no-default-features --features uniffi`, the small mobile build): then
/// every wallet sends through `SwiftHttpClient`, as an app's would through
/// URLSession (OID4VCI_APP_HTTP=1, set by bindings/test-swift --app-http).
let appHttp = environment["OID4VCI_APP_HTTP"] == "1"

/// A wallet on the built-in HTTP client, or on `SwiftHttpClient` when `appHttp`.
func newWallet(config: WalletConfig) throws -> Wallet {
    appHttp ? try Wallet.withHttpClient(config: config, httpClient: SwiftHttpClient()) : try Wallet(config: config)
}

/// `newWallet` with a wallet attestation.
func newAttestedWallet(config: WalletConfig, attestationJwt: String, signer: Signer) throws -> Wallet {
    appHttp
        ? try Wallet.withHttpClientAndAttestation(config: config, httpClient: SwiftHttpClient(),
                                                  attestationJwt: attestationJwt, signer: signer)
        : try Wallet.withAttestation(config: config, attestationJwt: attestationJwt, signer: signer)
}

/// A `WalletBuilder` whose wallet sends as `newWallet`'s does.
func newBuilder(config: WalletConfig) -> WalletBuilder {
    let builder = WalletBuilder(config: config)
    return appHttp ? builder.httpClient(httpClient: SwiftHttpClient()) : builder
}

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

/// One SD-JWT credential of `configuration` with `claim` == `value`, verified,
/// bound to `signer`'s key if given.
func expectClaim(_ credentials: [Credential], _ configuration: String, _ claim: String, _ value: String,
                 _ signer: SwiftSigner?) throws {
    try expect(credentials.count == 1, "expected one credential, got \(credentials.count)")
    let credential = credentials[0]
    try expect(credential.configurationId == configuration, "configuration \(credential.configurationId)")
    try expect(credential.format == "dc+sd-jwt", "format \(credential.format)")
    try expect(credential.signatureVerified, "issuer signature not verified")
    let claims = try jsonObject(credential.claimsJson ?? "null")
    try expect(claims[claim] as? String == value, "\(claim) in \(claims)")
    if let signer {
        let jwk = try jsonObject(credential.holderJwk ?? "null")
        try expect(jwk["x"] as? String == signer.x && jwk["y"] as? String == signer.y,
                   "credential bound to \(jwk), not to the signer's key")
        try expect(signer.calls.value >= 1, "the Swift signer was not called")
    }
}

/// A pending authorization for a fresh authorization-code offer of the PID, and
/// its redirect after erika answered.
func authorizedRedirect(_ wallet: Wallet, allow: Bool = true) async throws -> (PendingAuthorization, String) {
    let offer = try await createOffer(authorizationCode: true)
    let pending = try await wallet.resolveOffer(offerUrl: offer.url).beginAuthorization(wallet: wallet, redirectUri: redirectUri)
    let location = try await browser.authorize(pending.authorizationUrl(), user: "erika", password: "erika-password", allow: allow)
    return (pending, location)
}
