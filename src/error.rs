//! Errors: one [`Error`] type whose variants are the kinds a caller acts on.
//!
//! Every message says what was wrong and where (which document or endpoint, which
//! field), quotes server text only after [`sanitize`] (control characters removed,
//! length bounded) and never contains a secret: codes, tokens and keys are not
//! formatted into errors anywhere in the crate.

use std::fmt;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The most characters of server-provided text (error descriptions, unexpected
/// bodies) that an error message quotes.
pub const MAX_QUOTED_CHARS: usize = 200;

/// Everything that can go wrong while receiving a credential.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The credential offer (URL or JSON) is malformed or violates OID4VCI.
    #[error("invalid credential offer: {0}")]
    InvalidOffer(String),

    /// A metadata document is unusable: missing, malformed, or inconsistent.
    #[error("{document} at {url}: {problem}")]
    Metadata {
        /// Which document.
        document: Document,
        /// The URL it was fetched from (or the issuer identifier).
        url: String,
        /// What was wrong, naming the field where there is one.
        problem: String,
    },

    /// The request did not complete: connection, TLS, timeout, size limit.
    #[error("{endpoint} request to {url} failed: {kind}")]
    Transport {
        /// Which endpoint was called.
        endpoint: Endpoint,
        /// The URL called (without query).
        url: String,
        /// What failed.
        kind: TransportError,
    },

    /// The server answered with an OAuth / OID4VCI error object.
    #[error("{endpoint} at {url} answered {status} {error}")]
    Server {
        /// Which endpoint answered.
        endpoint: Endpoint,
        /// The URL called (without query).
        url: String,
        /// HTTP status code.
        status: u16,
        /// The typed error code and description.
        error: ServerError,
    },

    /// The server answered something the protocol does not allow.
    #[error("unexpected response from {endpoint} at {url} (HTTP {status}): {problem}")]
    UnexpectedResponse {
        /// Which endpoint answered.
        endpoint: Endpoint,
        /// The URL called (without query).
        url: String,
        /// HTTP status code.
        status: u16,
        /// What was wrong with it.
        problem: String,
    },

    /// The redirect back from the authorization server was refused.
    #[error("authorization callback: {0}")]
    Callback(CallbackError),

    /// The transaction code stopped the issuance: [`TxCodeError::kind`] says
    /// whether it is missing, has the wrong form, or was refused.
    #[error("{}", .0.problem)]
    TxCode(TxCodeError),

    /// The offer fetched by reference (`credential_offer_uri`) is gone: the
    /// issuer answered 404 or 410, as it does for an offer that expired or
    /// was already fetched (offers by reference are often single use).
    #[error("the credential offer at {url} is expired or already used (HTTP {status})")]
    OfferUnavailable {
        /// The offer URI (query removed).
        url: String,
        /// 404 or 410.
        status: u16,
    },

    /// A document the wallet needs an endpoint from does not name it (e.g.
    /// no `deferred_credential_endpoint` for a deferred credential).
    #[error("the {document} has no {field}")]
    MissingEndpoint {
        /// Which document.
        document: Document,
        /// The missing member.
        field: &'static str,
    },

    /// Building or signing a proof failed, or the issuer asks for proofs the
    /// wallet cannot make: [`ProofError::kind`] says which.
    #[error("proof: {}", .0.problem)]
    Proof(ProofError),

    /// A received credential failed a check (signature, digest, key binding,
    /// type, validity). The issuer has issued: the credentials it sent are
    /// kept in the error, and the wallet has told the issuer
    /// `credential_failure` where it could.
    #[error("credential check failed: {}", .0.problem)]
    CredentialCheck(CredentialRejection),

    /// The caller used a step in a way the protocol does not allow.
    #[error("invalid state: {0}")]
    InvalidState(String),

    /// The SDK was configured in a way it cannot work with (e.g. an http URL
    /// without `dangerous_allow_http`).
    #[error("configuration: {0}")]
    Config(String),

    /// The caller's deadline passed first: a deferred credential was not
    /// ready (the transaction stays pending and can be polled again), or no
    /// authorization redirect arrived at a loopback listener.
    #[error("deadline exceeded before completion")]
    DeadlineExceeded,

    /// The caller cancelled the operation.
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// The typed server error, if the server answered with one.
    pub fn server_error(&self) -> Option<&ServerError> {
        match self {
            Error::Server { error, .. } => Some(error),
            _ => None,
        }
    }

    pub(crate) fn metadata(document: Document, url: &str, problem: impl Into<String>) -> Self {
        Error::Metadata {
            document,
            url: url.to_string(),
            problem: problem.into(),
        }
    }
}

/// Why a redirect back from the authorization server was refused. Every one
/// stops the flow before any further request.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The URL is not the redirect URI this authorization used.
    #[error("the redirect does not go to the redirect_uri of this authorization")]
    WrongRedirectUri,
    /// No `state` parameter.
    #[error("the redirect has no state parameter")]
    StateMissing,
    /// `state` differs from the one sent.
    #[error("the redirect's state does not match this authorization")]
    StateMismatch,
    /// `iss` is missing although the server promised it (RFC 9207).
    #[error("the redirect has no iss parameter, which this authorization server always sends")]
    IssuerMissing,
    /// `iss` is not the authorization server's identifier.
    #[error("the redirect's iss is not this authorization server")]
    IssuerMismatch,
    /// The server answered with an error (e.g. `access_denied`).
    #[error("the authorization server answered {0}")]
    Denied(ServerError),
    /// Neither `code` nor `error`.
    #[error("the redirect has no code")]
    CodeMissing,
}

/// A check of issued credentials that failed, with what the issuer sent: the
/// issuer has issued them (a one-time code spent, perhaps a login), so the
/// app can still keep them, e.g. to show them as unverified or to report the
/// issuer. Its `Debug` shows the problem and the number of credentials only.
#[derive(Clone, PartialEq)]
pub struct CredentialRejection {
    /// What failed, and in which credential (`credentials[i]`).
    pub problem: String,
    /// Every credential of the response, exactly as issued (strings; an
    /// object for `ldp_vc`). Empty where the check ran before issuance.
    pub raw_credentials: Vec<serde_json::Value>,
    /// The response's `notification_id`, if any.
    pub notification_id: Option<String>,
}

impl CredentialRejection {
    /// A failed check with nothing issued to keep.
    pub fn new(problem: impl Into<String>) -> Self {
        Self {
            problem: problem.into(),
            raw_credentials: Vec::new(),
            notification_id: None,
        }
    }

    /// The same failure, carrying the credentials as issued.
    pub fn with_credentials(
        mut self,
        raw_credentials: Vec<serde_json::Value>,
        notification_id: Option<String>,
    ) -> Self {
        self.raw_credentials = raw_credentials;
        self.notification_id = notification_id;
        self
    }
}

impl fmt::Debug for CredentialRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialRejection")
            .field("problem", &self.problem)
            .field("raw_credentials", &self.raw_credentials.len())
            .field("notification_id", &self.notification_id.is_some())
            .finish()
    }
}

impl fmt::Display for CredentialRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

/// Why a proof could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofError {
    /// What a caller branches on.
    pub kind: ProofErrorKind,
    /// What was wrong, naming the configuration where there is one.
    pub problem: String,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

/// The kinds of [`ProofError`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofErrorKind {
    /// The issuer accepts no proof type the wallet makes (it makes `jwt`).
    UnsupportedProofType,
    /// No proof algorithm of the issuer's is one the signer (or any signer
    /// the wallet knows) uses.
    NoUsableAlgorithm,
    /// The issuer requires key attestations and the wallet has no provider.
    KeyAttestationRequired,
    /// The credential is key-bound and no signer was given.
    SignerRequired,
    /// More keys than the issuer's `batch_size`.
    TooManyKeys,
    /// The same key twice in one batch.
    KeyUsedTwice,
    /// The signer's public key is unusable (e.g. has private parts).
    InvalidKey,
    /// The signer (or the key attestation provider) failed.
    SignerFailed,
}

impl Error {
    pub(crate) fn proof(kind: ProofErrorKind, problem: impl Into<String>) -> Self {
        Error::Proof(ProofError {
            kind,
            problem: problem.into(),
        })
    }
}

/// Which metadata document an error is about.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// The credential issuer metadata (`/.well-known/openid-credential-issuer`).
    IssuerMetadata,
    /// The authorization server metadata (RFC 8414 or OpenID discovery).
    AuthorizationServerMetadata,
    /// The SD-JWT VC issuer metadata (`/.well-known/jwt-vc-issuer`).
    JwtVcIssuerMetadata,
    /// A `did:web` DID document (`did.json`).
    DidDocument,
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Document::IssuerMetadata => "credential issuer metadata",
            Document::AuthorizationServerMetadata => "authorization server metadata",
            Document::JwtVcIssuerMetadata => "JWT VC issuer metadata",
            Document::DidDocument => "DID document",
        })
    }
}

/// Why a transaction code stopped the issuance.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxCodeErrorKind {
    /// The offer requires a transaction code and none was given.
    Missing,
    /// A code was given for an offer that has none, or it does not have the
    /// offer's form (e.g. letters for a numeric code).
    WrongForm,
    /// The authorization server refused the code (`invalid_tx_code`, or
    /// `invalid_grant` to the token request that carried it).
    Rejected,
}

/// A transaction code problem: its kind, and what was wrong (never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxCodeError {
    /// Which problem.
    pub kind: TxCodeErrorKind,
    /// What was wrong.
    pub problem: String,
}

impl Error {
    /// A transaction code error of `kind`.
    pub(crate) fn tx_code(kind: TxCodeErrorKind, problem: impl Into<String>) -> Self {
        Error::TxCode(TxCodeError {
            kind,
            problem: problem.into(),
        })
    }
}

/// Which endpoint a request went to.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `credential_offer_uri`.
    CredentialOffer,
    /// Credential issuer metadata.
    IssuerMetadata,
    /// Authorization server metadata.
    AuthorizationServerMetadata,
    /// SD-JWT VC issuer metadata.
    JwtVcIssuerMetadata,
    /// A `did:web` DID document.
    DidDocument,
    /// Pushed authorization request endpoint (RFC 9126).
    PushedAuthorization,
    /// Token endpoint.
    Token,
    /// Nonce endpoint.
    Nonce,
    /// Credential endpoint.
    Credential,
    /// Deferred credential endpoint.
    Deferred,
    /// Notification endpoint.
    Notification,
    /// The authorization server's attestation challenge endpoint.
    Challenge,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Endpoint::CredentialOffer => "credential offer endpoint",
            Endpoint::IssuerMetadata => "credential issuer metadata endpoint",
            Endpoint::AuthorizationServerMetadata => "authorization server metadata endpoint",
            Endpoint::JwtVcIssuerMetadata => "JWT VC issuer metadata endpoint",
            Endpoint::DidDocument => "DID document",
            Endpoint::PushedAuthorization => "pushed authorization request endpoint",
            Endpoint::Token => "token endpoint",
            Endpoint::Nonce => "nonce endpoint",
            Endpoint::Credential => "credential endpoint",
            Endpoint::Deferred => "deferred credential endpoint",
            Endpoint::Notification => "notification endpoint",
            Endpoint::Challenge => "attestation challenge endpoint",
        })
    }
}

/// Why a request did not complete.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No connection could be made.
    #[error("could not connect: {0}")]
    Connect(String),
    /// The request or the response took longer than allowed.
    #[error("timed out")]
    Timeout,
    /// The response body exceeded the configured cap.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The cap in bytes.
        limit: usize,
    },
    /// The server answered with a redirect, which is never followed.
    #[error("redirect (HTTP {status}) refused")]
    Redirect {
        /// The 3xx status.
        status: u16,
    },
    /// The URL is not allowed (e.g. http without `dangerous_allow_http`).
    #[error("URL not allowed: {0}")]
    UrlNotAllowed(String),
    /// Any other I/O or protocol failure.
    #[error("{0}")]
    Other(String),
}

/// An OAuth 2.0 / OID4VCI error response: typed code, optional description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The error code.
    pub code: ErrorCode,
    /// `error_description`, sanitized and truncated.
    pub description: Option<String>,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code.as_str())?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)*) => {
        /// OAuth 2.0 and OID4VCI error codes; unknown codes are kept verbatim.
        #[non_exhaustive]
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code this SDK does not know, kept as the server sent it (sanitized).
            Other(String),
        }

        impl ErrorCode {
            /// Parses a code; unknown ones become [`ErrorCode::Other`].
            pub fn parse(code: &str) -> Self {
                match code {
                    $($text => ErrorCode::$variant,)*
                    other => ErrorCode::Other(sanitize(other, 64)),
                }
            }

            /// The code as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $text,)*
                    ErrorCode::Other(s) => s,
                }
            }
        }
    };
}

error_codes! {
    /// `invalid_request`
    InvalidRequest => "invalid_request",
    /// `invalid_client`
    InvalidClient => "invalid_client",
    /// `invalid_grant` (e.g. wrong tx_code, expired or used pre-authorized code)
    InvalidGrant => "invalid_grant",
    /// `unauthorized_client`
    UnauthorizedClient => "unauthorized_client",
    /// `unsupported_grant_type`
    UnsupportedGrantType => "unsupported_grant_type",
    /// `invalid_scope`
    InvalidScope => "invalid_scope",
    /// `access_denied`
    AccessDenied => "access_denied",
    /// `authorization_pending` (draft 13)
    AuthorizationPending => "authorization_pending",
    /// `slow_down` (draft 13)
    SlowDown => "slow_down",
    /// `invalid_tx_code` (some issuers)
    InvalidTxCode => "invalid_tx_code",
    /// `invalid_token`
    InvalidToken => "invalid_token",
    /// `insufficient_scope`
    InsufficientScope => "insufficient_scope",
    /// `invalid_credential_request`
    InvalidCredentialRequest => "invalid_credential_request",
    /// `unknown_credential_configuration`
    UnknownCredentialConfiguration => "unknown_credential_configuration",
    /// `unknown_credential_identifier`
    UnknownCredentialIdentifier => "unknown_credential_identifier",
    /// `invalid_proof`
    InvalidProof => "invalid_proof",
    /// `invalid_nonce`
    InvalidNonce => "invalid_nonce",
    /// `invalid_or_missing_proof` (drafts 11 and 12: a proof error, with a
    /// fresh `c_nonce` to retry with)
    InvalidOrMissingProof => "invalid_or_missing_proof",
    /// `invalid_encryption_parameters`
    InvalidEncryptionParameters => "invalid_encryption_parameters",
    /// `credential_request_denied`
    CredentialRequestDenied => "credential_request_denied",
    /// `unsupported_credential_type` (draft 13)
    UnsupportedCredentialType => "unsupported_credential_type",
    /// `unsupported_credential_format` (draft 13)
    UnsupportedCredentialFormat => "unsupported_credential_format",
    /// `issuance_pending` (draft 13 deferred)
    IssuancePending => "issuance_pending",
    /// `invalid_transaction_id`
    InvalidTransactionId => "invalid_transaction_id",
    /// `invalid_notification_id`
    InvalidNotificationId => "invalid_notification_id",
    /// `invalid_notification_request`
    InvalidNotificationRequest => "invalid_notification_request",
    /// `use_dpop_nonce` (answered once by itself; seen only when the server
    /// asks again)
    UseDpopNonce => "use_dpop_nonce",
    /// `invalid_dpop_proof` (RFC 9449)
    InvalidDpopProof => "invalid_dpop_proof",
    /// `use_attestation_challenge` (answered once by itself with the
    /// server's challenge)
    UseAttestationChallenge => "use_attestation_challenge",
    /// `use_fresh_attestation`: get a new Wallet Attestation from the wallet
    /// provider
    UseFreshAttestation => "use_fresh_attestation",
    /// `invalid_client_attestation`
    InvalidClientAttestation => "invalid_client_attestation",
}

/// Makes server-provided text safe to quote: control characters become spaces,
/// and the text is cut to `max` characters (with an ellipsis).
pub(crate) fn sanitize(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        out.push(if is_unsafe_text_char(c) { ' ' } else { c });
    }
    out
}

/// Whether `c` must not be shown as it is in text an issuer wrote: C0 and
/// C1 controls (ESC, CSI, OSC, CR, LF, DEL...), line and paragraph
/// separators, bidi embeddings, overrides, isolates and marks (which can
/// make one name read as another), zero-width and other invisible format
/// characters (Unicode Cf), tag characters. Variation selectors stay
/// (emoji need them).
pub fn is_unsafe_text_char(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'          // C0 controls, LF and CR among them
        | '\u{7f}'..='\u{9f}'       // DEL and C1 controls (CSI U+009B, OSC U+009D)
        | '\u{ad}'                  // soft hyphen (invisible)
        | '\u{34f}'                 // combining grapheme joiner
        | '\u{600}'..='\u{605}'     // Arabic number signs (Cf)
        | '\u{61c}'                 // Arabic letter mark
        | '\u{6dd}'
        | '\u{70f}'
        | '\u{890}'..='\u{891}'
        | '\u{8e2}'
        | '\u{115f}'..='\u{1160}'   // Hangul fillers (invisible)
        | '\u{17b4}'..='\u{17b5}'
        | '\u{180b}'..='\u{180f}'   // Mongolian selectors and vowel separator
        | '\u{200b}'..='\u{200f}'   // zero width space, non-joiner, joiner; LRM, RLM
        | '\u{2028}'..='\u{2029}'   // line and paragraph separators
        | '\u{202a}'..='\u{202e}'   // LRE, RLE, PDF, LRO, RLO
        | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
        | '\u{2066}'..='\u{206f}'   // LRI, RLI, FSI, PDI, deprecated format characters
        | '\u{3164}'                // Hangul filler
        | '\u{feff}'                // zero width no-break space (BOM)
        | '\u{ffa0}'
        | '\u{fff9}'..='\u{fffb}'   // interlinear annotation
        | '\u{110bd}'
        | '\u{110cd}'
        | '\u{13430}'..='\u{1343f}'
        | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0000}'..='\u{e007f}' // tag characters (invisible "ASCII smuggling")
    )
}

/// Text an issuer wrote, made safe for a terminal or a log and still all
/// there: every [`is_unsafe_text_char`] becomes a visible `\uXXXX` escape
/// (UTF-16 units, the form JSON uses, so serialized JSON passed through it
/// decodes to the same values).
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write as _;
    if !text.chars().any(is_unsafe_text_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe_text_char(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Text an issuer wrote, made safe to display: controls and separators
/// become spaces, invisible format and bidi characters are removed. The raw
/// value stays where it came from (the metadata, the claims).
pub fn display_text(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_unsafe_text_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .filter_map(|c| match c {
                c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => Some(' '),
                c if is_unsafe_text_char(c) => None,
                c => Some(c),
            })
            .collect(),
    )
}

/// A URL as it may appear in an error: without query and fragment (which may
/// carry codes or offers).
pub(crate) fn display_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_query(None);
            u.set_fragment(None);
            sanitize(u.as_str(), MAX_QUOTED_CHARS)
        }
        Err(_) => sanitize(url.split(['?', '#']).next().unwrap_or(""), MAX_QUOTED_CHARS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_text_removes_bidi_and_invisible_characters_and_keeps_the_rest() {
        // An issuer name reading "Bank" that would render as another name.
        assert_eq!(display_text("Bank\u{202e}knaB\u{202c}"), "BankknaB");
        assert_eq!(display_text("a\u{200b}b\u{2066}c\u{e0041}"), "abc");
        assert_eq!(display_text("line\none\u{1b}[2K"), "line one [2K");
        assert_eq!(display_text("Führerschein 🚗"), "Führerschein 🚗");
        assert!(matches!(
            display_text("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(sanitize("x\u{202e}y", 10), "x y");
    }

    #[test]
    fn sanitize_strips_control_and_truncates() {
        assert_eq!(sanitize("a\nb\u{7}c", 10), "a b c");
        assert_eq!(sanitize(&"x".repeat(500), 5), "xxxxx…");
    }

    #[test]
    fn unknown_codes_are_kept() {
        assert_eq!(ErrorCode::parse("invalid_grant"), ErrorCode::InvalidGrant);
        let other = ErrorCode::parse("weird_thing");
        assert_eq!(other, ErrorCode::Other("weird_thing".into()));
        assert_eq!(other.as_str(), "weird_thing");
    }

    #[test]
    fn display_url_drops_query() {
        assert_eq!(
            display_url("https://a.example/x?pre-authorized_code=secret#f"),
            "https://a.example/x"
        );
    }
}
