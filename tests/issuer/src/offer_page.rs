//! `GET /test/offer-page/{id}`: the page an issuer's portal shows once it
//! has made an offer. A heading, the offer URL as a QR code (an inline PNG,
//! for a wallet on another device: cross-device), the same URL as a link (a
//! wallet on this device: same-device), and, when the offer needs a
//! transaction code, the hint the offer carries (never the code: it reaches
//! the user out of band).
//!
//! The page does not spend the offer: an offer by reference is still served
//! once, to the wallet that scans the code.

use crate::routes::respond;
use crate::state::{random_id, Inner, Shared};
use axum::http::{header, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use qrcode::{EcLevel, QrCode};
use serde_json::Value;

/// The path prefix of offer pages (under the base URL, as `/test/offers`).
pub(crate) const PATH: &str = "/test/offer-page/";

/// What one offer page shows.
#[derive(Debug, Clone)]
pub(crate) struct OfferPage {
    /// `openid-credential-offer://?credential_offer_uri=...` (or by value).
    offer_url: String,
    /// Shown when the offer needs a transaction code.
    tx_code_hint: Option<String>,
}

/// The transaction code hint of an offer (the JSON it carries): the
/// `tx_code` object's `description` and `length`, or for a draft 11/12
/// offer its `user_pin_required`. `None` when no code is needed.
pub(crate) fn tx_code_hint(offer: &Value) -> Option<String> {
    let grant = &offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"];
    if let Some(tx_code) = grant.get("tx_code").filter(|t| t.is_object()) {
        let digits = tx_code["input_mode"].as_str().unwrap_or("numeric") == "numeric";
        let what = match (tx_code["length"].as_u64(), digits) {
            (Some(n), true) => format!("a {n}-digit transaction code"),
            (Some(n), false) => format!("a {n}-character transaction code"),
            (None, _) => "a transaction code".to_string(),
        };
        return Some(match tx_code["description"].as_str() {
            Some(description) => format!(
                "Your wallet will ask for {what}. {}.",
                description.trim_end().trim_end_matches('.')
            ),
            None => format!("Your wallet will ask for {what}, sent to you separately."),
        });
    }
    (grant["user_pin_required"] == Value::Bool(true))
        .then(|| "Your wallet will ask for the PIN sent to you separately.".to_string())
}

/// Keeps the page of a new offer and answers its URL.
pub(crate) fn register(
    shared: &Shared,
    inner: &mut Inner,
    offer_url: &str,
    tx_code_hint: Option<String>,
) -> String {
    let id = random_id(12);
    inner.offer_pages.insert(
        id.clone(),
        OfferPage {
            offer_url: offer_url.to_string(),
            tx_code_hint,
        },
    );
    format!("{}{PATH}{id}", shared.base_url)
}

/// The page of offer page `id`; `None` when there is no such page.
pub(crate) fn serve(shared: &Shared, id: &str) -> Option<Response> {
    let page = shared.lock().offer_pages.get(id).cloned()?;
    let qr = match qr_png(&page.offer_url) {
        Ok(qr) => qr,
        Err(e) => {
            return Some(respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain; charset=utf-8",
                format!("no QR code for this offer: {e}"),
            ))
        }
    };
    let hint = page
        .tx_code_hint
        .as_deref()
        .map(|h| format!("<p id=\"tx-code-hint\">{}</p>\n", escape(h)))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Your credential offer</title>\
         <style>body{{font-family:sans-serif;margin:16px}}\
         #offer-qr{{image-rendering:pixelated}}</style></head>\n<body>\n\
         <h1>Add your credential to a wallet</h1>\n\
         <p>Scan this QR code with your wallet app:</p>\n\
         <img id=\"offer-qr\" alt=\"QR code of the credential offer\" \
         width=\"{size}\" height=\"{size}\" src=\"data:image/png;base64,{png}\">\n\
         <p>Wallet on this device? <a id=\"offer-link\" href=\"{url}\">Open the offer \
         in your wallet</a></p>\n{hint}</body></html>\n",
        size = qr.size,
        png = base64::engine::general_purpose::STANDARD.encode(&qr.png),
        url = escape(&page.offer_url),
    );
    let mut response = respond(StatusCode::OK, "text/html; charset=utf-8", html);
    // Nothing but the inline image and style; never framed; the offer URL
    // (a secret until it is used) does not leak in a Referer.
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; \
             frame-ancestors 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    Some(response)
}

/// A QR code as a PNG, `size` pixels square.
struct QrPng {
    png: Vec<u8>,
    size: u32,
}

/// The largest side of the QR image (pixels), so that the page fits a small
/// window; modules stay at least 3 pixels wide.
const MAX_QR_PIXELS: u32 = 480;

/// The QR code of `text` (error correction M, or L when M does not fit),
/// with the 4-module quiet zone, as a greyscale PNG of whole-pixel modules.
fn qr_png(text: &str) -> Result<QrPng, String> {
    let code = QrCode::with_error_correction_level(text, EcLevel::M)
        .or_else(|_| QrCode::with_error_correction_level(text, EcLevel::L))
        .map_err(|e| format!("{e} (offer it by reference)"))?;
    let modules = code.width() as u32 + 8;
    let module = (MAX_QR_PIXELS / modules).clamp(3, 8);
    let image = code
        .render::<image::Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(module, module)
        .build();
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::L8,
    )
    .map_err(|e| e.to_string())?;
    Ok(QrPng {
        png,
        size: image.width(),
    })
}

/// Escapes text for HTML element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Issuer, OfferRequest, RunningIssuer};

    async fn issuer() -> RunningIssuer {
        Issuer::builder().spawn("127.0.0.1:0").await.unwrap()
    }

    async fn get(url: &str) -> (u16, String, String) {
        http("GET", url, "").await
    }

    /// A bare HTTP/1.1 request (the issuer crate has no HTTP client):
    /// status, head (lowercase) and body.
    async fn http(method: &str, url: &str, body: &str) -> (u16, String, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let url = url::Url::parse(url).unwrap();
        let mut stream = tokio::net::TcpStream::connect((
            url.host_str().unwrap(),
            url.port_or_known_default().unwrap(),
        ))
        .await
        .unwrap();
        let request = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            url.path(),
            url.host_str().unwrap(),
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    /// The text of the QR code in a `data:image/png;base64,` image.
    fn decode_qr(html: &str) -> String {
        let start = html.find("src=\"data:image/png;base64,").unwrap() + 27;
        let b64 = &html[start..start + html[start..].find('"').unwrap()];
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .unwrap()
            .to_luma8();
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
            image.width() as usize,
            image.height() as usize,
            |x, y| image.get_pixel(x as u32, y as u32).0[0],
        );
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code");
        grids[0].decode().unwrap().1
    }

    fn unescape(attr: &str) -> String {
        attr.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    fn link(html: &str) -> String {
        let start = html.find("<a id=\"offer-link\" href=\"").unwrap() + 25;
        unescape(&html[start..start + html[start..].find('"').unwrap()])
    }

    #[tokio::test]
    async fn the_page_shows_the_offer_as_a_qr_code_and_a_link_and_the_hint_not_the_code() {
        let issuer = issuer().await;
        let created = issuer.create_offer(OfferRequest {
            by_reference: Some(true),
            tx_code: Some(true),
            ..Default::default()
        });
        assert!(created
            .offer_page_url
            .starts_with(&format!("{}/test/offer-page/", issuer.base_url())));
        let (status, head, html) = get(&created.offer_page_url).await;
        assert_eq!(status, 200, "{html}");
        assert!(head.contains("content-type: text/html"), "{head}");
        assert!(head.contains("content-security-policy:"), "{head}");
        assert!(html.contains("<h1>"), "{html}");
        assert!(html.contains("<img id=\"offer-qr\""), "{html}");
        assert_eq!(link(&html), created.offer_url);
        assert_eq!(decode_qr(&html), created.offer_url);
        assert!(
            html.contains("6-digit transaction code")
                && html.contains("we sent to your e-mail address"),
            "{html}"
        );
        assert!(!html.contains(&created.tx_code.unwrap()), "{html}");
        // Showing the page does not spend the offer.
        let offer_uri = url::Url::parse(&created.offer_url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "credential_offer_uri")
            .unwrap()
            .1
            .into_owned();
        let (status, _, offer) = get(&offer_uri).await;
        assert_eq!(status, 200, "{offer}");
    }

    #[tokio::test]
    async fn a_by_value_offer_fits_in_the_qr_code_and_needs_no_hint_without_a_tx_code() {
        let issuer = issuer().await;
        let created = issuer.create_offer(OfferRequest {
            credential_configuration_ids: Some(vec![
                "pid_sd_jwt".into(),
                "membership_sd_jwt".into(),
                "pid_mdoc".into(),
            ]),
            ..Default::default()
        });
        assert!(created.offer_url.contains("credential_offer="));
        let (status, _, html) = get(&created.offer_page_url).await;
        assert_eq!(status, 200, "{html}");
        assert_eq!(link(&html), created.offer_url);
        assert_eq!(decode_qr(&html), created.offer_url);
        assert!(!html.contains("tx-code-hint"), "{html}");
    }

    #[tokio::test]
    async fn post_test_offers_answers_the_offer_page_url() {
        let issuer = issuer().await;
        let (status, _, body) = http(
            "POST",
            &format!("{}/test/offers", issuer.base_url()),
            r#"{"by_reference": true}"#,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let created: crate::CreatedOffer = serde_json::from_str(&body).unwrap();
        let (status, _, html) = get(&created.offer_page_url).await;
        assert_eq!(status, 200, "{html}");
        assert_eq!(decode_qr(&html), created.offer_url);
        assert!(!html.contains("tx-code-hint"), "{html}");
    }

    #[tokio::test]
    async fn an_unknown_offer_page_is_404() {
        let issuer = issuer().await;
        issuer.create_offer(OfferRequest::default());
        let (status, _, _) = get(&format!("{}/test/offer-page/nope", issuer.base_url())).await;
        assert_eq!(status, 404);
        let (status, _, _) = get(&format!("{}/test/offer-page/", issuer.base_url())).await;
        assert_eq!(status, 404);
    }

    #[test]
    fn the_hint_of_a_legacy_offer_asks_for_the_pin() {
        let offer = serde_json::json!({"grants": {
            "urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                "pre-authorized_code": "x", "user_pin_required": true}}});
        assert!(tx_code_hint(&offer).unwrap().contains("PIN"));
        let offer = serde_json::json!({"grants": {
            "urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                "pre-authorized_code": "x", "tx_code": {"input_mode": "text"}}}});
        assert_eq!(
            tx_code_hint(&offer).unwrap(),
            "Your wallet will ask for a transaction code, sent to you separately."
        );
        assert_eq!(tx_code_hint(&serde_json::json!({"grants": {}})), None);
    }
}
