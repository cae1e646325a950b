#![no_main]
use libfuzzer_sys::fuzz_target;
#[path = "common.rs"]
mod common;

// Error bodies at every endpoint go through the same typed-error parser; the
// notification handler reaches it with the least else in the way.
fuzz_target!(|data: &[u8]| {
    let authorized = common::authorized();
    let mut response = common::response(data);
    if response.status < 400 {
        response.status = 400;
    }
    if let Err(e) = authorized.handle_notification_response(&response) {
        let text = e.to_string();
        assert!(text.len() < 2000, "unbounded error text");
        assert!(
            !text.chars().any(|c| c.is_control()),
            "control characters in the error"
        );
    }
});
