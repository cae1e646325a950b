//! Resuming at every step: each state of an issuance is saved as JSON, the
//! wallet and every state are dropped (the app was killed by the OS), and a
//! new wallet restores the state and finishes the issuance. An offer by
//! reference is single use, so the reference issuer must have served it
//! exactly once. And what is not a saved state is refused with a typed error
//! that names the state and never quotes a secret.

use crate::common::*;
use oid4vci_wallet::{
    Authorized, DeferredPending, Error, Grant, Issuance, PendingAuthorization, PreAuthorizedStep,
    ResolvedOffer, SoftwareSigner,
};
use std::time::Duration;

const REDIRECT_URI: &str = "https://wallet.example/callback";

/// A PID offer by reference, with or without a tx_code, maybe deferred.
fn by_reference(tx_code: bool, deferred: bool) -> OfferRequest {
    offer(&["pid_sd_jwt"], tx_code, true, deferred)
}

/// A PID offer by reference for the authorization code grant.
fn code_offer_by_reference() -> OfferRequest {
    OfferRequest {
        authorization_code: Some(true),
        ..by_reference(false, false)
    }
}

fn pre_authorized(resolved: &ResolvedOffer) -> PreAuthorizedStep {
    match resolved.grant().unwrap() {
        Grant::PreAuthorized(step) => step,
        other => panic!("expected the pre-authorized grant, got {other:?}"),
    }
}

/// The offer was fetched once, and so was each metadata document: nothing
/// was fetched again to restore a state.
fn assert_fetched_once(issuer: &RunningIssuer) {
    let stats = issuer.stats();
    for needle in [
        "/offers/",
        "openid-credential-issuer",
        "oauth-authorization-server",
    ] {
        assert_eq!(count(issuer, needle), 1, "{needle}: {stats:?}");
    }
}

/// Requests the issuer has seen so far.
fn requests(issuer: &RunningIssuer) -> u64 {
    issuer.stats().values().sum()
}

fn assert_pid(credential: &oid4vci_wallet::IssuedCredential, signer: Option<&SoftwareSigner>) {
    let claims = credential.claims.as_ref().expect("claims");
    assert_eq!(claims["family_name"], "Mustermann");
    assert!(credential.signature_verified);
    if let Some(signer) = signer {
        assert_eq!(
            credential.holder_jwk.as_ref(),
            Some(&oid4vci_wallet::Signer::public_jwk(signer))
        );
    }
}

#[tokio::test]
async fn a_resolved_offer_by_reference_resumes_in_a_new_wallet() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(by_reference(true, false));
    assert!(created.offer_url.contains("credential_offer_uri="));
    let (saved, original) = {
        let wallet = wallet();
        let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
        (resolved.to_json().unwrap(), resolved)
        // the app is killed before the user chose to accept the offer
    };
    assert_fetched_once(&issuer);

    let before = requests(&issuer);
    let restored = ResolvedOffer::from_json(&saved).unwrap();
    assert_eq!(requests(&issuer), before, "restoring made a request");
    assert_eq!(restored, original);
    assert_eq!(restored.issuer_id(), issuer.issuer_id());
    assert_eq!(restored.credentials()[0].id, "pid_sd_jwt");
    // Saved again, it is the same JSON.
    assert_eq!(restored.to_json().unwrap(), saved);

    let wallet = wallet();
    let step = pre_authorized(&restored);
    assert!(step.tx_code_spec().is_some());
    let mut authorized = step
        .with_tx_code(created.tx_code.unwrap())
        .authorize(&wallet)
        .await
        .unwrap();
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_pid(&credential, None);
    assert_fetched_once(&issuer);
    assert_eq!(count(&issuer, "/token"), 1);
}

#[tokio::test]
async fn a_pre_authorized_step_waiting_for_the_tx_code_resumes_after_a_restart() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(by_reference(true, false));
    let tx_code = created.tx_code.clone().unwrap();
    // The PIN screen is shown: the step is saved before the code is known.
    let saved = {
        let wallet = wallet();
        let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
        pre_authorized(&resolved).to_json().unwrap()
    };
    assert_fetched_once(&issuer);
    let before = requests(&issuer);
    let restored = PreAuthorizedStep::from_json(&saved).unwrap();
    assert_eq!(requests(&issuer), before, "restoring made a request");
    let spec = restored.tx_code_spec().expect("the tx_code spec survives");
    assert_eq!(spec.length, Some(6));
    assert_eq!(restored.issuer_id(), issuer.issuer_id());
    assert_eq!(restored.credential_configuration_ids(), ["pid_sd_jwt"]);
    assert!(!saved.contains(&format!("\"{tx_code}\"")));

    // The user types the code, and the app is killed once more before the
    // token request: the typed code is part of the saved step.
    let typed = restored.with_tx_code(tx_code.clone());
    let saved = typed.to_json().unwrap();
    assert!(saved.contains(&format!("\"{tx_code}\"")));
    assert!(
        !format!("{typed:?}").contains(&tx_code),
        "the tx_code in Debug"
    );
    drop(typed);

    let wallet = wallet();
    let step = PreAuthorizedStep::from_json(&saved).unwrap();
    assert!(
        !format!("{step:?}").contains(&tx_code),
        "the tx_code in Debug"
    );
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let signer = SoftwareSigner::generate();
    let Issuance::Issued(list) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &signer)
        .await
        .unwrap()
    else {
        panic!("expected immediate issuance")
    };
    assert_pid(&list[0], Some(&signer));
    assert_fetched_once(&issuer);
}

#[tokio::test]
async fn a_pending_authorization_for_an_offer_by_reference_resumes_after_a_restart() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(code_offer_by_reference());
    let saved = {
        let wallet = wallet();
        let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
        authorization_step(&resolved)
            .authorization_url(&wallet, REDIRECT_URI)
            .await
            .unwrap()
            .to_json()
            .unwrap()
        // the app is killed while the browser is open
    };
    let restored = PendingAuthorization::from_json(&saved).unwrap();
    let redirect = browser(restored.url(), "erika", "erika-password", true).await;
    let wallet = wallet();
    let mut authorized = restored.complete(&wallet, &redirect).await.unwrap();
    let credential = one_credential(&mut authorized, &wallet, "pid_sd_jwt").await;
    assert_eq!(credential.claims.as_ref().unwrap()["given_name"], "Erika");
    assert_pid(&credential, None);
    assert_fetched_once(&issuer);
}

#[tokio::test]
async fn an_authorized_session_from_an_offer_by_reference_resumes_after_a_restart() {
    let issuer = default_issuer().await;
    let created = issuer.create_offer(by_reference(true, false));
    let saved = {
        let wallet = wallet();
        let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
        pre_authorized(&resolved)
            .with_tx_code(created.tx_code.unwrap())
            .authorize(&wallet)
            .await
            .unwrap()
            .to_json()
            .unwrap()
        // the app is killed before the credential request
    };
    let wallet = wallet();
    let mut restored = Authorized::from_json(&saved).unwrap();
    let credential = one_credential(&mut restored, &wallet, "pid_sd_jwt").await;
    assert_pid(&credential, None);
    assert_fetched_once(&issuer);
    assert_eq!(count(&issuer, "/token"), 1);
}

#[tokio::test]
async fn a_deferred_transaction_from_an_offer_by_reference_resumes_after_a_restart() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let created = issuer.create_offer(by_reference(false, true));
    let signer = SoftwareSigner::generate();
    let saved = {
        let wallet = wallet();
        let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
        let mut authorized = pre_authorized(&resolved).authorize(&wallet).await.unwrap();
        match authorized
            .request_credential(&wallet, "pid_sd_jwt", &signer)
            .await
            .unwrap()
        {
            Issuance::Deferred(pending) => pending.to_json().unwrap(),
            Issuance::Issued(_) => panic!("expected deferred issuance"),
        }
        // the app is killed while the issuer prepares the credential
    };
    let wallet = wallet();
    let mut restored = DeferredPending::from_json(&saved).unwrap();
    let list = restored
        .poll_until_ready(&wallet, Duration::from_secs(20), None)
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "one credential was asked for");
    assert_pid(&list[0], Some(&signer));
    assert_fetched_once(&issuer);
    // The restored transaction polled on: once pending, once issued.
    assert_eq!(count(&issuer, "/deferred"), 2, "{:?}", issuer.stats());
}

/// The whole pre-authorized chain, each step in a wallet of its own.
#[tokio::test]
async fn every_step_of_one_issuance_in_a_new_wallet() {
    let issuer = start(
        Issuer::builder()
            .deferred_pending_polls(1)
            .deferred_interval(1),
    )
    .await;
    let created = issuer.create_offer(by_reference(true, true));
    let saved = wallet()
        .resolve_offer(&created.offer_url)
        .await
        .unwrap()
        .to_json()
        .unwrap();
    let saved = pre_authorized(&ResolvedOffer::from_json(&saved).unwrap())
        .to_json()
        .unwrap();
    let saved = PreAuthorizedStep::from_json(&saved)
        .unwrap()
        .with_tx_code(created.tx_code.unwrap())
        .authorize(&wallet())
        .await
        .unwrap()
        .to_json()
        .unwrap();
    let signer = SoftwareSigner::generate();
    let saved = match Authorized::from_json(&saved)
        .unwrap()
        .request_credential(&wallet(), "pid_sd_jwt", &signer)
        .await
        .unwrap()
    {
        Issuance::Deferred(pending) => pending.to_json().unwrap(),
        Issuance::Issued(_) => panic!("expected deferred issuance"),
    };
    let list = DeferredPending::from_json(&saved)
        .unwrap()
        .poll_until_ready(&wallet(), Duration::from_secs(20), None)
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "one credential was asked for");
    assert_pid(&list[0], Some(&signer));
    assert_fetched_once(&issuer);
    // Each step ran once, in its own wallet: one token, one credential
    // request, and the restored transaction's two polls.
    assert_eq!(count(&issuer, "/token"), 1, "{:?}", issuer.stats());
    assert_eq!(count(&issuer, "/credential"), 1, "{:?}", issuer.stats());
    assert_eq!(count(&issuer, "/deferred"), 2, "{:?}", issuer.stats());
}

type Restore = fn(&str) -> Result<(), Error>;

/// Each state's `from_json`, with the name its errors use.
fn restorers() -> [(&'static str, Restore); 5] {
    [
        ("saved resolved offer", |j| {
            ResolvedOffer::from_json(j).map(drop)
        }),
        ("saved pre-authorized step", |j| {
            PreAuthorizedStep::from_json(j).map(drop)
        }),
        ("saved pending authorization", |j| {
            PendingAuthorization::from_json(j).map(drop)
        }),
        ("saved authorized session", |j| {
            Authorized::from_json(j).map(drop)
        }),
        ("saved deferred transaction", |j| {
            DeferredPending::from_json(j).map(drop)
        }),
    ]
}

/// Asserts `result` is `Error::InvalidState` naming `name`; its message.
fn assert_invalid_state(result: Result<(), Error>, name: &str, input: &str) -> String {
    match result {
        Err(Error::InvalidState(message)) => {
            assert!(message.starts_with(name), "{input:?}: {message}");
            message
        }
        Err(other) => panic!("{name} from {input:?}: expected InvalidState, got {other:?}"),
        Ok(()) => panic!("{name} from {input:?}: accepted"),
    }
}

#[test]
fn garbage_is_refused_with_a_typed_error_for_every_state() {
    let garbage = [
        "",
        "   ",
        "null",
        "42",
        "\"a string\"",
        "[]",
        "[{\"saved_state\":\"authorized\"}]",
        "{not json",
        "{\"saved_state\":",
        "{}",
        "{\"saved_state\":7,\"saved_version\":1}",
        "{\"saved_state\":\"nonsense\",\"saved_version\":1}",
        "{\"saved_state\":\"resolved_offer\",\"saved_version\":1} trailing",
        "\u{feff}{}",
        "{\"context\":{\"issuer\":[]}}",
    ];
    for (name, restore) in restorers() {
        for input in garbage {
            assert_invalid_state(restore(input), name, input);
        }
        // Deeply nested: refused, not a stack overflow.
        let deep = format!("{}{}", "{\"a\":[".repeat(5000), "]}".repeat(5000));
        assert_invalid_state(restore(&deep), name, "deeply nested");
    }
}

/// One saved JSON of each state (restorers() order), and secrets to look for.
async fn one_of_each(issuer: &RunningIssuer) -> ([String; 5], Vec<String>) {
    let wallet = wallet();
    let created = issuer.create_offer(by_reference(true, true));
    let resolved = wallet.resolve_offer(&created.offer_url).await.unwrap();
    let step = pre_authorized(&resolved);
    let code = resolved
        .offer()
        .grants
        .as_ref()
        .and_then(|g| g.pre_authorized_code.as_ref())
        .map(|g| g.pre_authorized_code.secret().to_string())
        .unwrap();
    let tx_code = created.tx_code.unwrap();
    let step = step.with_tx_code(tx_code.clone());
    let mut authorized = step.authorize(&wallet).await.unwrap();
    let token = authorized.token().access_token.secret().to_string();
    let Issuance::Deferred(deferred) = authorized
        .request_credential(&wallet, "pid_sd_jwt", &SoftwareSigner::generate())
        .await
        .unwrap()
    else {
        panic!("expected deferred issuance")
    };
    let created = issuer.create_offer(OfferRequest {
        authorization_code: Some(true),
        ..offer(&["pid_sd_jwt"], false, false, false)
    });
    let pending = authorization_step(&wallet.resolve_offer(&created.offer_url).await.unwrap())
        .authorization_url(&wallet, REDIRECT_URI)
        .await
        .unwrap();
    let saved = [
        resolved.to_json().unwrap(),
        step.to_json().unwrap(),
        pending.to_json().unwrap(),
        authorized.to_json().unwrap(),
        deferred.to_json().unwrap(),
    ];
    (saved, vec![code, tx_code, token])
}

#[tokio::test]
async fn a_saved_state_is_versioned_and_never_taken_for_another() {
    let issuer = start(Issuer::builder().deferred_pending_polls(5)).await;
    let (saved, secrets) = one_of_each(&issuer).await;
    let restorers = restorers();
    for (i, json) in saved.iter().enumerate() {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(value["saved_version"], 1, "{}", restorers[i].0);
        for (j, (name, restore)) in restorers.iter().enumerate() {
            if i == j {
                restore(json).unwrap_or_else(|e| panic!("{name}: {e}"));
                continue;
            }
            let message = assert_invalid_state(restore(json), name, restorers[i].0);
            let theirs = restorers[i].0.trim_start_matches("saved ");
            assert!(
                message.contains(&format!("this is a saved {theirs}, not a saved ")),
                "{message}"
            );
        }

        let (name, restore) = restorers[i];
        // A format from a newer SDK, or no format version.
        let mut newer = value.clone();
        newer["saved_version"] = serde_json::json!(2);
        let message = assert_invalid_state(restore(&newer.to_string()), name, "version 2");
        assert!(message.contains("newer"), "{message}");
        for bad in [
            serde_json::json!(0),
            serde_json::json!("1"),
            serde_json::json!(1.5),
        ] {
            let mut odd = value.clone();
            odd["saved_version"] = bad;
            assert_invalid_state(restore(&odd.to_string()), name, "odd version");
        }
        let mut unversioned = value.clone();
        unversioned.as_object_mut().unwrap().remove("saved_version");
        assert_invalid_state(restore(&unversioned.to_string()), name, "no version");

        // Truncated anywhere: refused, never a panic.
        for cut in (0..json.len()).step_by(97) {
            if json.is_char_boundary(cut) {
                assert_invalid_state(restore(&json[..cut]), name, "truncated");
            }
        }

        // A secret in a field of the wrong type is not quoted in the error.
        let field = match value.get("context") {
            Some(_) => "context",
            None => "authorized",
        };
        for secret in &secrets {
            let mut tampered = value.clone();
            tampered[field] = serde_json::json!(secret);
            let message = assert_invalid_state(restore(&tampered.to_string()), name, "a secret");
            assert!(message.contains(field), "{message}");
            assert!(!message.contains(secret.as_str()), "{message}");
        }
        // ... nor a number where a structure was expected.
        let mut tampered = value.clone();
        match field {
            "context" => tampered["context"]["issuer"] = serde_json::json!(493_536_123),
            _ => tampered["authorized"]["context"]["issuer"] = serde_json::json!(493_536_123),
        }
        let message = assert_invalid_state(restore(&tampered.to_string()), name, "a number");
        assert!(message.contains("context.issuer"), "{message}");
        assert!(!message.contains("493536123"), "{message}");
    }

    // Saved before the format had its version: still read.
    for (i, name) in [
        (2, "pending authorization"),
        (3, "authorized"),
        (4, "deferred"),
    ] {
        let mut legacy: serde_json::Value = serde_json::from_str(&saved[i]).unwrap();
        let object = legacy.as_object_mut().unwrap();
        object.remove("saved_state");
        object.remove("saved_version");
        restorers[i].1(&legacy.to_string()).unwrap_or_else(|e| panic!("legacy {name}: {e}"));
    }
    // The two new states always carry their tag.
    for i in [0, 1] {
        let mut untagged: serde_json::Value = serde_json::from_str(&saved[i]).unwrap();
        let object = untagged.as_object_mut().unwrap();
        object.remove("saved_state");
        object.remove("saved_version");
        assert_invalid_state(
            restorers[i].1(&untagged.to_string()),
            restorers[i].0,
            "untagged",
        );
    }

    // A resolved offer whose offer no longer matches its metadata.
    let mut mismatched: serde_json::Value = serde_json::from_str(&saved[0]).unwrap();
    mismatched["offer"]["credential_configuration_ids"] = serde_json::json!(["unknown_id"]);
    let message = assert_invalid_state(
        restorers[0].1(&mismatched.to_string()),
        restorers[0].0,
        "mismatched",
    );
    assert!(message.contains("unknown_id"), "{message}");
    let mut mismatched: serde_json::Value = serde_json::from_str(&saved[1]).unwrap();
    mismatched["offered"] = serde_json::json!([]);
    assert_invalid_state(
        restorers[1].1(&mismatched.to_string()),
        restorers[1].0,
        "nothing offered",
    );
}
