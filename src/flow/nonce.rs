//! The nonce endpoint (OID4VCI 1.0 section 7): a fresh `c_nonce` for the proofs.

use super::{expect_json, EngineConfig, Exchange, Progress};
use crate::error::{display_url, Endpoint, Error, Result};
use crate::http::{HttpRequest, HttpResponse};
use crate::types::NonceResponse;

/// Fetching a fresh `c_nonce` from the nonce endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceExchange {
    url: String,
}

impl NonceExchange {
    /// A nonce request to the given endpoint.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
        }
    }
}

impl Exchange for NonceExchange {
    type Output = String;

    fn endpoint(&self) -> Endpoint {
        Endpoint::Nonce
    }

    fn prepare_request(&self, _config: &EngineConfig) -> Result<HttpRequest> {
        Ok(HttpRequest {
            method: crate::http::Method::Post,
            url: self.url.clone(),
            headers: vec![("accept".into(), "application/json".into())],
            body: Vec::new(),
        })
    }

    fn handle_response(
        self,
        response: HttpResponse,
        _config: &EngineConfig,
    ) -> Result<Progress<Self, String>> {
        let nonce: NonceResponse = expect_json(Endpoint::Nonce, &self.url, &response)?;
        if nonce.c_nonce.is_empty() {
            return Err(Error::UnexpectedResponse {
                endpoint: Endpoint::Nonce,
                url: display_url(&self.url),
                status: response.status,
                problem: "field c_nonce: empty".into(),
            });
        }
        Ok(Progress::Done(nonce.c_nonce))
    }
}
