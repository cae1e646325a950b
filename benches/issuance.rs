//! Benchmarks: one full pre-authorized issuance against the in-process
//! reference issuer, with bearer tokens and over DPoP (with and without nonce
//! challenges) (baseline: one bare HTTP GET of the issuer metadata with the
//! same transport), and building a proof JWT or a DPoP proof (baseline: the
//! ES256 signature alone).

use criterion::{criterion_group, criterion_main, Criterion};
use oid4vci_issuer::{Issuer, OfferRequest, RunningIssuer};
use oid4vci_wallet::http::{HttpClient, HttpRequest, ReqwestClient, ReqwestConfig};
use oid4vci_wallet::jose::{build_proof_jwt, DpopServer, DpopState, ProofClaims};
use oid4vci_wallet::types::AccessToken;
use oid4vci_wallet::{Grant, Issuance, Signer, SoftwareSigner, Wallet};
use std::hint::black_box;

fn issuance(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let issuer = rt.block_on(Issuer::builder().spawn("127.0.0.1:0")).unwrap();
    let dpop_issuer = rt
        .block_on(Issuer::builder().require_dpop(true).spawn("127.0.0.1:0"))
        .unwrap();
    let dpop_nonce_issuer = rt
        .block_on(
            Issuer::builder()
                .require_dpop(true)
                .dpop_nonce(true)
                .spawn("127.0.0.1:0"),
        )
        .unwrap();
    let wallet = Wallet::builder().dangerous_allow_http().build().unwrap();
    let signer = SoftwareSigner::generate();
    let transport = ReqwestClient::new(ReqwestConfig {
        allow_http: true,
        ..Default::default()
    })
    .unwrap();
    let metadata_url = format!("{}/.well-known/openid-credential-issuer", issuer.base_url());

    let mut group = c.benchmark_group("issuance");
    group.bench_function("baseline: one metadata GET", |b| {
        b.to_async(&rt).iter(|| async {
            let response = transport
                .send(HttpRequest::get(&metadata_url))
                .await
                .unwrap();
            black_box(response.body.len())
        })
    });
    let runs = [
        (
            "full pre-authorized issuance (by reference, tx_code)",
            &issuer,
        ),
        ("  the same over DPoP", &dpop_issuer),
        (
            "  the same over DPoP with nonce challenges",
            &dpop_nonce_issuer,
        ),
    ];
    for (name, issuer) in runs {
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(issue(issuer, &wallet, &signer).await) })
        });
    }
    group.finish();
}

/// One pre-authorized issuance (offer by reference, tx_code); the number of
/// credentials.
async fn issue(issuer: &RunningIssuer, wallet: &Wallet, signer: &SoftwareSigner) -> usize {
    let created = issuer.create_offer(OfferRequest {
        tx_code: Some(true),
        by_reference: Some(true),
        ..Default::default()
    });
    let offer = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = offer.grant().unwrap() else {
        unreachable!()
    };
    let mut authorized = step
        .with_tx_code(created.tx_code.unwrap())
        .authorize(wallet)
        .await
        .unwrap();
    match authorized
        .request_credential(wallet, "pid_sd_jwt", signer)
        .await
        .unwrap()
    {
        Issuance::Issued(list) => list.len(),
        Issuance::Deferred(_) => unreachable!(),
    }
}

fn proof(c: &mut Criterion) {
    let signer = SoftwareSigner::generate();
    let claims = ProofClaims {
        issuer: Some("wallet".into()),
        audience: "https://issuer.example/tenant".into(),
        issued_at: 1_767_225_600,
        nonce: Some("wKI4LT17ac15ES9bw8ac4".into()),
    };
    let mut group = c.benchmark_group("proof");
    group.bench_function("baseline: ES256 signature alone", |b| {
        b.iter(|| {
            black_box(
                signer
                    .sign(black_box(b"eyJhbGciOiJFUzI1NiJ9.eyJhdWQiOiJ4In0"))
                    .unwrap(),
            )
        })
    });
    group.bench_function("proof JWT (header, claims, sign, encode)", |b| {
        b.iter(|| black_box(build_proof_jwt(&signer, black_box(&claims)).unwrap()))
    });
    let dpop = DpopState::generate();
    let token = AccessToken::new("eyJhbGciOiJFUzI1NiJ9.access.token");
    group.bench_function("DPoP proof (htu, ath, jti, sign, encode)", |b| {
        b.iter(|| {
            black_box(
                dpop.proof(
                    DpopServer::CredentialIssuer,
                    "POST",
                    black_box("https://issuer.example/credential"),
                    Some(&token),
                    1_767_225_600,
                    &oid4vci_wallet::OsRandom,
                )
                .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, issuance, proof);
criterion_main!(benches);
