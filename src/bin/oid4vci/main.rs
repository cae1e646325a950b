//! `oid4vci`: receive credentials from the command line, or inspect an offer
//! or an issuer without spending anything.

mod inspect;
mod qr;
mod text;

use clap::{Parser, Subcommand};
use oid4vci_wallet::types::{TxCode, TxCodeSpec};
use oid4vci_wallet::LoopbackRedirect;
use oid4vci_wallet::{
    BoxFuture, Interaction, KeySource, NotificationEvent, ProgressObserver, ReceiveOptions,
    ReceiveStage, Received, Signer, SignerError, SoftwareSigner, Verification, VerifiedBy, Wallet,
};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use text::{escape, json_document, json_value, quoted};

/// Exit code: something failed (the offer, metadata, a request, a check).
const EXIT_FAILURE: u8 = 1;
/// Exit code of `inspect`: resolved, but this wallet could not complete the
/// issuance (clap's usage errors exit with 2).
pub(crate) const EXIT_CANNOT_COMPLETE: u8 = 3;

/// The most credentials per configuration `--batch` asks for by default
/// (the issuer's `batch_size` caps it further).
const MAX_DEFAULT_BATCH: usize = 10;

/// The longest issuer display name or label shown (characters).
pub(crate) const MAX_NAME_CHARS: usize = 200;

#[derive(Parser)]
#[command(
    name = "oid4vci",
    version,
    about = "OpenID for Verifiable Credential Issuance: the wallet side",
    after_help = "Exit codes: 0 success; 1 failure (offer, metadata, a request or a check failed); \
                  2 usage error; 3 (inspect) this wallet could not complete the issuance.\n\
                  Text an issuer wrote (names, labels, claim values, descriptions, error \
                  descriptions) is shown quoted, with control, bidi and invisible characters as \
                  \\uXXXX escapes."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print every request and response on stderr (headers and bodies),
    /// with codes, tokens, tx_codes, PKCE verifiers, private keys,
    /// attestations and credentials redacted.
    #[arg(long, global = true)]
    trace: bool,
}

/// The wire trace on stderr: the library's `oid4vci_wallet::wire` target.
fn start_trace() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::Layer as _;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_level(false)
        .with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target(oid4vci_wallet::WIRE_TARGET, tracing::Level::TRACE),
        );
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

#[derive(Subcommand)]
enum Command {
    /// Receive the credentials of an offer (openid-credential-offer://, haip-vci://, https://,
    /// or with --qr an image of its QR code).
    Receive {
        /// The credential offer URL (QR code content or deep link).
        #[arg(value_name = "OFFER_URL", required_unless_present = "qr")]
        offer_url: Option<String>,
        /// Read the offer URL from a PNG or JPEG image of its QR code (a
        /// screenshot or photo of the issuer's page) instead of OFFER_URL.
        #[arg(long, value_name = "FILE", conflicts_with = "offer_url")]
        qr: Option<std::path::PathBuf>,
        /// The transaction code (PIN); asked on the terminal when needed and not given.
        #[arg(long)]
        tx_code: Option<String>,
        /// Only these credential configuration ids (default: every offered one).
        #[arg(long = "credential", value_name = "CONFIG_ID")]
        credentials: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Wallet-initiated issuance: log in at the issuer's authorization server
    /// in the browser and receive the named credentials.
    Request {
        /// The credential issuer identifier (https://...).
        #[arg(long)]
        issuer: String,
        /// Credential configuration ids to request (at least one).
        #[arg(long = "credential", value_name = "CONFIG_ID", required = true)]
        credentials: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Show what an offer (or an issuer) asks for, and whether this wallet
    /// could complete the issuance, without spending anything.
    #[command(long_about = inspect::LONG_ABOUT)]
    Inspect(inspect::InspectArgs),
}

/// How the wallet is set up (every command).
#[derive(clap::Args)]
pub(crate) struct WalletArgs {
    /// Allow plain http to loopback hosts (local testing only).
    #[arg(long)]
    pub dangerous_allow_http: bool,
    /// OAuth client id to present (needed for the authorization code flow).
    #[arg(long, default_value = "oid4vci-cli")]
    pub client_id: String,
    /// Preferred locale for names and labels.
    #[arg(long, default_value = "en")]
    pub locale: String,
    /// Trust this root certificate (PEM or DER file) for TLS, e.g. a test
    /// issuer's self-signed certificate (repeatable).
    #[arg(long = "root-certificate", value_name = "FILE")]
    pub root_certificates: Vec<std::path::PathBuf>,
}

#[derive(clap::Args)]
struct Common {
    #[command(flatten)]
    wallet: WalletArgs,
    /// Print one JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for deferred credentials.
    #[arg(long, default_value_t = 300)]
    deferred_timeout: u64,
    /// Open the authorization URL in the system browser.
    #[arg(long)]
    open: bool,
    /// Seconds to wait for the browser's redirect.
    #[arg(long, default_value_t = 300)]
    login_timeout: u64,
    /// Port of the loopback redirect listener (0: any free port).
    #[arg(long, default_value_t = 0)]
    redirect_port: u16,
    /// Trust this X.509 root (PEM or DER file) for credential issuers'
    /// x5c chains (repeatable).
    #[arg(long = "trust-anchor", value_name = "FILE")]
    trust_anchors: Vec<std::path::PathBuf>,
    /// Fail when a credential's issuer cannot be verified.
    #[arg(long)]
    require_verified: bool,
    /// Present this Wallet Attestation (a JWT file from your wallet
    /// provider) to authorization servers; needs --wallet-attestation-key.
    #[arg(long, value_name = "FILE", requires = "wallet_attestation_key")]
    wallet_attestation: Option<std::path::PathBuf>,
    /// The private P-256 JWK (file) of the Wallet Attestation's cnf key.
    #[arg(long, value_name = "FILE", requires = "wallet_attestation")]
    wallet_attestation_key: Option<std::path::PathBuf>,
    /// Present this key attestation (a JWT file from your wallet provider)
    /// with the proofs of issuers that require one; needs --key (the key it
    /// attests). An attestation without the issuer's c_nonce is refused by
    /// issuers that ask for one.
    #[arg(long, value_name = "FILE", requires = "key")]
    key_attestation: Option<std::path::PathBuf>,
    /// The holder key (a private P-256 JWK file) to bind credentials to,
    /// instead of a fresh key per credential (one credential per
    /// configuration).
    #[arg(long, value_name = "FILE")]
    key: Option<std::path::PathBuf>,
    /// Credentials per configuration, each bound to its own fresh key
    /// (default: as many as the issuer's batch_size allows, at most 10;
    /// 1: no batch).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "key")]
    batch: Option<u32>,
    /// Do not tell the issuer credential_accepted once the credentials are
    /// printed.
    #[arg(long)]
    no_notify: bool,
}

/// A fresh software P-256 key per credential.
struct FreshKeys;

impl KeySource for FreshKeys {
    fn new_key(&self) -> Result<Arc<dyn Signer>, SignerError> {
        Ok(Arc::new(SoftwareSigner::generate()))
    }
}

/// The stage lines on stderr. The transaction code prompt and the
/// authorization URL are printed by [`Terminal`] itself.
struct StageLines;

impl ProgressObserver for StageLines {
    fn on_stage(&self, stage: &ReceiveStage) {
        match stage {
            ReceiveStage::ResolvingOffer => eprintln!("resolving the offer..."),
            ReceiveStage::ReadingMetadata { credential_issuer } => {
                eprintln!("reading the metadata of {}...", escape(credential_issuer))
            }
            ReceiveStage::Token => eprintln!("requesting the access token..."),
            ReceiveStage::Credential {
                configuration_id,
                index,
                total,
                batch_size,
            } => {
                let id = quoted(configuration_id, MAX_NAME_CHARS);
                match batch_size {
                    1 => eprintln!("requesting {id} ({index} of {total})..."),
                    n => eprintln!(
                        "requesting {id} ({index} of {total}): {n} credentials, one fresh key each..."
                    ),
                }
            }
            ReceiveStage::Deferred {
                next_poll_in,
                next_poll_at,
                ..
            } => eprintln!(
                "deferred: the issuer is not ready yet; next poll in {} s (at {} UTC)",
                next_poll_in.as_secs(),
                clock_time(*next_poll_at)
            ),
            ReceiveStage::Done { credentials } => eprintln!(
                "received {credentials} credential{}",
                if *credentials == 1 { "" } else { "s" }
            ),
            _ => {}
        }
    }
}

/// `HH:MM:SS` of a Unix time (UTC).
fn clock_time(unix: u64) -> String {
    let day = unix % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// A private P-256 JWK file as a signer.
fn signer_from_jwk_file(
    what: &str,
    path: &std::path::Path,
) -> oid4vci_wallet::Result<SoftwareSigner> {
    let bad = |m: &str| oid4vci_wallet::Error::Config(format!("{what} {}: {m}", path.display()));
    let jwk: serde_json::Value =
        serde_json::from_slice(&read_file(what, path)?).map_err(|_| bad("not a JSON JWK"))?;
    if jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
        return Err(bad("not an EC P-256 JWK"));
    }
    let d = jwk["d"]
        .as_str()
        .and_then(|d| {
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, d).ok()
        })
        .ok_or_else(|| bad("no private key (d)"))?;
    let signer = SoftwareSigner::from_bytes(&d).map_err(|e| bad(&e.to_string()))?;
    let public = oid4vci_wallet::Signer::public_jwk(&signer);
    if public["x"] != jwk["x"] || public["y"] != jwk["y"] {
        return Err(bad("d does not belong to x and y"));
    }
    Ok(signer)
}

/// A key attestation the tester brought: the same JWT for every request.
struct KeyAttestationFile(String);

impl oid4vci_wallet::KeyAttestationProvider for KeyAttestationFile {
    fn key_attestation(
        &self,
        _request: &oid4vci_wallet::KeyAttestationRequest<'_>,
    ) -> Result<String, oid4vci_wallet::SignerError> {
        Ok(self.0.clone())
    }
}

fn text_file(what: &str, path: &std::path::Path) -> oid4vci_wallet::Result<String> {
    String::from_utf8(read_file(what, path)?)
        .map(|t| t.trim().to_string())
        .map_err(|_| oid4vci_wallet::Error::Config(format!("{what} {}: not text", path.display())))
}

fn read_file(what: &str, path: &std::path::Path) -> oid4vci_wallet::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| oid4vci_wallet::Error::Config(format!("{what} {}: {e}", path.display())))
}

/// A wallet builder with the settings every command shares.
pub(crate) fn wallet_builder(
    args: &WalletArgs,
) -> oid4vci_wallet::Result<oid4vci_wallet::WalletBuilder> {
    let mut builder = Wallet::builder()
        .locales([args.locale.clone()])
        .client_id(args.client_id.clone());
    if args.dangerous_allow_http {
        builder = builder.dangerous_allow_http();
    }
    for path in &args.root_certificates {
        builder = builder.add_root_certificate(read_file("--root-certificate", path)?);
    }
    Ok(builder)
}

/// The transaction code could not be had from the user.
fn tx_code_missing(problem: String) -> oid4vci_wallet::Error {
    oid4vci_wallet::Error::TxCode(oid4vci_wallet::TxCodeError {
        kind: oid4vci_wallet::TxCodeErrorKind::Missing,
        problem,
    })
}

struct Terminal {
    given: Option<String>,
    redirect: std::sync::Mutex<Option<LoopbackRedirect>>,
    redirect_uri: String,
    open: bool,
    login_timeout: Duration,
}

impl Interaction for Terminal {
    fn redirect_uri(&self) -> Option<String> {
        Some(self.redirect_uri.clone())
    }

    fn authorize<'a>(&'a self, url: &'a str) -> BoxFuture<'a, oid4vci_wallet::Result<String>> {
        Box::pin(async move {
            let listener = self
                .redirect
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .ok_or_else(|| {
                    oid4vci_wallet::Error::InvalidState("the redirect listener was used".into())
                })?;
            // The URL is built from the authorization server's metadata.
            eprintln!(
                "Log in at the issuer. Authorization URL:\n{AUTHORIZATION_URL_PREFIX}{}",
                escape(url)
            );
            if self.open {
                open_browser(url);
            }
            eprintln!(
                "waiting up to {} s for the redirect to {}...",
                self.login_timeout.as_secs(),
                self.redirect_uri
            );
            let redirect = listener.wait(self.login_timeout).await;
            if let Err(oid4vci_wallet::Error::DeadlineExceeded) = redirect {
                eprintln!(
                    "no redirect arrived within {} s",
                    self.login_timeout.as_secs()
                );
            }
            redirect
        })
    }

    fn tx_code<'a>(
        &'a self,
        spec: &'a TxCodeSpec,
    ) -> BoxFuture<'a, oid4vci_wallet::Result<TxCode>> {
        Box::pin(async move {
            if let Some(code) = &self.given {
                return Ok(TxCode::new(code.clone()));
            }
            if !std::io::stdin().is_terminal() {
                return Err(tx_code_missing(
                    "the offer needs a transaction code: pass --tx-code (there is no terminal to ask on)".into(),
                ));
            }
            if let Some(d) = &spec.description {
                eprintln!("The issuer says: {}", quoted(d, 300));
            }
            let mode = format!("{:?}", spec.mode()).to_lowercase();
            match spec.length {
                Some(n) => eprint!("Transaction code ({n} characters, {mode}): "),
                None => eprint!("Transaction code ({mode}): "),
            }
            std::io::stderr().flush().ok();
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| tx_code_missing(format!("reading the code: {e}")))?;
            Ok(TxCode::new(line.trim().to_string()))
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.trace {
        start_trace();
    }
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(&args).await,
        command => run(command).await.map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Error messages quote what servers sent.
            eprintln!("error: {}", escape(&e.to_string()));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The line prefix before the authorization URL on stderr.
const AUTHORIZATION_URL_PREFIX: &str = "  ";

/// Opens `url` in the system browser (best effort).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("could not start {opener} ({e}); open the URL by hand");
    }
}

async fn run(command: Command) -> oid4vci_wallet::Result<()> {
    let (common, tx_code) = match &command {
        Command::Receive {
            common, tx_code, ..
        } => (common, tx_code.clone()),
        Command::Request { common, .. } => (common, None),
        Command::Inspect(_) => unreachable!("inspect runs on its own"),
    };
    // The offer (receive) first: a bad --qr image fails before anything else.
    let offer_url = match &command {
        Command::Receive {
            offer_url: Some(url),
            qr: None,
            ..
        } => Some(url.clone()),
        Command::Receive {
            offer_url: None,
            qr: Some(path),
            ..
        } => {
            let url = qr::offer_url_from_qr(path)?;
            eprintln!("read the offer URL from the QR code in {}", path.display());
            Some(url)
        }
        Command::Receive { .. } => {
            return Err(oid4vci_wallet::Error::Config(
                "give either an offer URL or --qr FILE".into(),
            ))
        }
        _ => None,
    };
    let mut builder = wallet_builder(&common.wallet)?;
    for path in &common.trust_anchors {
        builder = builder.trust_anchor(read_file("--trust-anchor", path)?);
    }
    if let (Some(jwt), Some(key)) = (&common.wallet_attestation, &common.wallet_attestation_key) {
        let signer = signer_from_jwk_file("--wallet-attestation-key", key)?;
        builder = builder.client_attestation(oid4vci_wallet::ClientAttestation::new(
            text_file("--wallet-attestation", jwt)?,
            std::sync::Arc::new(signer),
        )?);
    }
    if let Some(path) = &common.key_attestation {
        builder =
            builder.key_attestations(KeyAttestationFile(text_file("--key-attestation", path)?));
    }
    let wallet = builder.require_verified(common.require_verified).build()?;
    // --key: that one key, one credential per configuration; else a fresh
    // key per credential, in batches.
    let signer = match &common.key {
        Some(path) => Some(signer_from_jwk_file("--key", path)?),
        None => None,
    };
    let listener = LoopbackRedirect::bind_port(common.redirect_port).await?;
    let terminal = Terminal {
        given: tx_code,
        redirect_uri: listener.redirect_uri().to_string(),
        redirect: std::sync::Mutex::new(Some(listener)),
        open: common.open,
        login_timeout: Duration::from_secs(common.login_timeout),
    };
    let json = common.json;
    let options = ReceiveOptions {
        credential_configuration_ids: match &command {
            Command::Receive { credentials, .. } if !credentials.is_empty() => {
                Some(credentials.clone())
            }
            _ => None,
        },
        deferred_deadline: Duration::from_secs(common.deferred_timeout),
        max_batch_size: common.batch.map_or(MAX_DEFAULT_BATCH, |n| n as usize),
        progress: Some(Arc::new(StageLines)),
    };
    let mut received: Received = match &command {
        Command::Receive { .. } => {
            let offer_url = offer_url.as_deref().ok_or_else(|| {
                oid4vci_wallet::Error::InvalidState("no offer URL to receive".into())
            })?;
            match &signer {
                Some(signer) => {
                    wallet
                        .receive(offer_url, &terminal, signer, &options)
                        .await?
                }
                None => {
                    wallet
                        .receive_batch(offer_url, &terminal, &FreshKeys, &options)
                        .await?
                }
            }
        }
        Command::Request {
            issuer,
            credentials,
            ..
        } => {
            let ids: Vec<&str> = credentials.iter().map(String::as_str).collect();
            match &signer {
                Some(signer) => {
                    wallet
                        .request(issuer, &ids, &terminal, signer, &options)
                        .await?
                }
                None => {
                    wallet
                        .request_batch(issuer, &ids, &terminal, &FreshKeys, &options)
                        .await?
                }
            }
        }
        Command::Inspect(_) => unreachable!("inspect runs on its own"),
    };
    print_received(&wallet, &received, json)?;
    if !common.no_notify {
        notify_accepted(&wallet, &mut received).await;
    }
    Ok(())
}

/// Tells the issuer `credential_accepted` for what was received and printed
/// (once per `notification_id`: a batch shares one), when it has a
/// notification endpoint. Best effort: a failure is a warning.
async fn notify_accepted(wallet: &Wallet, received: &mut Received) {
    if received
        .authorized
        .context()
        .issuer
        .notification_endpoint
        .is_none()
    {
        return;
    }
    let mut ids: Vec<String> = Vec::new();
    for id in received
        .credentials
        .iter()
        .filter_map(|c| c.notification_id.as_ref())
    {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    let mut sent = 0;
    for id in &ids {
        match received
            .authorized
            .notify(wallet, id, NotificationEvent::CredentialAccepted)
            .await
        {
            Ok(()) => sent += 1,
            Err(e) => eprintln!(
                "warning: credential_accepted was not delivered: {}",
                escape(&e.to_string())
            ),
        }
    }
    if sent > 0 {
        eprintln!(
            "told the issuer: credential_accepted ({sent} notification{})",
            if sent == 1 { "" } else { "s" }
        );
    }
}

/// Prints what was received: one JSON object, or text (a batch of
/// credentials that show the same shown once, with its size).
fn print_received(wallet: &Wallet, received: &Received, json: bool) -> oid4vci_wallet::Result<()> {
    let context = received.authorized.context();
    for (id, reason) in &received.not_requested {
        eprintln!(
            "not requested: {} (this wallet cannot finish it: {})",
            quoted(id, MAX_NAME_CHARS),
            escape(reason)
        );
    }
    if json {
        let list: Vec<_> = received
            .credentials
            .iter()
            .map(|c| {
                serde_json::json!({
                    "credential_configuration_id": c.configuration_id,
                    "format": c.format,
                    "credential": c.credential,
                    "claims": c.claims,
                    "notification_id": c.notification_id,
                    "holder_jwk": c.holder_jwk,
                    "verification": c.verification,
                })
            })
            .collect();
        let not_requested: Vec<_> = received
            .not_requested
            .iter()
            .map(|(id, reason)| serde_json::json!({"credential_configuration_id": id, "reason": reason}))
            .collect();
        let out = serde_json::json!({
            "credential_issuer": received.authorized.issuer_id(),
            "credentials": list,
            "not_requested": not_requested,
        });
        println!("{}", json_document(&out));
        return Ok(());
    }
    let issuer_id = escape(received.authorized.issuer_id());
    match context
        .issuer
        .display_for(wallet.locales())
        .and_then(|d| d.name.as_deref())
    {
        Some(name) => println!("Issuer: {} ({issuer_id})", quoted(name, MAX_NAME_CHARS)),
        None => println!("Issuer: {issuer_id}"),
    }
    let list = &received.credentials;
    let mut next = 0;
    while next < list.len() {
        let credential = &list[next];
        let configuration = context.configuration(&credential.configuration_id)?;
        let claims = credential.labelled(configuration, wallet.locales());
        // A batch: the same configuration, verification and claims, each
        // bound to its own key.
        let copies = 1 + list[next + 1..]
            .iter()
            .take_while(|c| {
                c.configuration_id == credential.configuration_id
                    && c.verification == credential.verification
                    && c.labelled(configuration, wallet.locales()) == claims
            })
            .count();
        next += copies;
        let name = configuration
            .display_for(wallet.locales())
            .and_then(|d| d.name.as_deref())
            .unwrap_or(&credential.configuration_id);
        let batch = match copies {
            1 => String::new(),
            n => format!(" x{n}, each bound to its own key"),
        };
        println!(
            "\nCredential {} [{}, {}]{batch}",
            quoted(name, MAX_NAME_CHARS),
            escape(&credential.configuration_id),
            escape(&credential.format)
        );
        match &credential.verification {
            Verification::Verified {
                by: VerifiedBy::TrustAnchor { anchor },
            } => println!(
                "  issuer signature: verified (certificate chain to the trust anchor {})",
                escape(anchor)
            ),
            Verification::Verified {
                by: VerifiedBy::IssuerMetadata { url },
            } => println!(
                "  issuer signature: verified (issuer keys at {})",
                escape(url)
            ),
            Verification::Verified {
                by: VerifiedBy::Did { did },
            } => println!(
                "  issuer signature: verified (key of the DID {})",
                escape(did)
            ),
            Verification::Unverified { reason } => {
                println!("  issuer signature: NOT verified ({})", escape(reason))
            }
            _ => println!("  issuer signature: NOT verified"),
        }
        if !claims.is_empty() {
            println!("  claims (label: value, as the issuer wrote them):");
        }
        for claim in claims {
            let value = match (claim.kind, claim.value.as_str()) {
                // Bytes (an mdoc portrait) are not text: say what they are.
                (oid4vci_wallet::ClaimKind::Bytes, Some(b64)) => {
                    format!("<{} bytes>", b64.len() * 3 / 4)
                }
                _ => json_value(&claim.value),
            };
            println!("    {}: {value}", quoted(&claim.label, MAX_NAME_CHARS));
        }
    }
    Ok(())
}
