//! `oid4vci`: receive credentials from the command line.

use clap::{Parser, Subcommand};
use oid4vci_wallet::types::{TxCode, TxCodeSpec};
use oid4vci_wallet::{http::BoxFuture, Interaction, ReceiveOptions, SoftwareSigner, Wallet};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "oid4vci",
    version,
    about = "OpenID for Verifiable Credential Issuance: the wallet side"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive the credentials of an offer (openid-credential-offer://, haip-vci://, https://).
    Receive {
        /// The credential offer URL (QR code content or deep link).
        offer_url: String,
        /// The transaction code (PIN); asked on the terminal when needed and not given.
        #[arg(long)]
        tx_code: Option<String>,
        /// Only these credential configuration ids (default: every offered one).
        #[arg(long = "credential", value_name = "CONFIG_ID")]
        credentials: Vec<String>,
        /// Allow plain http to loopback hosts (local testing only).
        #[arg(long)]
        dangerous_allow_http: bool,
        /// Print one JSON object on stdout instead of text.
        #[arg(long)]
        json: bool,
        /// OAuth client id to present (default: anonymous where the server allows it).
        #[arg(long)]
        client_id: Option<String>,
        /// Seconds to wait for deferred credentials.
        #[arg(long, default_value_t = 300)]
        deferred_timeout: u64,
        /// Preferred locale for names and labels.
        #[arg(long, default_value = "en")]
        locale: String,
    },
}

struct Terminal {
    given: Option<String>,
}

impl Interaction for Terminal {
    fn tx_code<'a>(
        &'a self,
        spec: &'a TxCodeSpec,
    ) -> BoxFuture<'a, oid4vci_wallet::Result<TxCode>> {
        Box::pin(async move {
            if let Some(code) = &self.given {
                return Ok(TxCode::new(code.clone()));
            }
            if !std::io::stdin().is_terminal() {
                return Err(oid4vci_wallet::Error::TxCode(
                    "the offer needs a transaction code: pass --tx-code (there is no terminal to ask on)".into(),
                ));
            }
            let mut prompt = String::from("Transaction code");
            if let Some(d) = &spec.description {
                prompt = format!("{d}\n{prompt}");
            }
            let mode = format!("{:?}", spec.mode()).to_lowercase();
            match spec.length {
                Some(n) => eprint!("{prompt} ({n} characters, {mode}): "),
                None => eprint!("{prompt} ({mode}): "),
            }
            std::io::stderr().flush().ok();
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| oid4vci_wallet::Error::TxCode(format!("reading the code: {e}")))?;
            Ok(TxCode::new(line.trim().to_string()))
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> oid4vci_wallet::Result<()> {
    let Command::Receive {
        offer_url,
        tx_code,
        credentials,
        dangerous_allow_http,
        json,
        client_id,
        deferred_timeout,
        locale,
    } = command;
    let mut builder = Wallet::builder().locales([locale]);
    if dangerous_allow_http {
        builder = builder.dangerous_allow_http();
    }
    if let Some(id) = client_id {
        builder = builder.client_id(id);
    }
    let wallet = builder.build()?;
    let signer = SoftwareSigner::generate();
    let options = ReceiveOptions {
        credential_configuration_ids: (!credentials.is_empty()).then_some(credentials),
        deferred_deadline: Duration::from_secs(deferred_timeout),
    };
    eprintln!("resolving offer and receiving credentials...");
    let received = wallet
        .receive(&offer_url, &Terminal { given: tx_code }, &signer, &options)
        .await?;
    let context = received.authorized.context();
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
                })
            })
            .collect();
        let out = serde_json::json!({
            "credential_issuer": received.authorized.issuer_id(),
            "credentials": list,
        });
        println!("{out}");
        return Ok(());
    }
    let issuer_name = context
        .issuer
        .display_for(wallet.locales())
        .and_then(|d| d.name.clone())
        .unwrap_or_else(|| received.authorized.issuer_id().to_string());
    println!(
        "Issuer: {issuer_name} ({})",
        received.authorized.issuer_id()
    );
    for credential in &received.credentials {
        let configuration = context.configuration(&credential.configuration_id)?;
        let name = configuration
            .display_for(wallet.locales())
            .and_then(|d| d.name.clone())
            .unwrap_or_else(|| credential.configuration_id.clone());
        println!(
            "\n{name} [{}, {}]",
            credential.configuration_id, credential.format
        );
        if credential.signature_verified {
            println!("  issuer signature: verified");
        }
        for (label, value) in credential.labelled_claims(configuration, wallet.locales()) {
            let shown = value
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            println!("  {label}: {shown}");
        }
    }
    Ok(())
}
