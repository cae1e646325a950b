//! The loop: sends an exchange's requests (with their protection) until it
//! is done, and checks the issuer's signature on what was received.

use super::Wallet;
use crate::error::{display_url, sanitize, Endpoint, Error, Result};
use crate::flow::credential::{is_sd_jwt, IssuedCredential};
use crate::flow::discovery::{DidWebDocument, JwtVcIssuerKeys};
use crate::flow::protection::{Protected, Protection};
use crate::flow::{Exchange, Flow, Progress};
use crate::http::{HttpRequest, HttpResponse};
use crate::verify::jwt_vc::JwtVc;
use crate::verify::mdoc::Mdoc;
use crate::verify::sd_jwt::SdJwt;
use crate::verify::trust::{check_x5c, check_x5chain, ChainOutcome};
use crate::verify::{did, IssuerSigned, Verification, VerifiedBy};
use serde_json::Value;
use std::collections::HashMap;

impl Wallet {
    /// Runs one exchange to completion (following its fallbacks and retries).
    pub async fn run<E: Exchange>(&self, step: E) -> Result<E::Output> {
        self.run_with(step, Protection::none()).await
    }

    /// [`Self::run`] with DPoP and client attestation as `protection` says:
    /// the loop that sends what [`Protected`] prepares until it is done.
    pub(crate) async fn run_with<E: Exchange>(
        &self,
        step: E,
        protection: Protection<'_>,
    ) -> Result<E::Output> {
        self.drive(Protected::new(step, protection)).await
    }

    /// The loop: sends what the flow prepares, sleeps when it says so, and
    /// hands it every response (or transport failure) until it is done.
    pub async fn drive<F: Flow>(&self, mut flow: F) -> Result<F::Output> {
        loop {
            if let Some(pause) = flow.wait() {
                tokio::time::sleep(pause).await;
            }
            let (endpoint, request) = flow.prepare_request(&self.inner.engine, self.now())?;
            let progress = match self.send(endpoint, request).await {
                Ok(response) => flow.handle_response(response, &self.inner.engine, self.now())?,
                Err(e @ Error::Transport { .. }) => flow.handle_transport_error(e)?,
                Err(e) => return Err(e),
            };
            match progress {
                Progress::Done(out) => return Ok(out),
                Progress::Again(next) => flow = next,
            }
        }
    }

    /// The wallet attestation and the challenges kept for it, if the wallet
    /// has one.
    pub(crate) fn attestation(
        &self,
    ) -> Option<(
        &crate::jose::ClientAttestation,
        &crate::flow::protection::AttestationChallenges,
    )> {
        self.inner
            .attestation
            .as_ref()
            .map(|a| (a, &self.inner.challenges))
    }

    /// What this wallet can do beyond the baseline, for the checks before
    /// anything is spent.
    pub(crate) fn capabilities(&self) -> crate::flow::Capabilities {
        crate::flow::Capabilities {
            key_attestations: self.inner.key_attestations.is_some(),
        }
    }

    /// The protection of a PAR or token request to `server`: DPoP when
    /// `dpop` is given, and the wallet attestation when the wallet has one.
    pub(crate) fn protect_at<'a>(
        &'a self,
        server: &'a crate::types::AuthorizationServerMetadata,
        dpop: Option<&'a mut crate::jose::DpopState>,
    ) -> Protection<'a> {
        Protection::authorization_server(server, dpop, self.attestation())
    }

    /// Sends one request, applying the URL policy and mapping transport errors.
    pub(crate) async fn send(
        &self,
        endpoint: Endpoint,
        request: HttpRequest,
    ) -> Result<HttpResponse> {
        let url = display_url(&request.url);
        crate::http::check_url(&request.url, self.inner.engine.allow_http).map_err(|kind| {
            Error::Transport {
                endpoint,
                url: url.clone(),
                kind,
            }
        })?;
        tracing::debug!(%endpoint, %url, method = request.method.as_str(), "request");
        let response = self
            .inner
            .http
            .send(request)
            .await
            .map_err(|kind| Error::Transport {
                endpoint,
                url: url.clone(),
                kind,
            })?;
        tracing::debug!(%endpoint, %url, status = response.status, bytes = response.body.len(), "response");
        Ok(response)
    }

    /// Checks the issuer signature of SD-JWT credentials and records what it
    /// established: an `x5c` chain to the app's trust anchors (a chain that
    /// reaches none is unverified, even when the signature matches its leaf),
    /// else the keys at the issuer's `/.well-known/jwt-vc-issuer`. With
    /// `require_verified`, an unverified credential is an error.
    pub(super) async fn verify_signatures(
        &self,
        credential_issuer: &str,
        credentials: &mut [IssuedCredential],
    ) -> Result<()> {
        match self.verify_all(credential_issuer, credentials).await {
            Err(Error::CredentialCheck(rejection)) => {
                Err(Error::CredentialCheck(rejection.with_credentials(
                    credentials.iter().map(|c| c.credential.clone()).collect(),
                    credentials.iter().find_map(|c| c.notification_id.clone()),
                )))
            }
            other => other,
        }
    }

    async fn verify_all(
        &self,
        credential_issuer: &str,
        credentials: &mut [IssuedCredential],
    ) -> Result<()> {
        let mut keys = KeyCache::default();
        let now = self.now();
        for (i, credential) in credentials.iter_mut().enumerate() {
            let text = credential.as_str().unwrap_or_default();
            let at = |e: String| Error::check(format!("credentials[{i}]: {e}"));
            if credential.format == "mso_mdoc" {
                let mdoc = Mdoc::parse(text).map_err(at)?;
                mdoc.check_validity(now).map_err(at)?;
                credential.verification = if self.inner.verify_signatures {
                    self.verify_mdoc(&mdoc, now).map_err(at)?
                } else {
                    Verification::unverified(
                        "issuer signature checks are turned off (verify_credential_signatures)",
                    )
                };
                self.settle(credential).map_err(at)?;
                continue;
            }
            let (sd, vc);
            let (signed, iss) = if is_sd_jwt(&credential.format) {
                sd = SdJwt::parse(text).map_err(at)?;
                sd.check_issuer_jwt(now).map_err(at)?;
                (sd.issuer_signed(), sd.issuer())
            } else if credential.format == "jwt_vc_json" {
                vc = JwtVc::parse(text).map_err(at)?;
                vc.check(now).map_err(at)?;
                (vc.issuer_signed(), vc.issuer())
            } else {
                continue;
            };
            let iss = iss
                .ok_or_else(|| at("the credential has no iss".into()))?
                .to_string();
            if !same_origin(&iss, credential_issuer) {
                return Err(at(format!(
                    "iss {} is another issuer than the credential issuer {}",
                    sanitize(&iss, 80),
                    sanitize(credential_issuer, 80)
                )));
            }
            credential.verification = if self.inner.verify_signatures {
                self.verify_issuer_signed(&signed, &iss, &mut keys)
                    .await
                    .map_err(|e| match e {
                        Error::CredentialCheck(r) => at(r.problem),
                        other => other,
                    })?
            } else {
                Verification::unverified(
                    "issuer signature checks are turned off (verify_credential_signatures)",
                )
            };
            self.settle(credential).map_err(at)?;
        }
        Ok(())
    }

    /// Records whether `credential` was verified; with `require_verified`,
    /// an unverified one is an error.
    fn settle(&self, credential: &mut IssuedCredential) -> std::result::Result<(), String> {
        credential.signature_verified = credential.verification.is_verified();
        match (self.inner.require_verified, &credential.verification) {
            (true, Verification::Unverified { reason }) => Err(format!(
                "the issuer is not verified ({reason}), and the wallet requires verified issuers"
            )),
            _ => Ok(()),
        }
    }

    /// An mdoc's `issuerAuth`: its `x5chain` to the app's (IACA) trust
    /// anchors, and the COSE signature with the document signer's key. A
    /// signature that does not match its own certificate is an error; a
    /// chain to no anchor is unverified.
    fn verify_mdoc(&self, mdoc: &Mdoc, now: u64) -> std::result::Result<Verification, String> {
        if mdoc.x5chain().is_empty() {
            return Ok(Verification::unverified(
                "the mdoc's issuerAuth has no x5chain, so no key to check it with",
            ));
        }
        mdoc.check_issuing_country(&mdoc.x5chain()[0])?;
        Ok(
            match check_x5chain(mdoc.x5chain(), &self.inner.trust_anchors, now)? {
                ChainOutcome::Trusted { anchor, leaf_jwk } => {
                    mdoc.verify_signature(&leaf_jwk)?;
                    Verification::Verified {
                        by: VerifiedBy::TrustAnchor { anchor },
                    }
                }
                ChainOutcome::NoAnchor { reason, leaf_jwk } => {
                    mdoc.verify_signature(&leaf_jwk)?;
                    Verification::unverified(reason.replace("x5c chain", "x5chain"))
                }
            },
        )
    }

    /// Finds the key of `iss` and checks the signature with it: an `x5c`
    /// chain to the trust anchors, a DID, or the JWT VC issuer metadata.
    async fn verify_issuer_signed(
        &self,
        signed: &IssuerSigned<'_>,
        iss: &str,
        keys: &mut KeyCache,
    ) -> Result<Verification> {
        if let Some(x5c) = signed.header.get("x5c") {
            let outcome =
                check_x5c(x5c, &self.inner.trust_anchors, iss, self.now()).map_err(Error::check)?;
            return Ok(match outcome {
                ChainOutcome::Trusted { anchor, leaf_jwk } => {
                    signed.verify(&leaf_jwk).map_err(Error::check)?;
                    Verification::Verified {
                        by: VerifiedBy::TrustAnchor { anchor },
                    }
                }
                ChainOutcome::NoAnchor { reason, leaf_jwk } => {
                    // A signature that does not even match its own leaf is
                    // a broken credential, not merely an untrusted one.
                    signed.verify(&leaf_jwk).map_err(Error::check)?;
                    Verification::unverified(reason)
                }
            });
        }
        if did::method(iss).is_some() {
            if !did::kid_names(signed.kid(), iss) {
                return Err(Error::check("the kid names another DID than iss"));
            }
            let jwk = match did::resolve(iss, self.inner.engine.allow_http) {
                Ok(did::DidKey::Local(jwk)) => jwk,
                Ok(did::DidKey::Document(url)) => {
                    if !keys.documents.contains_key(&url) {
                        let document = self.run(DidWebDocument::new(&url)).await?;
                        keys.documents.insert(url.clone(), document);
                    }
                    did::key_in_document(&keys.documents[&url], iss, signed.kid())
                        .map_err(|e| Error::check(format!("{iss}: {e}")))?
                }
                Err(reason) => {
                    return Ok(Verification::unverified(format!(
                        "iss {}: {reason}",
                        sanitize(iss, 80)
                    )))
                }
            };
            signed.verify(&jwk).map_err(Error::check)?;
            return Ok(Verification::Verified {
                by: VerifiedBy::Did {
                    did: sanitize(iss, crate::error::MAX_QUOTED_CHARS),
                },
            });
        }
        if !(iss.starts_with("https://") || iss.starts_with("http://")) {
            return Ok(Verification::unverified(format!(
                "no x5c, and iss {} is neither an https URL nor a DID",
                sanitize(iss, 80)
            )));
        }
        if !keys.issuers.contains_key(iss) {
            let exchange = JwtVcIssuerKeys::new(iss).map_err(|_| {
                Error::check(format!(
                    "iss {} is not an issuer URL to find its keys at",
                    sanitize(iss, 80)
                ))
            })?;
            let url = exchange.url().to_string();
            let found = self.run(exchange).await?;
            keys.issuers.insert(iss.to_string(), (url, found));
        }
        let (url, found) = &keys.issuers[iss];
        verify_with_any(signed, found)?;
        Ok(Verification::Verified {
            by: VerifiedBy::IssuerMetadata {
                url: display_url(url),
            },
        })
    }
}

/// Whether an `iss` that is a URL has the credential issuer's origin
/// (scheme, host, port). DIDs and other identifiers are not URLs of an
/// issuer: their keys decide.
fn same_origin(iss: &str, credential_issuer: &str) -> bool {
    if !(iss.starts_with("https://") || iss.starts_with("http://")) {
        return true;
    }
    match (url::Url::parse(iss), url::Url::parse(credential_issuer)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// Keys fetched while checking one response: the JWT VC issuer metadata
/// (URL and keys) per `iss`, DID documents per URL.
#[derive(Default)]
struct KeyCache {
    issuers: HashMap<String, (String, Vec<Value>)>,
    documents: HashMap<String, Value>,
}

fn verify_with_any(sd: &IssuerSigned<'_>, keys: &[Value]) -> Result<()> {
    let candidates: Vec<&Value> = match sd.kid() {
        Some(kid)
            if keys
                .iter()
                .any(|k| k.get("kid").and_then(Value::as_str) == Some(kid)) =>
        {
            keys.iter()
                .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                .collect()
        }
        _ => keys.iter().collect(),
    };
    let mut last = "the issuer publishes no usable key".to_string();
    for key in candidates {
        match sd.verify(key) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(Error::check(last))
}
