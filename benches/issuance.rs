//! Benchmarks: the sequential round trips of one issuance when every answer
//! takes 50 ms (baseline: one request at the same latency), one full
//! pre-authorized issuance against the in-process
//! reference issuer, with bearer tokens and over DPoP (with and without nonce
//! challenges) (baseline: one bare HTTP GET of the issuer metadata with the
//! same transport), and building a proof JWT or a DPoP proof (baseline: the
//! ES256 signature alone), and checking one received SD-JWT credential in the
//! verify layer (parse with disclosure digests, the key-free issuer-JWT checks,
//! the issuer signature; with an `x5c` chain also the path to the app's trust
//! anchor), and one mdoc PID (decode with item digests, validity, `x5chain`
//! to its root, COSE signature) (baseline: one bare ES256 JWS signature
//! verification with `p256`).

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use criterion::{criterion_group, criterion_main, Criterion};
use oid4vci_issuer::{CredentialSigning, Issuer, OfferRequest, RunningIssuer};
use oid4vci_wallet::flow::{build_proof_jwt, DpopServer, DpopState, ProofClaims};
use oid4vci_wallet::types::AccessToken;
use oid4vci_wallet::verify::Mdoc;
use oid4vci_wallet::verify::SdJwt;
use oid4vci_wallet::verify::{check_x5c, check_x5chain, ChainOutcome, TrustAnchors};
use oid4vci_wallet::{Grant, Issuance, IssuedCredential, Signer, SoftwareSigner, Wallet};
use oid4vci_wallet::{HttpClient, HttpRequest, ReqwestClient, ReqwestConfig};
use std::cell::Cell;
use std::hint::black_box;
use std::time::{Duration, Instant};

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

/// Round trips on a phone's network: the reference issuer delays every
/// answer by 50 ms, so one issuance's time over one request's is the number
/// of sequential round trips (baseline: one metadata GET, same latency).
fn round_trips(c: &mut Criterion) {
    const LATENCY: Duration = Duration::from_millis(50);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let issuer = rt
        .block_on(Issuer::builder().latency(LATENCY).spawn("127.0.0.1:0"))
        .unwrap();
    let wallet = Wallet::builder().dangerous_allow_http().build().unwrap();
    let signer = SoftwareSigner::generate();
    let transport = ReqwestClient::new(ReqwestConfig {
        allow_http: true,
        ..Default::default()
    })
    .unwrap();
    let metadata_url = format!("{}/.well-known/openid-credential-issuer", issuer.base_url());
    let mut group = c.benchmark_group("round_trips");
    group.sample_size(10);
    let one = |_: ()| async {
        transport
            .send(HttpRequest::get(&metadata_url))
            .await
            .unwrap()
            .body
            .len()
    };
    let baseline = timed_async(
        &mut group,
        &rt,
        "baseline: one request at 50 ms",
        || one(()),
    );
    let full = timed_async(
        &mut group,
        &rt,
        "full pre-authorized issuance (by reference, tx_code) at 50 ms",
        || issue(&issuer, &wallet, &signer),
    );
    group.finish();
    if let (Some(base), Some(mean)) = (baseline.mean(), full.mean()) {
        eprintln!(
            "round_trips: one request {base:.2?}, one issuance {mean:.2?}: {:.2} sequential round trips",
            mean.as_secs_f64() / base.as_secs_f64()
        );
    }
}

/// [`timed`] for an async routine, run on `rt`.
fn timed_async<F, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &'static str,
    mut routine: F,
) -> Timed
where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
{
    timed(group, name, || rt.block_on(routine()))
}

/// One pre-authorized issuance (offer by reference, tx_code); the number of
/// credentials.
async fn issue(issuer: &RunningIssuer, wallet: &Wallet, signer: &SoftwareSigner) -> usize {
    issue_credentials(issuer, wallet, signer).await.len()
}

/// One pre-authorized issuance (offer by reference, tx_code) of a PID
/// (`pid_sd_jwt`); the credentials.
async fn issue_credentials(
    issuer: &RunningIssuer,
    wallet: &Wallet,
    signer: &SoftwareSigner,
) -> Vec<IssuedCredential> {
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
        Issuance::Issued(list) => list,
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
    let request = oid4vci_wallet::HttpRequest::post(
        "https://issuer.example/credential",
        "application/json",
        vec![],
    );
    let token = AccessToken::new("eyJhbGciOiJFUzI1NiJ9.access.token");
    group.bench_function("DPoP proof (htu, ath, jti, sign, encode)", |b| {
        b.iter(|| {
            black_box(
                dpop.proof(
                    DpopServer::CredentialIssuer,
                    black_box(&request),
                    Some(&token),
                    1_767_225_600,
                    &oid4vci_wallet::OsRandom,
                    None,
                )
                .unwrap(),
            )
        })
    });
    group.finish();
}

/// Checking one received SD-JWT VC in the verify layer, against one bare
/// ES256 signature verification. The credentials come from a real issuance
/// against the reference issuer (signing with a `kid` of its published key,
/// and with an `x5c` chain to its test root), once, before measuring.
fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let wallet = Wallet::builder().dangerous_allow_http().build().unwrap();
    let signer = SoftwareSigner::generate();
    let (kid_sd_jwt, issuer_jwk) = rt.block_on(async {
        let issuer = Issuer::builder().spawn("127.0.0.1:0").await.unwrap();
        let issued = issue_credentials(&issuer, &wallet, &signer).await;
        (issued[0].as_str().unwrap().to_string(), issuer.issuer_jwk())
    });
    let (x5c_sd_jwt, root_pem) = rt.block_on(async {
        let issuer = Issuer::builder()
            .credential_signing(CredentialSigning::X5cChain)
            .spawn("127.0.0.1:0")
            .await
            .unwrap();
        let issued = issue_credentials(&issuer, &wallet, &signer).await;
        (
            issued[0].as_str().unwrap().to_string(),
            issuer.trust_anchor_pem(),
        )
    });
    let mut anchors = TrustAnchors::new();
    anchors.add(root_pem.as_bytes()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // (a) The issuer-signed JWT of the kid credential, as a bare JWS.
    let jws = kid_sd_jwt.split('~').next().unwrap().to_string();
    let (input, signature_b64) = jws.rsplit_once('.').unwrap();
    let signature = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        signature_b64,
    )
    .unwrap();
    // The JWK's x and y as a SEC1 point (its kid, alg and use are not
    // members p256's JWK parser accepts).
    let coordinate = |name: &str| {
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            issuer_jwk[name].as_str().unwrap(),
        )
        .unwrap()
    };
    let point = [vec![4u8], coordinate("x"), coordinate("y")].concat();
    let p256_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    let es256_p256 = || {
        use p256::ecdsa::signature::Verifier as _;
        let signature = p256::ecdsa::Signature::from_slice(black_box(&signature)).unwrap();
        p256_key
            .verify(black_box(input.as_bytes()), &signature)
            .unwrap()
    };
    // The same with aws-lc-rs, the primitive the verify layer uses.
    let aws_key = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        p256_key.to_encoded_point(false).as_bytes().to_vec(),
    );
    let es256_aws_lc = || {
        aws_key
            .verify(black_box(input.as_bytes()), black_box(&signature))
            .unwrap()
    };
    // (b) parse (disclosure digests), key-free checks, issuer signature.
    let sd_jwt_kid = || {
        let sd = SdJwt::parse(black_box(&kid_sd_jwt)).unwrap();
        sd.check_issuer_jwt(now).unwrap();
        sd.verify_signature(&issuer_jwk).unwrap();
        sd
    };
    // (c) the same, the key from the x5c chain to the app's anchor.
    let sd_jwt_x5c = || {
        let sd = SdJwt::parse(black_box(&x5c_sd_jwt)).unwrap();
        sd.check_issuer_jwt(now).unwrap();
        let x5c = sd.header().get("x5c").unwrap();
        let Ok(ChainOutcome::Trusted { leaf_jwk, .. }) =
            check_x5c(x5c, &anchors, sd.issuer().unwrap(), now)
        else {
            panic!("the x5c chain is not trusted")
        };
        sd.verify_signature(&leaf_jwk).unwrap();
        sd
    };
    // (d) an mdoc PID from the reference issuer: decode with every item's
    // digest, validity, the x5chain to its IACA root, the COSE signature.
    let pid_mdoc = oid4vci_issuer::sample_mdoc("pid_mdoc", &signer.public_jwk()).unwrap();
    let mut iaca = TrustAnchors::new();
    iaca.add(pid_mdoc.trust_anchor_pem.as_bytes()).unwrap();
    let mdoc_pid = || {
        let mdoc = Mdoc::parse(black_box(&pid_mdoc.credential)).unwrap();
        mdoc.check_validity(now).unwrap();
        let Ok(ChainOutcome::Trusted { leaf_jwk, .. }) = check_x5chain(mdoc.x5chain(), &iaca, now)
        else {
            panic!("the x5chain is not trusted")
        };
        mdoc.verify_signature(&leaf_jwk).unwrap();
        mdoc
    };
    // Each must pass before it is measured.
    es256_p256();
    es256_aws_lc();
    sd_jwt_kid();
    sd_jwt_x5c();
    mdoc_pid();

    let mut group = c.benchmark_group("verify");
    let baseline = timed(
        &mut group,
        "baseline: ES256 JWS signature verification (p256)",
        es256_p256,
    );
    let rows = [
        timed(
            &mut group,
            "  the same with aws-lc-rs (the verify layer's primitive)",
            es256_aws_lc,
        ),
        timed(
            &mut group,
            "SD-JWT VC (kid): parse, check_issuer_jwt, verify_signature",
            sd_jwt_kid,
        ),
        timed(
            &mut group,
            "SD-JWT VC (x5c): the same plus check_x5c to the anchor",
            sd_jwt_x5c,
        ),
        timed(
            &mut group,
            "mdoc PID: parse + digests, validity, x5chain, COSE signature",
            mdoc_pid,
        ),
    ];
    group.finish();
    if let Some(base) = baseline.mean() {
        eprintln!("verify: baseline (p256 ES256 verify) {base:.2?} per check");
        for row in &rows {
            if let Some(mean) = row.mean() {
                eprintln!(
                    "verify: {:<60} {mean:>10.2?}  {:>5.2}x the baseline",
                    row.name.trim(),
                    mean.as_secs_f64() / base.as_secs_f64()
                );
            }
        }
    }
}

/// The wall time of every iteration criterion ran of one benchmark (warm-up
/// included), for ratios printed after the group.
struct Timed {
    name: &'static str,
    total: Cell<Duration>,
    iterations: Cell<u64>,
}

impl Timed {
    fn mean(&self) -> Option<Duration> {
        let n = self.iterations.get();
        (n > 0).then(|| Duration::from_secs_f64(self.total.get().as_secs_f64() / n as f64))
    }
}

fn timed<R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &'static str,
    mut routine: impl FnMut() -> R,
) -> Timed {
    let timed = Timed {
        name,
        total: Cell::new(Duration::ZERO),
        iterations: Cell::new(0),
    };
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(routine());
            }
            let elapsed = start.elapsed();
            timed.total.set(timed.total.get() + elapsed);
            timed.iterations.set(timed.iterations.get() + iterations);
            elapsed
        })
    });
    timed
}

criterion_group!(benches, issuance, round_trips, proof, verify);
criterion_main!(benches);
