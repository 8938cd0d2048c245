//! `tower-auth login NAME` for a `device_code` connection (RFC 8628): prints where to go and
//! the code to enter (the complete URI as a QR code too when stdout is a terminal), then polls
//! until the user approved, refused, or the code or the timeout ran out.

use std::{
    io::{IsTerminal, Write},
    time::Duration,
};

use tower_auth::{config::ConnectionSpec, oauth::grant::DevicePrompt};

use super::{Spinner, signed_in};
use crate::diagnose::{self, Failure, Stage};

/// How long the user has to approve, unless the device code expires first.
const DEVICE_LOGIN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

pub(super) async fn login(
    mut spec: ConnectionSpec,
    name: &str,
    user: Option<&str>,
) -> Result<(), Failure> {
    // With a profile the sign-in lands under a key of its own until the profile says whose
    // it is: another user's stored sign-in is never overwritten.
    let pending = format!("{name}#signing-in");
    if spec.profile().is_some() {
        spec = spec.with_store_key(pending.clone());
    }
    let layer = spec
        .device_code_layer()
        .await
        .map_err(|e| diagnose::build_failure(&e))?;
    let mut spinner = None;
    let result = layer
        .device_login(
            |prompt| {
                show(prompt, std::io::stdout().is_terminal());
                spinner = Some(Spinner::start("waiting for the sign-in to be approved…"));
            },
            DEVICE_LOGIN_TIMEOUT,
        )
        .await;
    drop(spinner);
    let token = result.map_err(|e| Failure::from_auth(Stage::Token, &e, spec.redactor()))?;
    signed_in(&spec, name, &token, layer.id_token(), &pending, user).await
}

/// The prompt on stdout, each part on a line of its own so scripts (and tests) can read it.
fn show(prompt: &DevicePrompt, terminal: bool) {
    println!(
        "To sign in, open {} and enter the code {}",
        prompt.verification_uri(),
        prompt.user_code()
    );
    if let Some(complete) = prompt.verification_uri_complete() {
        println!("Or open {complete}");
        if terminal && let Some(qr) = qr_code(complete.as_str()) {
            println!("{qr}");
        }
    }
    if let Some(expires_in) = prompt.expires_in() {
        println!("The code expires in {}.", crate::check::human(expires_in));
    }
    let _ = std::io::stdout().flush();
}

/// `text` as a QR code of Unicode half blocks (two modules per character cell), light on dark
/// inverted so it scans on dark and light terminals alike; `None` when it does not fit a QR
/// code.
fn qr_code(text: &str) -> Option<String> {
    use qrcode::{QrCode, render::unicode::Dense1x2};

    let code = QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<Dense1x2>()
            .dark_color(Dense1x2::Light)
            .light_color(Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::qr_code;

    #[test]
    fn a_verification_uri_becomes_a_block_qr_code() {
        let qr = qr_code("https://example.com/device?user_code=WDJB-MJHT").expect("fits");
        let lines: Vec<&str> = qr.lines().collect();
        // Square: twice as many modules high as lines, as many wide as characters.
        let width = lines[0].chars().count();
        assert!(width >= 25, "{qr}");
        assert_eq!(lines.len(), width.div_ceil(2), "{qr}");
        assert!(
            qr.chars()
                .all(|c| matches!(c, ' ' | '█' | '▀' | '▄' | '\n')),
            "{qr}"
        );
        assert!(qr_code(&"x".repeat(8000)).is_none());
    }
}
