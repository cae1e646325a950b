//! `--qr FILE`: the offer URL from a PNG or JPEG image of its QR code (a
//! screenshot of an issuer's offer page, or a photo of it). The image is
//! decoded with `image` (PNG and JPEG only), the QR codes in it are found
//! and read with `rqrr`, and the one that holds a credential offer URL is
//! used.

use crate::text::quoted;
use oid4vci_wallet::Error;
use std::path::Path;

/// The largest image file read (bytes).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The largest image side decoded (pixels).
const MAX_SIDE: u32 = 16_384;
/// The most memory the decoder may take (bytes).
const MAX_DECODE_BYTES: u64 = 256 * 1024 * 1024;
/// How much of a QR code's text an error shows (characters).
const MAX_SHOWN_CHARS: usize = 120;

/// What an offer URL may look like, for error messages.
const EXPECTED: &str = "an openid-credential-offer://, haip-vci:// or haip:// URL, or an https \
                        link, with credential_offer or credential_offer_uri";

/// The offer URL in the QR code of the image file at `path`.
pub fn offer_url_from_qr(path: &Path) -> oid4vci_wallet::Result<String> {
    let what = format!("--qr {}", path.display());
    let size = std::fs::metadata(path)
        .map_err(|e| Error::Config(format!("{what}: {e}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(Error::Config(format!(
            "{what}: the file has {size} bytes, more than the {MAX_FILE_BYTES} read"
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::Config(format!("{what}: {e}")))?;
    offer_url_from_image(&bytes, &what)
}

/// The offer URL in the QR code of a PNG or JPEG image (`what` names it in
/// errors).
fn offer_url_from_image(bytes: &[u8], what: &str) -> oid4vci_wallet::Result<String> {
    let texts = qr_texts(bytes, what)?;
    let mut offers: Vec<&String> = texts.iter().filter(|t| is_offer_url(t)).collect();
    offers.dedup();
    match (offers.as_slice(), texts.first()) {
        ([one], _) => Ok(one.trim().to_string()),
        ([], Some(text)) => Err(Error::InvalidOffer(format!(
            "{what}: the QR code does not hold a credential offer URL ({EXPECTED}): it holds {}",
            quoted(text, MAX_SHOWN_CHARS)
        ))),
        ([], None) => unreachable!("qr_texts finds at least one"),
        (many, _) => Err(Error::InvalidOffer(format!(
            "{what}: the image holds {} different credential offer QR codes; crop it to one",
            many.len()
        ))),
    }
}

/// The texts of the QR codes in the image, in the order found (at least
/// one).
fn qr_texts(bytes: &[u8], what: &str) -> oid4vci_wallet::Result<Vec<String>> {
    let unreadable =
        |e: &dyn std::fmt::Display| Error::Config(format!("{what}: unreadable image ({e})"));
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| unreadable(&e))?;
    match reader.format() {
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg) => {}
        Some(other) => {
            return Err(Error::Config(format!(
                "{what}: a {other:?} image; only PNG and JPEG are read"
            )))
        }
        None => return Err(Error::Config(format!("{what}: not a PNG or JPEG image"))),
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let grey = reader.decode().map_err(|e| unreadable(&e))?.into_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        grey.width() as usize,
        grey.height() as usize,
        |x, y| grey.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    if grids.is_empty() {
        return Err(Error::InvalidOffer(format!(
            "{what}: no QR code found in the image"
        )));
    }
    let mut texts = Vec::new();
    let mut failure = None;
    for grid in &grids {
        match grid.decode() {
            Ok((_, text)) => texts.push(text),
            Err(e) => failure = Some(e),
        }
    }
    match (texts.is_empty(), failure) {
        (true, Some(e)) => Err(Error::InvalidOffer(format!(
            "{what}: a QR code was found but could not be read ({e})"
        ))),
        _ => Ok(texts),
    }
}

/// Whether `text` looks like a credential offer URL: an accepted scheme and
/// a `credential_offer` or `credential_offer_uri` parameter (the wallet
/// checks the rest when it resolves the offer). `http` passes here; the
/// wallet refuses it without `--dangerous-allow-http`.
fn is_offer_url(text: &str) -> bool {
    let Ok(url) = url::Url::parse(text.trim()) else {
        return false;
    };
    matches!(
        url.scheme(),
        "openid-credential-offer" | "haip-vci" | "haip" | "https" | "http"
    ) && url
        .query_pairs()
        .any(|(name, _)| name == "credential_offer" || name == "credential_offer_uri")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageEncoder as _, Luma};

    const BY_REFERENCE: &str =
        "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fissuer.example%2Foffers%2F1";

    /// The QR code of `text`, black on white with its quiet zone.
    fn qr(text: &str) -> GrayImage {
        qrcode::QrCode::new(text)
            .unwrap()
            .render::<Luma<u8>>()
            .module_dimensions(4, 4)
            .build()
    }

    fn png(image: &GrayImage) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                image::ExtendedColorType::L8,
            )
            .unwrap();
        out
    }

    fn jpeg(image: &GrayImage) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .write_image(
                image.as_raw(),
                image.width(),
                image.height(),
                image::ExtendedColorType::L8,
            )
            .unwrap();
        out
    }

    /// `images` side by side on a white canvas.
    fn side_by_side(images: &[GrayImage]) -> GrayImage {
        let width = images.iter().map(|i| i.width() + 20).sum::<u32>() + 20;
        let height = images.iter().map(|i| i.height()).max().unwrap() + 40;
        let mut canvas = GrayImage::from_pixel(width, height, Luma([255]));
        let mut x = 20;
        for image in images {
            image::imageops::replace(&mut canvas, image, x.into(), 20);
            x += image.width() + 20;
        }
        canvas
    }

    fn message(result: oid4vci_wallet::Result<String>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn reads_the_offer_url_from_a_png_and_a_jpeg() {
        assert_eq!(
            offer_url_from_image(&png(&qr(BY_REFERENCE)), "t").unwrap(),
            BY_REFERENCE
        );
        assert_eq!(
            offer_url_from_image(&jpeg(&qr(BY_REFERENCE)), "t").unwrap(),
            BY_REFERENCE
        );
    }

    #[test]
    fn reads_every_accepted_scheme_and_a_big_offer_by_value() {
        let by_value = format!(
            "openid-credential-offer://?credential_offer={}",
            url::form_urlencoded::byte_serialize(
                serde_json::json!({
                    "credential_issuer": "https://issuer.example",
                    "credential_configuration_ids": ["pid_sd_jwt", "mdl_mdoc"],
                    "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {
                        "pre-authorized_code": "x".repeat(40),
                        "tx_code": {"input_mode": "numeric", "length": 6,
                                    "description": "the code we sent"}}}
                })
                .to_string()
                .as_bytes()
            )
            .collect::<String>()
        );
        for url in [
            by_value.as_str(),
            "haip://?credential_offer_uri=https%3A%2F%2Fi.example%2Fo",
            "haip-vci://?credential_offer_uri=https%3A%2F%2Fi.example%2Fo",
            "https://wallet.example/offer?credential_offer_uri=https%3A%2F%2Fi.example%2Fo",
        ] {
            assert_eq!(offer_url_from_image(&png(&qr(url)), "t").unwrap(), url);
        }
    }

    #[test]
    fn finds_the_offer_among_other_qr_codes_and_refuses_two_offers() {
        let other = "https://issuer.example/help";
        let image = side_by_side(&[qr(other), qr(BY_REFERENCE)]);
        assert_eq!(
            offer_url_from_image(&png(&image), "t").unwrap(),
            BY_REFERENCE
        );
        let second = BY_REFERENCE.replace("%2F1", "%2F2");
        let image = side_by_side(&[qr(BY_REFERENCE), qr(&second)]);
        let e = message(offer_url_from_image(&png(&image), "t"));
        assert!(e.contains("2 different credential offer QR codes"), "{e}");
    }

    #[test]
    fn a_qr_code_that_is_not_an_offer_url_is_refused_and_shown_escaped() {
        for text in [
            "hello",
            "https://issuer.example/?foo=bar",
            "mailto:someone@example.com?credential_offer=x",
            "openid-credential-offer://?other=1",
        ] {
            let e = message(offer_url_from_image(&png(&qr(text)), "--qr x.png"));
            assert!(
                e.contains("--qr x.png: the QR code does not hold a credential offer URL")
                    && e.contains(text),
                "{e}"
            );
        }
        let e = message(offer_url_from_image(
            &png(&qr("\u{1b}[2Kissuer signature: verified")),
            "t",
        ));
        assert!(!e.contains('\u{1b}') && e.contains("\\u001b"), "{e}");
    }

    #[test]
    fn an_image_without_a_qr_code_says_so() {
        let blank = GrayImage::from_pixel(200, 200, Luma([255]));
        let e = message(offer_url_from_image(&png(&blank), "--qr blank.png"));
        assert!(
            e.contains("--qr blank.png: no QR code found in the image"),
            "{e}"
        );
    }

    #[test]
    fn unreadable_images_and_other_formats_are_refused() {
        let e = message(offer_url_from_image(b"not an image at all", "t"));
        assert!(e.contains("t: not a PNG or JPEG image"), "{e}");
        let mut truncated = png(&qr(BY_REFERENCE));
        truncated.truncate(truncated.len() / 2);
        let e = message(offer_url_from_image(&truncated, "t"));
        assert!(e.contains("t: unreadable image ("), "{e}");
        let e = message(offer_url_from_image(b"GIF89a\x01\x00\x01\x00", "t"));
        assert!(e.contains("only PNG and JPEG are read"), "{e}");
    }

    #[test]
    fn reads_a_file_and_names_a_missing_one() {
        let path = std::env::temp_dir().join(format!("oid4vci-qr-{}.png", std::process::id()));
        std::fs::write(&path, png(&qr(BY_REFERENCE))).unwrap();
        let read = offer_url_from_qr(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap(), BY_REFERENCE);
        let e = message(offer_url_from_qr(&path));
        assert!(e.contains(&format!("--qr {}: ", path.display())), "{e}");
    }
}
