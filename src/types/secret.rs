//! Secret newtypes: their `Debug` and `Display` never show the value.
//!
//! They serialize as plain strings, because saved sessions must hold them; store
//! saved sessions in the platform's secure storage.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! secret {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value. Do not log it.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_string())
            }
        }
    )*};
}

secret! {
    /// The `pre-authorized_code` from a credential offer.
    PreAuthorizedCode;
    /// The transaction code (PIN) the user enters for a pre-authorized offer.
    TxCode;
    /// An OAuth access token.
    AccessToken;
    /// An OAuth refresh token.
    RefreshToken;
    /// A PKCE code verifier.
    PkceVerifier;
    /// An `issuer_state` value from an offer (opaque, may identify the user).
    IssuerState;
    /// A DPoP private key (the base64url P-256 scalar).
    DpopPrivateKey;
    /// A credential response decryption key (the base64url P-256 scalar).
    EncryptionPrivateKey;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = TxCode::new("493536");
        assert_eq!(format!("{t:?}"), "TxCode(<redacted>)");
        assert_eq!(t.secret(), "493536");
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"493536\"");
    }
}
