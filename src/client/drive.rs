//! The loop: sends an exchange's requests (with their protection) until it
//! is done, and checks the issuer's signature on what was received.

use super::Wallet;
use crate::error::{display_url, sanitize, Endpoint, Error, ErrorCode, Result};
use crate::flow::credential::{is_sd_jwt, IssuedCredential};
use crate::flow::discovery::JwtVcIssuerKeys;
use crate::flow::protection::{Protected, Protection};
use crate::flow::{Exchange, Progress};
use crate::http::{HttpRequest, HttpResponse};
use crate::verify::sd_jwt::SdJwt;
use crate::verify::trust::{check_x5c, ChainOutcome};
use crate::verify::{Verification, VerifiedBy};
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
        let mut exchange = Protected::new(step, protection);
        loop {
            let (endpoint, request) = exchange.prepare_request(&self.inner.engine, self.now())?;
            let response = self.send(endpoint, request).await?;
            match exchange.handle_response(response, &self.inner.engine)? {
                Progress::Done(out) => return Ok(out),
                Progress::Again(next) => exchange = next,
            }
        }
    }

    /// The protection of a PAR or token request to `server`: DPoP when
    /// `dpop` is given, and the wallet attestation when the wallet has one.
    pub(crate) fn protect_at<'a>(
        &'a self,
        server: &'a crate::types::AuthorizationServerMetadata,
        dpop: Option<&'a mut crate::jose::DpopState>,
    ) -> Protection<'a> {
        let attestation = self
            .inner
            .attestation
            .as_ref()
            .map(|a| (a, &self.inner.challenges));
        Protection::authorization_server(server, dpop, attestation)
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
        credentials: &mut [IssuedCredential],
    ) -> Result<()> {
        match self.verify_all(credentials).await {
            Err(Error::CredentialCheck(rejection)) => {
                Err(Error::CredentialCheck(rejection.with_credentials(
                    credentials.iter().map(|c| c.credential.clone()).collect(),
                    credentials.iter().find_map(|c| c.notification_id.clone()),
                )))
            }
            other => other,
        }
    }

    async fn verify_all(&self, credentials: &mut [IssuedCredential]) -> Result<()> {
        let mut keys_by_issuer: HashMap<String, (String, Vec<Value>)> = HashMap::new();
        let now = self.now();
        for (i, credential) in credentials.iter_mut().enumerate() {
            if !is_sd_jwt(&credential.format) {
                continue;
            }
            if let Some(sd) = credential.sd_jwt() {
                sd.check_issuer_jwt(now)
                    .map_err(|e| Error::check(format!("credentials[{i}]: {e}")))?;
            }
            credential.verification = if self.inner.verify_signatures {
                self.verify_sd_jwt(credential, &mut keys_by_issuer).await?
            } else {
                Verification::unverified(
                    "issuer signature checks are turned off (verify_credential_signatures)",
                )
            };
            credential.signature_verified = credential.verification.is_verified();
            if let (true, Verification::Unverified { reason }) =
                (self.inner.require_verified, &credential.verification)
            {
                return Err(Error::check(format!(
                    "the credential's issuer is not verified ({reason}), and the wallet requires verified issuers"
                )));
            }
        }
        Ok(())
    }

    async fn verify_sd_jwt(
        &self,
        credential: &IssuedCredential,
        keys_by_issuer: &mut HashMap<String, (String, Vec<Value>)>,
    ) -> Result<Verification> {
        let sd = credential
            .sd_jwt()
            .ok_or_else(|| Error::check("SD-JWT did not parse"))?;
        let iss = sd
            .issuer()
            .ok_or_else(|| Error::check("SD-JWT has no iss to find its key"))?
            .to_string();
        if let Some(x5c) = sd.header().get("x5c") {
            let outcome = check_x5c(x5c, &self.inner.trust_anchors, &iss, self.now())
                .map_err(Error::check)?;
            return Ok(match outcome {
                ChainOutcome::Trusted { anchor, leaf_jwk } => {
                    sd.verify_signature(&leaf_jwk).map_err(Error::check)?;
                    Verification::Verified {
                        by: VerifiedBy::TrustAnchor { anchor },
                    }
                }
                ChainOutcome::NoAnchor { reason, leaf_jwk } => {
                    // A signature that does not even match its own leaf is
                    // a broken credential, not merely an untrusted one.
                    sd.verify_signature(&leaf_jwk).map_err(Error::check)?;
                    Verification::unverified(reason)
                }
            });
        }
        if !(iss.starts_with("https://") || iss.starts_with("http://")) {
            return Ok(Verification::unverified(format!(
                "no x5c, and the issuer key method of iss {} is not supported",
                sanitize(&iss, 80)
            )));
        }
        if !keys_by_issuer.contains_key(&iss) {
            let exchange = JwtVcIssuerKeys::new(&iss).map_err(|_| {
                Error::check(format!(
                    "iss {} is not an issuer URL to find its keys at",
                    sanitize(&iss, 80)
                ))
            })?;
            let url = exchange.url().to_string();
            let keys = self.run(exchange).await?;
            keys_by_issuer.insert(iss.clone(), (url, keys));
        }
        let (url, keys) = &keys_by_issuer[&iss];
        verify_with_any(&sd, keys)?;
        Ok(Verification::Verified {
            by: VerifiedBy::IssuerMetadata {
                url: display_url(url),
            },
        })
    }
}

pub(super) fn is_invalid_token(e: &Error) -> bool {
    matches!(e, Error::Server { status: 401, error, .. } if error.code == ErrorCode::InvalidToken)
}

fn verify_with_any(sd: &SdJwt, keys: &[Value]) -> Result<()> {
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
        match sd.verify_signature(key) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(Error::check(last))
}
