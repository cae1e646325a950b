//! Client CPU: one full pre-authorized issuance (offer by reference,
//! tx_code, `pid_sd_jwt`, the SD-JWT's issuer signature verified) over an
//! in-process transport that answers at once, against a baseline of one
//! ES256 signature plus one ES256 verification with `p256` (the least any
//! issuance must do: sign the proof, check the credential). Goal: at most 2x
//! the baseline.
//!
//! The transport replays what the reference issuer really answered: one
//! issuance runs first over HTTP against the in-process issuer through a
//! recording transport, with a fixed clock, a seeded random source and a
//! fixed holder key, so that every later issuance sends the same requests
//! but for the ES256 signatures in them (the SDK's aws-lc-rs signer draws a
//! fresh nonce per signature). The replay answers a request only with the
//! response recorded for that request (method, URL, headers, body, with
//! the third segment of each compact JWS masked) and panics on any other;
//! every replayed credential must come out verified.
//!
//! ```sh
//! cargo bench --bench client_cpu
//! # a profile of the replayed issuance alone:
//! perf record -g --call-graph dwarf -o /tmp/client_cpu.data \
//!   target/release/deps/client_cpu-* --bench 'client_cpu/one issuance' --profile-time 10
//! ```
//!
//! After the criterion rows it prints the ratio to the baseline and a
//! breakdown of one issuance by step (`resolve_offer`, `authorize`,
//! `request_credential`), with the standalone costs of the proof signature
//! and the SD-JWT check next to them.
//!
//! Profile (`perf record -g --call-graph dwarf` of the row above, 2 cores,
//! 2026-12-03 at eaab03e; one replayed issuance ~157 µs, 2.9x the aws-lc-rs
//! sign + verify baseline of ~54 µs, 0.47x the p256 sign + verify the SDK
//! did before): shares of the samples, inclusive
//! - 31% the check of the received SD-JWT: the aws-lc-rs signature
//!   verification 24.5% (the baseline's verify), `SdJwt::parse` 5.5%;
//! - 16% the issuer metadata (7 KB, parsed straight into its types since
//!   40dc047): the configurations' `Deserialize`, the endpoint checks;
//! - 9% the proof JWT's aws-lc-rs ES256 signature (the baseline's sign);
//! - 9% the credential response, of which 7% `issued_credentials` (the
//!   SD-JWT's first parse, for `vct`, `cnf` and the claims);
//! - 7% the replaying transport (masking the request to match it, and a
//!   copy of the response, as a real transport makes one);
//! - 6.5% parsing URLs (`url::Url::parse`: each request's URL policy check,
//!   the metadata's endpoint checks), 3% dropping the resolved offer's
//!   metadata; the offer, AS metadata, token and nonce a few % each.
//!
//! Until eaab03e the replay masked every recorded request again for each
//! request it answered (11% then, 182 µs in all). What would take it
//! toward 2x: one parse of each SD-JWT (today `issued_credentials` and the
//! check each parse it; the public `Issuance` carries only the credentials
//! between them), URLs parsed once per request, fewer allocations in the
//! metadata's types; the crypto alone is the baseline (1x).

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use oid4vci_issuer::{CreatedOffer, Issuer, OfferRequest};
use oid4vci_wallet::verify::SdJwt;
use oid4vci_wallet::{
    BoxFuture, Clock, Grant, HttpClient, HttpRequest, HttpResponse, Issuance, IssuedCredential,
    RandomSource, ReqwestClient, ReqwestConfig, Signer, SoftwareSigner, TransportError, Wallet,
};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use rand::{RngCore, SeedableRng};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The seed of every wallet's random source.
const SEED: u64 = 0x0001_d4c1;

/// The holder key's private scalar (any valid one).
const HOLDER_KEY: [u8; 32] = [7; 32];

/// The reference issuer's answers to one issuance, by request.
type Recording = Arc<Vec<(HttpRequest, HttpResponse)>>;

/// Sends through a real transport and records each exchange.
struct Recorder {
    inner: ReqwestClient,
    log: Arc<Mutex<Vec<(HttpRequest, HttpResponse)>>>,
}

impl HttpClient for Recorder {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let response = self.inner.send(request.clone()).await?;
            self.log.lock().unwrap().push((request, response.clone()));
            Ok(response)
        })
    }
}

/// Answers at once with the recorded response to exactly this request (the
/// recorded requests are masked once, when the replay is made).
#[derive(Clone)]
struct Replay(Arc<Vec<(Masked, HttpResponse)>>);

impl Replay {
    fn new(recording: &Recording) -> Self {
        Self(Arc::new(
            recording
                .iter()
                .map(|(request, response)| (masked(request), response.clone()))
                .collect(),
        ))
    }
}

impl HttpClient for Replay {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let wanted = masked(&request);
        let answer = self
            .0
            .iter()
            .find(|(recorded, _)| *recorded == wanted)
            .map(|(_, response)| response.clone());
        Box::pin(async move {
            match answer {
                Some(response) => Ok(response),
                None => panic!(
                    "the replay has no recorded answer to {request:?}: the requests differ \
                     from the recorded run beyond their signatures"
                ),
            }
        })
    }
}

/// A request's method, URL, headers and body, signatures masked.
type Masked = (String, String, Vec<(String, String)>, String);

/// `request` with the signature of every compact JWS in its headers and
/// body masked: what must match the recorded run.
fn masked(request: &HttpRequest) -> Masked {
    fn mask(text: &str) -> String {
        // A compact JWS is three base64url segments joined by dots; they
        // appear as JSON strings or as whole header values.
        text.split('"')
            .map(|piece| {
                let b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
                match piece.rsplit_once('.') {
                    Some((head, _))
                        if piece.matches('.').count() == 2 && piece.chars().all(b64) =>
                    {
                        format!("{head}.<signature>")
                    }
                    _ => piece.to_string(),
                }
            })
            .collect::<Vec<_>>()
            .join("\"")
    }
    (
        request.method.as_str().to_string(),
        request.url.clone(),
        request
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), mask(value)))
            .collect(),
        mask(&String::from_utf8_lossy(&request.body)),
    )
}

/// A seeded generator, so two wallets built alike draw the same bytes.
struct Seeded(Mutex<rand::rngs::StdRng>);

impl RandomSource for Seeded {
    fn fill(&self, dest: &mut [u8]) {
        self.0.lock().unwrap().fill_bytes(dest);
    }
}

/// Always the same second.
struct Fixed(u64);

impl Clock for Fixed {
    fn now(&self) -> u64 {
        self.0
    }
}

/// A wallet over `http` whose requests depend only on its inputs.
fn wallet(http: impl HttpClient + 'static, now: u64) -> Wallet {
    Wallet::builder()
        .dangerous_allow_http()
        .http_client(http)
        .random(Seeded(Mutex::new(rand::rngs::StdRng::seed_from_u64(SEED))))
        .clock(Fixed(now))
        .build()
        .unwrap()
}

/// How long each step of one issuance took.
#[derive(Default, Clone, Copy)]
struct Steps {
    resolve_offer: Duration,
    authorize: Duration,
    request_credential: Duration,
}

/// One pre-authorized issuance; the credential, verified.
async fn issue(
    wallet: &Wallet,
    created: &CreatedOffer,
    signer: &SoftwareSigner,
    steps: &mut Steps,
) -> IssuedCredential {
    let t = Instant::now();
    let offer = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = offer.grant().unwrap() else {
        panic!("expected a pre-authorized grant")
    };
    steps.resolve_offer = t.elapsed();
    let t = Instant::now();
    let mut authorized = step
        .with_tx_code(created.tx_code.clone().unwrap())
        .authorize(wallet)
        .await
        .unwrap();
    steps.authorize = t.elapsed();
    let t = Instant::now();
    let Issuance::Issued(mut list) = authorized
        .request_credential(wallet, "pid_sd_jwt", signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    steps.request_credential = t.elapsed();
    assert_eq!(list.len(), 1);
    let credential = list.pop().unwrap();
    assert!(
        credential.signature_verified,
        "the credential must verify: {:?}",
        credential.verification
    );
    credential
}

fn client_cpu(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let signer = SoftwareSigner::from_bytes(&HOLDER_KEY).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    // Record one real issuance (the issuer stops once recorded).
    let (created, recording, recorded_credential, issuer_jwk) = rt.block_on(async {
        let issuer = Issuer::builder().spawn("127.0.0.1:0").await.unwrap();
        let created = issuer.create_offer(OfferRequest {
            tx_code: Some(true),
            by_reference: Some(true),
            ..Default::default()
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            inner: ReqwestClient::new(ReqwestConfig {
                allow_http: true,
                ..Default::default()
            })
            .unwrap(),
            log: log.clone(),
        };
        let credential = issue(
            &wallet(recorder, now),
            &created,
            &signer,
            &mut Steps::default(),
        )
        .await;
        let recording: Vec<_> = log.lock().unwrap().clone();
        (
            created,
            Arc::new(recording),
            credential,
            issuer.issuer_jwk(),
        )
    });
    let replay = Replay::new(&recording);
    eprintln!(
        "client_cpu: recorded {} exchanges: {}",
        recording.len(),
        recording
            .iter()
            .map(|(q, r)| format!(
                "{} {} -> {} ({} B)",
                q.method.as_str(),
                url::Url::parse(&q.url).map_or(String::new(), |u| u.path().to_string()),
                r.status,
                r.body.len()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The replay gives back the recorded credential, verified.
    let replayed = rt.block_on(issue(
        &wallet(replay.clone(), now),
        &created,
        &signer,
        &mut Steps::default(),
    ));
    assert_eq!(replayed.credential, recorded_credential.credential);

    // The baselines: one ES256 sign and one ES256 verify, with the SDK's
    // crypto (aws-lc-rs) and with the pure-Rust p256 the SDK used before.
    let signing_key = p256::ecdsa::SigningKey::from_slice(&HOLDER_KEY).unwrap();
    let verifying_key = *signing_key.verifying_key();
    let message = b"eyJhbGciOiJFUzI1NiIsInR5cCI6Im9wZW5pZDR2Y2ktcHJvb2Yrand0In0.eyJhdWQiOiJ4In0";
    let aws_key = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        verifying_key.to_encoded_point(false).as_bytes().to_vec(),
    );
    let p256_signature: p256::ecdsa::Signature = signing_key.sign(message);
    let raw_signature = p256_signature.to_bytes().to_vec();
    let p256_sign = || -> p256::ecdsa::Signature { signing_key.sign(black_box(message)) };
    let p256_verify = || {
        verifying_key
            .verify(black_box(message), &p256_signature)
            .unwrap()
    };
    let aws_sign = || signer.sign(black_box(message)).unwrap();
    let aws_verify = || aws_key.verify(black_box(message), &raw_signature).unwrap();
    let sign_and_verify_p256 = || {
        let signature: p256::ecdsa::Signature = signing_key.sign(black_box(message));
        verifying_key
            .verify(black_box(message), &signature)
            .unwrap();
        signature
    };
    let sign_and_verify_aws_lc = || {
        let signature = signer.sign(black_box(message)).unwrap();
        aws_key.verify(black_box(message), &signature).unwrap();
        signature
    };
    // ECDH (JWE): an ephemeral key agreed with a recipient's public key.
    let recipient = p256::SecretKey::from_slice(&[9; 32]).unwrap().public_key();
    let recipient_sec1 = p256::EncodedPoint::from(recipient).as_bytes().to_vec();
    let p256_ecdh = || {
        let ephemeral = p256::ecdh::EphemeralSecret::random(&mut rand::rngs::OsRng);
        let shared = ephemeral.diffie_hellman(black_box(&recipient));
        shared.raw_secret_bytes().to_vec()
    };
    let aws_rng = aws_lc_rs::rand::SystemRandom::new();
    let aws_ecdh = || {
        let ephemeral = aws_lc_rs::agreement::EphemeralPrivateKey::generate(
            &aws_lc_rs::agreement::ECDH_P256,
            &aws_rng,
        )
        .unwrap();
        let peer = aws_lc_rs::agreement::UnparsedPublicKey::new(
            &aws_lc_rs::agreement::ECDH_P256,
            black_box(&recipient_sec1),
        );
        aws_lc_rs::agreement::agree_ephemeral(ephemeral, peer, (), |k| Ok::<_, ()>(k.to_vec()))
            .unwrap()
    };
    let p256_keygen = || p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let aws_keygen = SoftwareSigner::generate;

    // One operation at a time, before (p256) and after (aws-lc-rs).
    let mut ops = c.benchmark_group("crypto_per_operation");
    let pairs = [
        (
            "ES256 sign",
            timed(&mut ops, "ES256 sign (p256)", p256_sign),
            timed(&mut ops, "ES256 sign (aws-lc-rs, SoftwareSigner)", aws_sign),
        ),
        (
            "ES256 verify",
            timed(&mut ops, "ES256 verify (p256)", p256_verify),
            timed(&mut ops, "ES256 verify (aws-lc-rs)", aws_verify),
        ),
        (
            "P-256 key generation",
            timed(&mut ops, "P-256 key generation (p256)", p256_keygen),
            timed(
                &mut ops,
                "P-256 key generation (aws-lc-rs, SoftwareSigner)",
                aws_keygen,
            ),
        ),
        (
            "ECDH-ES ephemeral agreement",
            timed(&mut ops, "ECDH ephemeral agreement (p256)", p256_ecdh),
            timed(&mut ops, "ECDH ephemeral agreement (aws-lc-rs)", aws_ecdh),
        ),
    ];
    ops.finish();
    for (name, before, after) in &pairs {
        if let (Some(b), Some(a)) = (before.mean(), after.mean()) {
            eprintln!(
                "crypto_per_operation: {name:<28} p256 {b:>10.2?}  aws-lc-rs {a:>10.2?}  \
                 {:.2}x faster",
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
    }

    // Parts of the issuance on their own, for the breakdown.
    let sd_jwt_text = recorded_credential.as_str().unwrap().to_string();
    let sd_jwt_check = || {
        let sd = SdJwt::parse(black_box(&sd_jwt_text)).unwrap();
        sd.check_issuer_jwt(now).unwrap();
        sd.verify_signature(&issuer_jwk).unwrap();
        sd
    };
    sd_jwt_check();

    let mut group = c.benchmark_group("client_cpu");
    let baseline = timed(
        &mut group,
        "baseline: ES256 sign + ES256 verify (aws-lc-rs, the SDK's crypto)",
        sign_and_verify_aws_lc,
    );
    let old_baseline = timed(
        &mut group,
        "  ES256 sign + ES256 verify (p256, the crypto before)",
        sign_and_verify_p256,
    );
    let sign = timed(
        &mut group,
        "  ES256 proof signature (SoftwareSigner)",
        || signer.sign(black_box(message)).unwrap(),
    );
    let sd_jwt = timed(
        &mut group,
        "  SD-JWT check (parse, check_issuer_jwt, verify_signature)",
        sd_jwt_check,
    );
    let full = timed_issuance(
        &mut group,
        &rt,
        "one issuance",
        || wallet(replay.clone(), now),
        &created,
        &signer,
    );
    group.finish();

    // The breakdown by step: mean over many replayed issuances.
    const RUNS: u32 = 300;
    let mut total = Steps::default();
    let mut build = Duration::ZERO;
    for _ in 0..RUNS {
        let t = Instant::now();
        let w = wallet(replay.clone(), now);
        build += t.elapsed();
        let mut steps = Steps::default();
        black_box(rt.block_on(issue(&w, &created, &signer, &mut steps)));
        total.resolve_offer += steps.resolve_offer;
        total.authorize += steps.authorize;
        total.request_credential += steps.request_credential;
    }
    let (Some(base), Some(one)) = (baseline.mean(), full.mean()) else {
        return;
    };
    eprintln!(
        "client_cpu: one issuance {one:.2?} (replayed, no IO), baseline ES256 sign + verify \
         {base:.2?}: {:.2}x the baseline (goal <= 2x)",
        one.as_secs_f64() / base.as_secs_f64()
    );
    if let Some(old) = old_baseline.mean() {
        eprintln!(
            "client_cpu: against ES256 sign + verify with p256 (the crypto before) {old:.2?}: \
             {:.2}x",
            one.as_secs_f64() / old.as_secs_f64()
        );
    }
    let per_run = |d: Duration| d / RUNS;
    let all = per_run(total.resolve_offer + total.authorize + total.request_credential);
    for (name, d) in [
        ("Wallet::build (not in the issuance)", per_run(build)),
        (
            "resolve_offer (offer, metadata)",
            per_run(total.resolve_offer),
        ),
        ("authorize (token)", per_run(total.authorize)),
        (
            "request_credential (nonce, proof, credential, keys, checks)",
            per_run(total.request_credential),
        ),
    ] {
        eprintln!(
            "client_cpu:   {name:<62} {d:>10.2?}  {:>5.1}% of the steps",
            100.0 * d.as_secs_f64() / all.as_secs_f64()
        );
    }
    for row in [&sign, &sd_jwt] {
        if let Some(mean) = row.mean() {
            eprintln!(
                "client_cpu:   of which, standalone: {:<45} {mean:>10.2?}",
                row.name.trim()
            );
        }
    }
}

/// One replayed issuance per iteration, each with a new wallet (built
/// outside the measured time).
fn timed_issuance(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &'static str,
    make_wallet: impl Fn() -> Wallet,
    created: &CreatedOffer,
    signer: &SoftwareSigner,
) -> Timed {
    let timed = Timed::new(name);
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let wallets: Vec<Wallet> = (0..iterations).map(|_| make_wallet()).collect();
            let start = Instant::now();
            for w in &wallets {
                black_box(rt.block_on(issue(w, created, signer, &mut Steps::default())));
            }
            let elapsed = start.elapsed();
            timed.add(elapsed, iterations);
            elapsed
        })
    });
    timed
}

/// The wall time of every iteration criterion ran of one benchmark (warm-up
/// included), for ratios printed after the group.
struct Timed {
    name: &'static str,
    total: Cell<Duration>,
    iterations: Cell<u64>,
}

impl Timed {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            total: Cell::new(Duration::ZERO),
            iterations: Cell::new(0),
        }
    }

    fn add(&self, elapsed: Duration, iterations: u64) {
        self.total.set(self.total.get() + elapsed);
        self.iterations.set(self.iterations.get() + iterations);
    }

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
    let timed = Timed::new(name);
    group.bench_function(name, |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(routine());
            }
            let elapsed = start.elapsed();
            timed.add(elapsed, iterations);
            elapsed
        })
    });
    timed
}

criterion_group!(benches, client_cpu);
criterion_main!(benches);
