//! A resolved offer ([`ResolvedOffer`]) and what the app shows of it:
//! display entries, the offered credentials, its grants and the transaction
//! code it needs; and the pre-authorized token request.

use super::cancel::{cancellable, Cancellation};
use super::wallet::require_client_id;
use super::{AuthorizedSession, PendingAuthorization, Wallet, WalletError};
use crate::flow::offer::Grant as CoreGrant;

use std::sync::Arc;

/// Display information in the wallet's locale.
#[derive(Debug, Clone, uniffi::Record)]
pub struct DisplayInfo {
    /// Name, safe to show: controls become spaces, bidi and invisible format
    /// characters are removed (so one issuer's name cannot read as another's).
    pub name: Option<String>,
    /// Locale of this entry.
    pub locale: Option<String>,
    /// Logo URI (`https:` or `data:`).
    pub logo_uri: Option<String>,
    /// Description, safe to show like `name`.
    pub description: Option<String>,
    /// Background colour.
    pub background_color: Option<String>,
    /// Text colour.
    pub text_color: Option<String>,
}

impl From<&crate::types::Display> for DisplayInfo {
    fn from(d: &crate::types::Display) -> Self {
        Self {
            name: d
                .name
                .as_deref()
                .map(|n| crate::error::display_text(n).into_owned()),
            locale: d.locale.clone(),
            logo_uri: d.logo.as_ref().and_then(|l| l.uri.clone()),
            description: d
                .description
                .as_deref()
                .map(|n| crate::error::display_text(n).into_owned()),
            background_color: d.background_color.clone(),
            text_color: d.text_color.clone(),
        }
    }
}

/// One offered credential.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OfferedCredential {
    /// Configuration id (pass it to `request_credential`).
    pub configuration_id: String,
    /// Format (`dc+sd-jwt`, ...).
    pub format: String,
    /// Display in the wallet's locale.
    pub display: Option<DisplayInfo>,
}

/// Which kind of grant the offer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum GrantKind {
    /// Pre-authorized code (maybe with a transaction code).
    PreAuthorized,
    /// Authorization code (the user logs in in the browser).
    AuthorizationCode,
}

/// How the transaction code is entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TxCodeInputMode {
    /// Digits only.
    Numeric,
    /// Any text.
    Text,
}

/// What to tell the user about the transaction code.
#[derive(Debug, Clone, uniffi::Record)]
pub struct TxCodeInfo {
    /// Numeric or text keyboard.
    pub input_mode: TxCodeInputMode,
    /// Expected length (a hint).
    pub length: Option<u32>,
    /// Guidance from the issuer.
    pub description: Option<String>,
}

/// A resolved credential offer: the offer with its issuer's checked
/// metadata, ready to show and to authorize.
///
/// It is also the pre-authorized step: with [`Self::tx_code_spec`] not null the
/// app shows the PIN screen, then calls [`Self::authorize`] with the code.
/// Save it with [`Self::to_json`] before the PIN screen (or before the
/// browser, for the authorization code grant): the app may be killed there,
/// and an offer by reference is single use. [`Self::from_json`] restores it
/// in a new process without any request.
#[derive(uniffi::Object)]
pub struct ResolvedOffer {
    resolved: crate::ResolvedOffer,
    locales: Vec<String>,
    authorized: tokio::sync::Mutex<bool>,
}

impl ResolvedOffer {
    pub(super) fn wrap(resolved: crate::ResolvedOffer, locales: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            resolved,
            locales,
            authorized: tokio::sync::Mutex::new(false),
        })
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl ResolvedOffer {
    /// Restores an offer saved with [`Self::to_json`], without fetching
    /// anything (the offer and its issuer's metadata are in the JSON).
    /// Throws `WalletError::InvalidState`, naming what is wrong, for anything
    /// else (not JSON, another saved state, a newer format, a missing field).
    #[uniffi::constructor]
    pub fn from_json(json: String, locales: Vec<String>) -> Result<Arc<Self>, WalletError> {
        Ok(Self::wrap(crate::ResolvedOffer::from_json(&json)?, locales))
    }

    /// Saves the offer (the offer and its issuer's checked metadata) as
    /// JSON. It holds the pre-authorized code: use secure storage. Throws
    /// `WalletError::InvalidState` once [`Self::authorize`] succeeded (the
    /// code is spent: save the session instead), or if it cannot be saved.
    pub async fn to_json(&self) -> Result<String, WalletError> {
        if *self.authorized.lock().await {
            return Err(WalletError::InvalidState {
                details: "this offer was already authorized; its code is spent: save the \
                          AuthorizedSession instead"
                    .into(),
            });
        }
        Ok(self.resolved.to_json()?)
    }

    /// The credential issuer identifier.
    pub fn issuer_id(&self) -> String {
        self.resolved.issuer_id().to_string()
    }

    /// The issuer's display entry in the wallet's locale.
    pub fn issuer_display(&self) -> Option<DisplayInfo> {
        self.resolved.issuer_display(&self.locales).map(Into::into)
    }

    /// The offered credentials.
    pub fn credentials(&self) -> Vec<OfferedCredential> {
        self.resolved
            .credentials()
            .iter()
            .map(|c| OfferedCredential {
                configuration_id: c.id.to_string(),
                format: c.configuration.format.clone(),
                display: c.configuration.display_for(&self.locales).map(Into::into),
            })
            .collect()
    }

    /// The grants the offer allows, pre-authorized first.
    pub fn grants(&self) -> Vec<GrantKind> {
        self.resolved
            .grants()
            .iter()
            .filter_map(|g| match g {
                CoreGrant::PreAuthorized(_) => Some(GrantKind::PreAuthorized),
                CoreGrant::AuthorizationCode(_) => Some(GrantKind::AuthorizationCode),
                #[allow(unreachable_patterns)]
                _ => None,
            })
            .collect()
    }

    /// The transaction code the pre-authorized grant needs, if any.
    pub fn tx_code_spec(&self) -> Option<TxCodeInfo> {
        self.pre_authorized()
            .ok()?
            .tx_code_spec()
            .map(|spec| TxCodeInfo {
                input_mode: match spec.mode() {
                    crate::types::InputMode::Numeric => TxCodeInputMode::Numeric,
                    crate::types::InputMode::Text => TxCodeInputMode::Text,
                },
                length: spec.length,
                description: spec.description.clone(),
            })
    }

    /// Runs the pre-authorized token request (with the user's transaction code
    /// when [`Self::tx_code_spec`] is not null). May be called again after a
    /// rejected code, as far as the issuer allows.
    #[uniffi::method(default(cancel = None))]
    pub async fn authorize(
        &self,
        wallet: Arc<Wallet>,
        tx_code: Option<String>,
        cancel: Option<Arc<Cancellation>>,
    ) -> Result<Arc<AuthorizedSession>, WalletError> {
        let mut authorized = self.authorized.lock().await;
        if *authorized {
            return Err(WalletError::InvalidState {
                details: "this offer was already authorized; its code is single use".into(),
            });
        }
        let mut step = self.pre_authorized()?;
        if let Some(code) = tx_code {
            step = step.with_tx_code(code);
        }
        let session =
            cancellable(cancel, async { Ok(step.authorize(&wallet.inner).await?) }).await?;
        *authorized = true;
        Ok(AuthorizedSession::wrap(session, self.locales.clone()))
    }

    /// Begins the offer's authorization code grant: builds the authorization
    /// request (PKCE, `state`, the offer's `issuer_state`; pushed when the
    /// server offers PAR) for the redirect URI the app registered. Open the
    /// returned authorization's URL in the browser. Needs `client_id`.
    pub async fn begin_authorization(
        &self,
        wallet: Arc<Wallet>,
        redirect_uri: String,
    ) -> Result<Arc<PendingAuthorization>, WalletError> {
        require_client_id(&wallet.inner)?;
        let step = self
            .resolved
            .grants()
            .into_iter()
            .find_map(|g| match g {
                CoreGrant::AuthorizationCode(step) => Some(step),
                _ => None,
            })
            .ok_or_else(|| WalletError::InvalidState {
                details: "the offer has no authorization code grant".into(),
            })?;
        let pending = step.authorization_url(&wallet.inner, &redirect_uri).await?;
        Ok(PendingAuthorization::wrap(pending, self.locales.clone()))
    }
}

impl ResolvedOffer {
    fn pre_authorized(&self) -> Result<crate::PreAuthorizedStep, WalletError> {
        self.resolved
            .grants()
            .into_iter()
            .find_map(|g| match g {
                CoreGrant::PreAuthorized(step) => Some(step),
                _ => None,
            })
            .ok_or_else(|| WalletError::InvalidState {
                details: "the offer has no pre-authorized code grant".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error as CoreError, ErrorCode};

    #[test]
    fn attestation_server_codes_stay_server_errors() {
        for code in ["use_fresh_attestation", "invalid_client"] {
            let core = CoreError::Server {
                endpoint: crate::error::Endpoint::Token,
                url: "https://as.example/token".into(),
                status: 400,
                error: crate::error::ServerError {
                    code: ErrorCode::parse(code),
                    description: Some("refused".into()),
                },
            };
            let mapped = WalletError::from(core);
            assert!(
                matches!(&mapped, WalletError::Server { code: c, status: 400, .. } if c == code),
                "{mapped}"
            );
        }
    }
}
