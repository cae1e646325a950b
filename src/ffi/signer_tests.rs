//! The adapter of the app's signer: where the app's `sign` runs (a blocking
//! thread of the runtime, never the thread polling the FFI future nor a
//! runtime worker, and the runtime keeps going while it blocks), and what it
//! makes of what the key returned (DER or raw, digest-only keys, ES256,
//! ES384, ES512), down to an issuance against the reference issuer.

use super::*;
use crate::jose::{b64, verify_jws_signature};
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::signature::Signer as _;
use sha2::Digest as _;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

/// One call of the app's `sign`: on which thread, with what.
#[derive(Clone, Debug)]
struct Call {
    thread: ThreadId,
    name: Option<String>,
    /// Whether the thread is inside a tokio runtime (a pool thread is).
    in_runtime: bool,
    data: Vec<u8>,
}

impl Call {
    fn here(data: &[u8]) -> Self {
        Self {
            thread: thread::current().id(),
            name: thread::current().name().map(str::to_string),
            in_runtime: tokio::runtime::Handle::try_current().is_ok(),
            data: data.to_vec(),
        }
    }
}

/// How a key answers.
#[derive(Clone, Copy)]
enum Answer {
    Raw,
    Der,
}

/// A P-256 key as an app implements the exported trait (java.security,
/// SecKey): signs the input (`SHA256withECDSA`) or, digest-only, the SHA-256
/// digest it is given (`NONEwithECDSA`); answers DER or raw; may take its time.
struct AppSigner {
    key: p256::ecdsa::SigningKey,
    answer: Answer,
    digest: bool,
    delay: Duration,
    calls: Mutex<Vec<Call>>,
}

impl AppSigner {
    fn new(answer: Answer, digest: bool) -> Arc<Self> {
        Self::slow(answer, digest, Duration::ZERO)
    }

    fn slow(answer: Answer, digest: bool, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            key: p256::ecdsa::SigningKey::random(&mut rand::thread_rng()),
            answer,
            digest,
            delay,
            calls: Mutex::new(Vec::new()),
        })
    }

    fn jwk(&self) -> serde_json::Value {
        serde_json::from_str(&self.public_jwk()).unwrap()
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl Signer for AppSigner {
    fn algorithm(&self) -> String {
        "ES256".into()
    }
    fn public_jwk(&self) -> String {
        p256::PublicKey::from(self.key.verifying_key()).to_jwk_string()
    }
    fn signs_digest(&self) -> bool {
        self.digest
    }
    fn sign(&self, data: Vec<u8>) -> Result<Vec<u8>, WalletError> {
        self.calls.lock().unwrap().push(Call::here(&data));
        thread::sleep(self.delay);
        let signature: p256::ecdsa::Signature = if self.digest {
            self.key
                .sign_prehash(&data)
                .map_err(|e| WalletError::Signing {
                    details: e.to_string(),
                })?
        } else {
            self.key.sign(&data)
        };
        Ok(match self.answer {
            Answer::Der => signature.to_der().as_bytes().to_vec(),
            Answer::Raw => signature.to_bytes().to_vec(),
        })
    }
}

/// A P-384 or P-521 key of aws-lc-rs as an app's: DER, whole input or digest.
struct CurveSigner {
    alg: &'static str,
    pair: aws_lc_rs::signature::EcdsaKeyPair,
    hash: &'static aws_lc_rs::digest::Algorithm,
    jwk: serde_json::Value,
    digest: bool,
    calls: Mutex<Vec<Call>>,
}

impl CurveSigner {
    fn new(alg: &'static str, digest: bool) -> Arc<Self> {
        use aws_lc_rs::signature::{self as lc, KeyPair as _};
        let (signing, hash, crv, size) = match alg {
            "ES384" => (
                &lc::ECDSA_P384_SHA384_ASN1_SIGNING,
                &aws_lc_rs::digest::SHA384,
                "P-384",
                48,
            ),
            "ES512" => (
                &lc::ECDSA_P521_SHA512_ASN1_SIGNING,
                &aws_lc_rs::digest::SHA512,
                "P-521",
                66,
            ),
            _ => unreachable!(),
        };
        let pair = lc::EcdsaKeyPair::generate(signing).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": crv,
            "x": b64(&point[1..1 + size]), "y": b64(&point[1 + size..]),
        });
        Arc::new(Self {
            alg,
            pair,
            hash,
            jwk,
            digest,
            calls: Mutex::new(Vec::new()),
        })
    }
}

impl Signer for CurveSigner {
    fn algorithm(&self) -> String {
        self.alg.into()
    }
    fn public_jwk(&self) -> String {
        self.jwk.to_string()
    }
    fn signs_digest(&self) -> bool {
        self.digest
    }
    fn sign(&self, data: Vec<u8>) -> Result<Vec<u8>, WalletError> {
        self.calls.lock().unwrap().push(Call::here(&data));
        let failed = |_| WalletError::Signing {
            details: "aws-lc-rs".into(),
        };
        let signature = if self.digest {
            let digest =
                aws_lc_rs::digest::Digest::import_less_safe(&data, self.hash).map_err(failed)?;
            self.pair.sign_digest(&digest).map_err(failed)?
        } else {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            self.pair.sign(&rng, &data).map_err(failed)?
        };
        Ok(signature.as_ref().to_vec())
    }
}

/// What the foreign side does with a UniFFI future: polls it on its own
/// thread (the Kotlin coroutine's, the Swift task's), again when woken.
fn foreign_block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(thread::current())).into();
    let mut context = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut context) {
            return out;
        }
        thread::park();
    }
}

const INPUT: &[u8] = b"eyJhbGciOiJFUzI1NiJ9.eyJub25jZSI6Im4ifQ";

#[test]
fn under_uniffi_the_apps_sign_blocks_a_pool_thread_while_the_runtime_keeps_going() {
    let app = AppSigner::slow(Answer::Der, false, Duration::from_millis(300));
    let signer = ForeignSigner::new(app.clone()).unwrap();
    let (caller, (signature, took, ticks, worker)) = thread::Builder::new()
        .name("foreign-caller".into())
        .spawn(move || {
            let caller = thread::current().id();
            // What UniFFI's scaffolding makes of `async_runtime = "tokio"`.
            let future = uniffi::deps::async_compat::Compat::new(async move {
                // A task of the runtime: it must keep running while the app signs.
                let ticks = Arc::new(AtomicUsize::new(0));
                let worker = Arc::new(Mutex::new(None));
                let ticker = tokio::spawn({
                    let (ticks, worker) = (ticks.clone(), worker.clone());
                    async move {
                        loop {
                            *worker.lock().unwrap() = Some((
                                thread::current().id(),
                                thread::current().name().map(str::to_string),
                            ));
                            ticks.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                });
                tokio::time::sleep(Duration::from_millis(30)).await;
                let before = ticks.load(Ordering::SeqCst);
                let start = Instant::now();
                // As the engine does, in the middle of the FFI future.
                let signature = signer.sign(INPUT);
                let took = start.elapsed();
                let during = ticks.load(Ordering::SeqCst) - before;
                ticker.abort();
                let worker = worker.lock().unwrap().clone().unwrap();
                (signature, took, during, worker)
            });
            (caller, foreign_block_on(future))
        })
        .unwrap()
        .join()
        .unwrap();

    let signature = signature.unwrap();
    verify_jws_signature("ES256", &app.jwk(), INPUT, &signature).unwrap();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    // The runtime's tasks run on async-compat's thread, not the caller's.
    assert_eq!(worker.1.as_deref(), Some("async-compat/tokio-1"));
    assert_ne!(worker.0, caller);
    // 300 ms at one tick per 5 ms: about 60; on a loaded machine, some.
    assert!(
        ticks >= 10,
        "the runtime stalled while the app signed: {ticks} ticks"
    );
    let calls = app.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_ne!(
        call.thread, caller,
        "sign ran on the thread polling the future"
    );
    assert_ne!(call.thread, worker.0, "sign ran on the runtime's worker");
    assert!(call.in_runtime, "sign did not run on the runtime's pool");
    assert_eq!(call.data, INPUT);
}

#[test]
fn on_a_current_thread_runtime_the_apps_sign_runs_on_its_blocking_pool() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .thread_name("the-runtimes-pool")
        .enable_all()
        .build()
        .unwrap();
    let app = AppSigner::new(Answer::Raw, false);
    let signer = ForeignSigner::new(app.clone()).unwrap();
    // The thread in `block_on` is the runtime's only worker.
    let worker = thread::current().id();
    let signature = runtime.block_on(async { signer.sign(INPUT) }).unwrap();
    verify_jws_signature("ES256", &app.jwk(), INPUT, &signature).unwrap();
    let call = &app.calls()[0];
    assert_ne!(call.thread, worker);
    assert_eq!(call.name.as_deref(), Some("the-runtimes-pool"));
}

#[test]
fn on_a_multi_thread_runtime_the_apps_sign_runs_on_none_of_its_workers() {
    let workers = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_park({
            // Only workers park; the blocking pool's threads do not.
            let workers = workers.clone();
            move || {
                workers.lock().unwrap().insert(thread::current().id());
            }
        })
        .enable_all()
        .build()
        .unwrap();
    let app = AppSigner::new(Answer::Der, true);
    let signer = Arc::new(ForeignSigner::new(app.clone()).unwrap());
    let (engine, signature) = runtime
        .block_on(runtime.spawn({
            let signer = signer.clone();
            async move { (thread::current().id(), signer.sign(INPUT)) }
        }))
        .unwrap();
    verify_jws_signature("ES256", &app.jwk(), INPUT, &signature.unwrap()).unwrap();
    // Let both workers park at least once.
    runtime.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
    let workers = workers.lock().unwrap().clone();
    assert!(workers.contains(&engine));
    let call = &app.calls()[0];
    assert!(!workers.contains(&call.thread), "sign ran on a worker");
    assert!(call.in_runtime);
}

#[test]
fn outside_a_runtime_the_apps_sign_runs_on_the_callers_thread() {
    let app = AppSigner::new(Answer::Der, false);
    let signature = ForeignSigner::new(app.clone())
        .unwrap()
        .sign(INPUT)
        .unwrap();
    verify_jws_signature("ES256", &app.jwk(), INPUT, &signature).unwrap();
    assert_eq!(app.calls()[0].thread, thread::current().id());
}

#[tokio::test]
async fn der_raw_and_digest_only_p256_keys_give_signatures_that_verify() {
    for (answer, digest) in [
        (Answer::Raw, false),
        (Answer::Der, false),
        (Answer::Raw, true),
        (Answer::Der, true),
    ] {
        let app = AppSigner::new(answer, digest);
        let signer = ForeignSigner::new(app.clone()).unwrap();
        for _ in 0..4 {
            let signature = signer.sign(INPUT).unwrap();
            assert_eq!(signature.len(), 64);
            verify_jws_signature("ES256", &app.jwk(), INPUT, &signature).unwrap();
        }
        let expected = if digest {
            sha2::Sha256::digest(INPUT).to_vec()
        } else {
            INPUT.to_vec()
        };
        assert!(app.calls().iter().all(|c| c.data == expected));
    }
}

#[tokio::test]
async fn es384_and_es512_keys_answering_der_whole_or_digest_only() {
    for (alg, digest_len, raw_len) in [("ES384", 48, 96), ("ES512", 64, 132)] {
        for digest in [false, true] {
            let app = CurveSigner::new(alg, digest);
            let signer = ForeignSigner::new(app.clone()).unwrap();
            assert_eq!(CoreSigner::algorithm(&signer).as_str(), alg);
            let signature = signer.sign(INPUT).unwrap();
            assert_eq!(signature.len(), raw_len, "{alg}");
            verify_jws_signature(alg, &app.jwk, INPUT, &signature)
                .unwrap_or_else(|e| panic!("{alg} (digest-only: {digest}): {e}"));
            let given = app.calls.lock().unwrap()[0].data.len();
            assert_eq!(given, if digest { digest_len } else { INPUT.len() });
        }
    }
}

/// An app signer with a fixed algorithm, digest flag and answer.
struct Fixed {
    alg: &'static str,
    digest: bool,
    /// The signature, or the `Signing` error's details.
    answer: Result<Vec<u8>, String>,
    panics: bool,
}

impl Signer for Fixed {
    fn algorithm(&self) -> String {
        self.alg.into()
    }
    fn public_jwk(&self) -> String {
        r#"{"kty":"OKP","crv":"Ed25519","x":"AAAA"}"#.into()
    }
    fn signs_digest(&self) -> bool {
        self.digest
    }
    fn sign(&self, _: Vec<u8>) -> Result<Vec<u8>, WalletError> {
        assert!(!self.panics, "the app's signer panics");
        self.answer
            .clone()
            .map_err(|details| WalletError::Signing { details })
    }
}

fn fixed(alg: &'static str, answer: Result<Vec<u8>, String>) -> Arc<Fixed> {
    Arc::new(Fixed {
        alg,
        digest: false,
        answer,
        panics: false,
    })
}

#[test]
fn unusable_algorithms_are_refused_when_the_signer_is_adapted() {
    let eddsa_digest = Arc::new(Fixed {
        alg: "EdDSA",
        digest: true,
        answer: Ok(vec![0; 64]),
        panics: false,
    });
    let err = ForeignSigner::new(eddsa_digest).err().unwrap();
    assert!(
        matches!(&err, WalletError::Signing { details } if details.contains("EdDSA")),
        "{err}"
    );
    for alg in ["RS256", "none", "es256"] {
        let err = ForeignSigner::new(fixed(alg, Ok(vec![]))).err().unwrap();
        assert!(matches!(err, WalletError::Signing { .. }), "{alg}: {err}");
    }
}

#[tokio::test]
async fn bad_answers_of_the_app_are_signer_errors_naming_the_algorithm() {
    let eddsa = ForeignSigner::new(fixed("EdDSA", Ok(vec![9; 64]))).unwrap();
    assert_eq!(eddsa.sign(INPUT).unwrap(), vec![9; 64]);
    for (alg, answer) in [
        ("ES256", vec![]),
        ("ES256", vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01]),
        ("ES256", vec![1; 63]),
        ("ES256", vec![1; 96]),
        ("ES384", vec![1; 64]),
        ("ES512", vec![0xff; 132]),
        ("EdDSA", vec![1; 65]),
    ] {
        let signer = ForeignSigner::new(fixed(alg, Ok(answer))).unwrap();
        let err = signer.sign(INPUT).unwrap_err();
        assert!(err.0.contains(alg), "{alg}: {err}");
    }
    let refused = ForeignSigner::new(fixed("ES256", Err("the user cancelled".into()))).unwrap();
    let err = refused.sign(INPUT).unwrap_err();
    assert!(err.0.contains("the user cancelled"), "{err}");
}

#[tokio::test]
async fn a_panicking_app_signer_is_a_signer_error_not_a_panic() {
    let panics = Arc::new(Fixed {
        alg: "ES256",
        digest: false,
        answer: Ok(vec![]),
        panics: true,
    });
    let err = ForeignSigner::new(panics).unwrap().sign(INPUT).unwrap_err();
    assert!(err.0.contains("panicked"), "{err}");
}

#[tokio::test]
async fn issuance_with_a_der_and_a_digest_only_app_key() {
    use oid4vci_issuer::{Issuer, OfferRequest};
    let issuer = Issuer::builder().spawn("127.0.0.1:0").await.unwrap();
    let wallet = super::super::Wallet::new(super::super::WalletConfig {
        client_id: None,
        locales: vec!["en".into()],
        dangerous_allow_http: true,
        verify_credential_signatures: true,
        request_timeout_ms: 0,
        max_response_bytes: 0,
        root_certificates_pem: vec![],
        trust_anchors_pem: vec![],
        require_verified: false,
    })
    .unwrap();
    let here = thread::current().id();
    for (answer, digest) in [
        (Answer::Der, false),
        (Answer::Der, true),
        (Answer::Raw, true),
    ] {
        let created = issuer.create_offer(OfferRequest {
            credential_configuration_ids: Some(vec!["pid_sd_jwt".into()]),
            tx_code: Some(false),
            ..Default::default()
        });
        let offer = wallet.resolve_offer(created.offer_url, None).await.unwrap();
        let session = offer
            .authorize(wallet.clone(), created.tx_code, None)
            .await
            .unwrap();
        let app = AppSigner::new(answer, digest);
        let issued = session
            .request_credential(wallet.clone(), "pid_sd_jwt".into(), app.clone(), None)
            .await
            .unwrap();
        let super::super::Issuance::Issued { credentials } = issued else {
            panic!("deferred");
        };
        let holder: serde_json::Value =
            serde_json::from_str(credentials[0].holder_jwk.as_deref().unwrap()).unwrap();
        assert_eq!(holder["x"], app.jwk()["x"]);
        let calls = app.calls();
        assert!(!calls.is_empty());
        assert!(calls.iter().all(|c| c.thread != here && c.in_runtime));
        // The SHA-256 digest, or the whole signing input (header.payload).
        assert!(calls.iter().all(|c| (c.data.len() == 32) == digest));
    }
}
