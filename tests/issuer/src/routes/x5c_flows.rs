//! Credentials signed with an `x5c` chain over the real dispatcher (no
//! sockets): the header in each signing mode, `GET /test/trust`, the chain
//! verified (webpki) to the served root, the `X5c*` faults, and the builder.

use crate::routes::test_support::{
    access_token, c_nonce, get, jws_part, key_proof, post_json, tenant_issuer, trust_anchor,
};
use crate::state::{Fault, Settings, Shared};
use crate::trust::tests::verify_to;
use crate::trust::CredentialSigning;
use crate::OfferRequest;
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio_rustls::rustls::pki_types::UnixTime;

fn issuer(credential_signing: CredentialSigning, faults: &[Fault]) -> Shared {
    tenant_issuer(Settings {
        credential_signing,
        faults: faults.iter().copied().collect(),
        ..Settings::default()
    })
}

/// A `pid_sd_jwt` credential through the pre-authorized flow.
async fn credential(shared: &Shared) -> String {
    let token = access_token(shared, OfferRequest::default()).await;
    let nonce = c_nonce(shared).await;
    let request = json!({
        "credential_configuration_id": "pid_sd_jwt",
        "proofs": {"jwt": [key_proof(&nonce)]},
    });
    let answer = post_json(shared, "credential", &token, &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.body["credentials"][0]["credential"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The issuer-signed JWT's header.
fn header(sd_jwt: &str) -> Value {
    jws_part(sd_jwt, 0)
}

/// The `x5c` header's certificates, DER.
fn x5c(header: &Value) -> Vec<Vec<u8>> {
    header["x5c"]
        .as_array()
        .expect("an x5c header")
        .iter()
        .map(|c| STANDARD.decode(c.as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn x5c_mode_signs_with_the_chain_to_the_served_root() {
    let shared = issuer(CredentialSigning::X5cChain, &[]);
    let sd_jwt = credential(&shared).await;
    let header = header(&sd_jwt);
    assert_eq!(header["typ"], "dc+sd-jwt");
    assert_eq!(header["alg"], "ES256");
    assert!(header.get("kid").is_none(), "{header}");
    let chain = x5c(&header);
    assert_eq!(chain.len(), 2);
    assert_eq!(chain, shared.pki().unwrap().chain());
    let root = trust_anchor(&shared).await;
    verify_to(&root, &chain, "127.0.0.1", UnixTime::now()).unwrap();

    // The JWT VC issuer metadata is served as before.
    let metadata = get(&shared, "/.well-known/jwt-vc-issuer/tenant").await;
    assert_eq!(metadata.status, StatusCode::OK);
    assert_eq!(
        metadata.body["jwks"]["keys"],
        json!([shared.keys.public_jwk()])
    );
}

#[tokio::test]
async fn kid_mode_is_unchanged_and_still_serves_the_trust_anchor() {
    let shared = issuer(CredentialSigning::Kid, &[]);
    let header = header(&credential(&shared).await);
    assert_eq!(header["kid"], shared.keys.public_jwk()["kid"]);
    assert!(header.get("x5c").is_none(), "{header}");
    assert_eq!(
        trust_anchor(&shared).await,
        shared.pki().unwrap().root_pem()
    );
}

#[tokio::test]
async fn x5c_faults_apply_in_either_mode() {
    for mode in [CredentialSigning::Kid, CredentialSigning::X5cChain] {
        let now = UnixTime::now();

        let shared = issuer(mode, &[Fault::X5cSelfSigned]);
        let root = trust_anchor(&shared).await;
        let header = header(&credential(&shared).await);
        assert!(header.get("kid").is_none(), "{header}");
        let chain = x5c(&header);
        assert_eq!(chain.len(), 1);
        assert!(verify_to(&root, &chain, "127.0.0.1", now).is_err());

        let shared = issuer(mode, &[Fault::X5cLeafForAnotherHost]);
        let root = trust_anchor(&shared).await;
        let chain = x5c(&header_of(&shared).await);
        assert_eq!(chain.len(), 2);
        verify_to(&root, &chain, "other.example", now).unwrap();
        assert!(verify_to(&root, &chain, "127.0.0.1", now).is_err());

        let shared = issuer(mode, &[Fault::X5cExpiredLeaf]);
        let root = trust_anchor(&shared).await;
        let chain = x5c(&header_of(&shared).await);
        assert_eq!(chain[1], shared.pki().unwrap().chain()[1]);
        assert!(verify_to(&root, &chain, "127.0.0.1", now).is_err());
    }
}

async fn header_of(shared: &Shared) -> Value {
    let header = header(&credential(shared).await);
    assert!(header.get("kid").is_none(), "{header}");
    header
}

#[tokio::test]
async fn the_builder_and_running_issuer_expose_the_trust_anchor() {
    let issuer = crate::Issuer::builder()
        .credential_signing(CredentialSigning::X5cChain)
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    assert!(issuer
        .trust_anchor_pem()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(CredentialSigning::default(), CredentialSigning::Kid);
}
