//! Side by side: this SDK and the OpenWallet Foundation TypeScript client
//! (`@openid4vc/openid4vci` 0.4.6, `tests/interop/bench-owf.mjs`) against the
//! same in-process reference issuer, in one run: N pre-authorized issuances
//! each (offer by reference, tx_code, `pid_sd_jwt`, the SD-JWT's issuer
//! signature checked against `/.well-known/jwt-vc-issuer`; the OWF side
//! checks it with `@sd-jwt/sd-jwt-vc` and the `cnf.jwk` binding), at each
//! injected latency, fresh (a new wallet / client each issuance) and warm
//! (the second issuance of the same wallet / client). Prints each median,
//! the requests each issuance sent, and OWF median / SDK median.
//!
//! ```sh
//! npm ci --prefix tests/interop     # else the OWF side is skipped
//! cargo bench --bench side_by_side
//! SIDE_BY_SIDE_N=30 SIDE_BY_SIDE_LATENCIES_MS=0,50,150 cargo bench --bench side_by_side
//! ```
//!
//! - `SIDE_BY_SIDE_N`: issuances per cell (default 20);
//! - `SIDE_BY_SIDE_WARMUP`: untimed fresh + warm pairs first, per side and
//!   latency (default 2: connection setup, JIT, lazy statics);
//! - `SIDE_BY_SIDE_LATENCIES_MS`: comma-separated (default `0,50`).
//!
//! At 0 ms the wall time is about the client's CPU plus the issuer's, so
//! the issuer's share bounds every ratio: its ES256 is OpenSSL's
//! (`tests/issuer/src/es256.rs`; p256 until e5ef36d, which cut the issuer's
//! CPU per warm issuance from about 0.49 to 0.22 ms).
//!
//! Fairness: the issuer runs on its own tokio runtime (one worker thread);
//! the SDK on a current-thread runtime of the main thread, as node's client
//! runs on its one event loop. Offers are made in-process before the timing
//! (no latency). Building the wallet / client is outside the timed span (the
//! SDK's `Wallet::build` is printed apart); drawing the holder key is inside
//! it on both sides. Fresh on the SDK side is a new `Wallet`, so a new
//! connection pool; node's `fetch` keeps one pool per process, so its fresh
//! issuances reuse loopback connections (a few tens of microseconds each).
//! The row `fresh/pool` is the like-for-like one: a new `Wallet` (an empty
//! metadata cache) on one `ReqwestClient` kept for the run, as an app keeps
//! its HTTP stack, against the same OWF fresh issuances.
//! Warm on the OWF side reuses the issuer metadata and the issuer's SD-JWT
//! keys resolved the first time (its API lets the caller keep them); the
//! SDK's warm issuance answers them from the `Wallet`'s metadata cache (the
//! issuer sends `Cache-Control: max-age=3600` and an `ETag` on them). That
//! row is capped by the protocol: 3 sequential round trips against 4 (the
//! SDK sends the nonce beside the token request), so at 50 ms at most about
//! 4/3. The row `warm/again` sets the same SDK warm issuances against the
//! OWF client's next issuance as its library runs it on its own: it keeps
//! no metadata or keys between issuances, so it resolves them again (7
//! sequential round trips).

use oid4vci_issuer::{CreatedOffer, Issuer, OfferRequest, RunningIssuer};
use oid4vci_wallet::{Grant, Issuance, SoftwareSigner, Wallet};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let n = env_usize("SIDE_BY_SIDE_N", 20).max(1);
    let warmup = env_usize("SIDE_BY_SIDE_WARMUP", 2);
    let latencies: Vec<u64> = std::env::var("SIDE_BY_SIDE_LATENCIES_MS")
        .unwrap_or_else(|_| "0,50".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("SIDE_BY_SIDE_LATENCIES_MS: milliseconds")
        })
        .collect();
    let owf = owf_available();
    if let Err(why) = &owf {
        eprintln!("side_by_side: skipping the OWF side: {why}");
    }
    eprintln!(
        "side_by_side: {n} issuances per cell after {warmup} warm-up pairs; pre-authorized, \
         offer by reference, tx_code, pid_sd_jwt, SD-JWT signature checked"
    );

    let issuer_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut rows = Vec::new();
    let mut cpu_rows = Vec::new();
    for &latency_ms in &latencies {
        let latency = Duration::from_millis(latency_ms);
        let issuer = issuer_rt
            .block_on(
                Issuer::builder()
                    .latency(latency)
                    .cache_max_age(3600)
                    .spawn("127.0.0.1:0"),
            )
            .expect("the reference issuer starts");

        let sdk = client_rt.block_on(sdk_side(&issuer, n, warmup, issuer_rt.handle()));
        let owf_result = match &owf {
            Ok(dir) => Some(owf_side(dir, &issuer, n, warmup)),
            Err(_) => None,
        };
        eprintln!(
            "side_by_side: {latency_ms} ms: SDK fresh sends {}; warm {}; \
             Wallet::build median {:.3} ms (not in the timings)",
            paths_text(sdk.fresh_paths.keys().map(String::as_str)),
            paths_text(sdk.warm_paths.keys().map(String::as_str)),
            ms(median(&sdk.build))
        );
        if let Some(Ok(o)) = &owf_result {
            let list = |v: &Value| {
                paths_text(v.as_array().into_iter().flatten().filter_map(Value::as_str))
            };
            eprintln!(
                "side_by_side: {latency_ms} ms: OWF fresh sends {}; warm {}; again {}",
                list(&o.fresh_paths),
                list(&o.warm_paths),
                list(&o.again_paths)
            );
        }
        for (state, sdk_times, sdk_requests) in [
            ("fresh", &sdk.fresh, sdk.fresh_requests),
            ("fresh/pool", &sdk.fresh_pooled, sdk.fresh_requests),
            ("warm", &sdk.warm, sdk.warm_requests),
            ("warm/again", &sdk.warm, sdk.warm_requests),
        ] {
            let owf_cell = match &owf_result {
                Some(Ok(o)) => {
                    let (times, requests) = match state {
                        "warm" => (&o.warm, &o.warm_requests),
                        "warm/again" => (&o.again, &o.again_requests),
                        _ => (&o.fresh, &o.fresh_requests),
                    };
                    Ok((median(times), requests.clone()))
                }
                Some(Err(e)) => Err(format!("failed: {e}")),
                None => Err("skipped".to_string()),
            };
            rows.push((latency_ms, state, median(sdk_times), sdk_requests, owf_cell));
        }
        for (state, sdk_cpu, issuer_cpu) in [
            ("fresh", &sdk.fresh_cpu, &sdk.issuer_fresh_cpu),
            ("warm", &sdk.warm_cpu, &sdk.issuer_warm_cpu),
            ("warm/again", &sdk.warm_cpu, &sdk.issuer_warm_cpu),
        ] {
            let owf_cpu = match &owf_result {
                Some(Ok(o)) => match state {
                    "warm" => median(&o.warm_cpu),
                    "warm/again" => median(&o.again_cpu),
                    _ => median(&o.fresh_cpu),
                },
                _ => Duration::ZERO,
            };
            cpu_rows.push((
                latency_ms,
                state,
                median(sdk_cpu),
                owf_cpu,
                median(issuer_cpu),
            ));
        }
        drop(issuer);
    }

    println!();
    println!(
        "side_by_side: medians of {n} issuances (OWF = @openid4vc/openid4vci 0.4.6 on node {})",
        node_version().unwrap_or_else(|| "?".into())
    );
    println!(
        "{:>8}  {:<10}  {:>12} {:>5}  {:>12} {:>5}  {:>8}",
        "latency", "state", "SDK", "reqs", "OWF", "reqs", "OWF/SDK"
    );
    for (latency_ms, state, sdk_median, sdk_requests, owf_cell) in rows {
        let (owf_text, owf_requests, ratio) = match owf_cell {
            Ok((owf_median, requests)) => (
                format!("{:.2} ms", ms(owf_median)),
                requests_text(&requests),
                format!(
                    "{:.2}x",
                    owf_median.as_secs_f64() / sdk_median.as_secs_f64()
                ),
            ),
            Err(e) => (e, "-".into(), "-".into()),
        };
        println!(
            "{:>5} ms  {:<10}  {:>9.2} ms {:>5}  {:>12} {:>5}  {:>8}",
            latency_ms,
            state,
            ms(sdk_median),
            sdk_requests,
            owf_text,
            owf_requests,
            ratio
        );
    }
    println!(
        "(reqs: HTTP requests per issuance; fresh/pool: a new Wallet on one HTTP client kept \
         for the run, as node keeps its pool, against the OWF fresh issuances; SDK warm \
         answers the metadata and SD-JWT keys from the Wallet's metadata cache; OWF warm \
         reuses the issuer metadata and SD-JWT keys the caller kept from its first issuance; \
         warm/again: the same SDK warm issuances against the OWF client's next issuance as \
         its library runs it, which keeps no metadata or keys between issuances)"
    );
    if cpu_rows.iter().any(|row| row.2 > Duration::ZERO) {
        println!();
        println!("side_by_side: CPU time per issuance, medians (user + kernel)");
        println!(
            "{:>8}  {:<10}  {:>12}  {:>12}  {:>8}  {:>12}",
            "latency", "state", "SDK thread", "OWF process", "OWF/SDK", "issuer"
        );
        for (latency_ms, state, sdk_cpu, owf_cpu, issuer_cpu) in cpu_rows {
            let ratio = if owf_cpu > Duration::ZERO && sdk_cpu > Duration::ZERO {
                format!("{:.2}x", owf_cpu.as_secs_f64() / sdk_cpu.as_secs_f64())
            } else {
                "-".into()
            };
            println!(
                "{:>5} ms  {:<10}  {:>9.3} ms  {:>9.3} ms  {:>8}  {:>9.3} ms",
                latency_ms,
                state,
                ms(sdk_cpu),
                ms(owf_cpu),
                ratio,
                ms(issuer_cpu)
            );
        }
        println!(
            "(SDK thread: the thread the SDK's issuance runs on, its sends' loopback TCP work \
             in the kernel included; OWF process: node's whole process (process.cpuUsage); \
             issuer: the reference issuer's one worker thread during the SDK's issuance, the \
             same work for both clients' requests. At 0 ms the wall time is about client + \
             issuer + wake-ups, so the wall-time ratio stays under the CPU ratio)"
        );
    }
}

struct SdkRun {
    build: Vec<Duration>,
    fresh: Vec<Duration>,
    /// Fresh issuances of new wallets on one HTTP client (its pool).
    fresh_pooled: Vec<Duration>,
    warm: Vec<Duration>,
    /// CPU time of the SDK's thread per fresh and per warm issuance.
    fresh_cpu: Vec<Duration>,
    warm_cpu: Vec<Duration>,
    /// CPU time of the issuer's worker during them.
    issuer_fresh_cpu: Vec<Duration>,
    issuer_warm_cpu: Vec<Duration>,
    fresh_requests: u64,
    warm_requests: u64,
    fresh_paths: BTreeMap<String, u64>,
    warm_paths: BTreeMap<String, u64>,
}

/// `warmup` untimed pairs, then `n` pairs: a new wallet, its fresh issuance,
/// its warm (second) issuance.
async fn sdk_side(
    issuer: &RunningIssuer,
    n: usize,
    warmup: usize,
    issuer_rt: &tokio::runtime::Handle,
) -> SdkRun {
    // The CPU time of the issuer's one worker thread, asked on that thread.
    let issuer_cpu = || async {
        let on_worker = issuer_rt.spawn(async { cpu_time::ThreadTime::now().as_duration() });
        on_worker.await.expect("the issuer's worker answers")
    };
    let own_cpu = || cpu_time::ThreadTime::now().as_duration();
    let pool = oid4vci_wallet::ReqwestClient::new(oid4vci_wallet::ReqwestConfig {
        allow_http: true,
        ..Default::default()
    })
    .expect("an HTTP client");
    let mut run = SdkRun {
        build: Vec::new(),
        fresh: Vec::new(),
        fresh_pooled: Vec::new(),
        warm: Vec::new(),
        fresh_cpu: Vec::new(),
        warm_cpu: Vec::new(),
        issuer_fresh_cpu: Vec::new(),
        issuer_warm_cpu: Vec::new(),
        fresh_requests: 0,
        warm_requests: 0,
        fresh_paths: BTreeMap::new(),
        warm_paths: BTreeMap::new(),
    };
    for i in 0..warmup + n {
        let offers = [offer(issuer), offer(issuer), offer(issuer)];
        let t = Instant::now();
        let wallet = Wallet::builder()
            .dangerous_allow_http()
            .build()
            .expect("wallet builds");
        let build = t.elapsed();
        issuer.reset_stats();
        let c0 = (issuer_cpu().await, own_cpu());
        let t = Instant::now();
        sdk_issue(&wallet, &offers[0]).await;
        let fresh = t.elapsed();
        let c1 = (own_cpu(), issuer_cpu().await);
        let fresh_paths = issuer.stats();
        issuer.reset_stats();
        let c2 = (issuer_cpu().await, own_cpu());
        let t = Instant::now();
        sdk_issue(&wallet, &offers[1]).await;
        let warm = t.elapsed();
        let c3 = (own_cpu(), issuer_cpu().await);
        let warm_paths = issuer.stats();
        let pooled = Wallet::builder()
            .dangerous_allow_http()
            .http_client(pool.clone())
            .build()
            .expect("wallet builds");
        let t = Instant::now();
        sdk_issue(&pooled, &offers[2]).await;
        let fresh_pooled = t.elapsed();
        if i < warmup {
            continue;
        }
        if run.fresh.is_empty() {
            run.fresh_requests = fresh_paths.values().sum();
            run.warm_requests = warm_paths.values().sum();
            run.fresh_paths = fresh_paths;
            run.warm_paths = warm_paths;
        }
        run.build.push(build);
        run.fresh.push(fresh);
        run.fresh_pooled.push(fresh_pooled);
        run.warm.push(warm);
        run.fresh_cpu.push(c1.0.saturating_sub(c0.1));
        run.warm_cpu.push(c3.0.saturating_sub(c2.1));
        run.issuer_fresh_cpu.push(c1.1.saturating_sub(c0.0));
        run.issuer_warm_cpu.push(c3.1.saturating_sub(c2.0));
    }
    run
}

fn offer(issuer: &RunningIssuer) -> CreatedOffer {
    issuer.create_offer(OfferRequest {
        tx_code: Some(true),
        by_reference: Some(true),
        ..Default::default()
    })
}

/// One issuance: a new holder key, resolve, token, credential (its issuer
/// signature verified by the SDK with the key of `/.well-known/jwt-vc-issuer`).
async fn sdk_issue(wallet: &Wallet, created: &CreatedOffer) {
    let signer = SoftwareSigner::generate();
    let offer = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let Grant::PreAuthorized(step) = offer.grant().unwrap() else {
        panic!("expected a pre-authorized grant")
    };
    let mut authorized = step
        .with_tx_code(created.tx_code.clone().unwrap())
        .authorize(wallet)
        .await
        .unwrap();
    let Issuance::Issued(list) = authorized
        .request_credential(wallet, "pid_sd_jwt", &signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    assert!(
        list.len() == 1 && list[0].signature_verified,
        "one verified credential"
    );
}

struct OwfRun {
    fresh: Vec<Duration>,
    warm: Vec<Duration>,
    /// The same client's next issuance with nothing kept by the caller (the
    /// library keeps no metadata between issuances).
    again: Vec<Duration>,
    /// CPU time of node's process per issuance.
    fresh_cpu: Vec<Duration>,
    warm_cpu: Vec<Duration>,
    again_cpu: Vec<Duration>,
    fresh_requests: Vec<u64>,
    warm_requests: Vec<u64>,
    again_requests: Vec<u64>,
    fresh_paths: Value,
    warm_paths: Value,
    again_paths: Value,
}

/// Runs `bench-owf.mjs` with `warmup` + `n` triples of offers of `issuer`
/// (fresh, warm, again: see the script).
fn owf_side(dir: &Path, issuer: &RunningIssuer, n: usize, warmup: usize) -> Result<OwfRun, String> {
    let pair = |_| {
        [offer(issuer), offer(issuer), offer(issuer)]
            .map(|o| json!({ "offer_url": o.offer_url, "tx_code": o.tx_code }))
    };
    let plan = json!({
        "warmup": (0..warmup).map(pair).collect::<Vec<_>>(),
        "samples": (0..n).map(pair).collect::<Vec<_>>(),
    });
    let mut child = Command::new("node")
        .arg(dir.join("bench-owf.mjs"))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run node: {e}"))?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.to_string().as_bytes())
        .map_err(|e| format!("writing the plan: {e}"))?;
    let output = child
        .wait_with_output()
        .map_err(|e| format!("bench-owf.mjs: {e}"))?;
    if !output.status.success() {
        return Err(format!("bench-owf.mjs exited with {}", output.status));
    }
    let out: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("bench-owf.mjs printed no JSON ({e})"))?;
    let times = |key: &str| -> Vec<Duration> {
        out[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .collect()
    };
    let counts = |key: &str| -> Vec<u64> {
        out[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect()
    };
    let run = OwfRun {
        fresh: times("fresh_ms"),
        warm: times("warm_ms"),
        again: times("again_ms"),
        fresh_cpu: times("fresh_cpu_ms"),
        warm_cpu: times("warm_cpu_ms"),
        again_cpu: times("again_cpu_ms"),
        fresh_requests: counts("fresh_requests"),
        warm_requests: counts("warm_requests"),
        again_requests: counts("again_requests"),
        fresh_paths: out["fetch_paths_fresh"].clone(),
        warm_paths: out["fetch_paths_warm"].clone(),
        again_paths: out["fetch_paths_again"].clone(),
    };
    if run.fresh.len() != n || run.warm.len() != n || run.again.len() != n {
        return Err(format!(
            "bench-owf.mjs reported {} samples, not {n}",
            run.fresh.len()
        ));
    }
    Ok(run)
}

/// `tests/interop` when node and the OWF packages are there.
fn owf_available() -> Result<PathBuf, String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    for package in [
        "@openid4vc/openid4vci",
        "@openid4vc/oauth2",
        "@sd-jwt/sd-jwt-vc",
        "@sd-jwt/crypto-nodejs",
        "jose",
    ] {
        if !dir
            .join("node_modules")
            .join(package)
            .join("package.json")
            .exists()
        {
            return Err(format!(
                "{package} is not in tests/interop/node_modules (run `npm ci --prefix tests/interop`)"
            ));
        }
    }
    node_version()
        .map(|_| dir)
        .ok_or_else(|| "no `node` on PATH".to_string())
}

fn node_version() -> Option<String> {
    let out = Command::new("node").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Request paths, offer ids elided (the SDK's from the issuer's per-path
/// counts, in path order; the OWF side's in the order sent, with methods).
fn paths_text<'a>(paths: impl Iterator<Item = &'a str>) -> String {
    let paths: Vec<String> = paths
        .map(|p| match p.find("/offers/") {
            Some(at) => format!("{}/offers/…", &p[..at]),
            None => p.to_string(),
        })
        .collect();
    format!("{} [{}]", paths.len(), paths.join(", "))
}

fn requests_text(requests: &[u64]) -> String {
    let mut distinct = requests.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    distinct
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: a number, not {v:?}")),
        Err(_) => default,
    }
}
