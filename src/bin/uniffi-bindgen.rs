//! `uniffi-bindgen` for this crate's Kotlin and Swift bindings (feature `bindgen`).
fn main() {
    uniffi::uniffi_bindgen_main()
}
