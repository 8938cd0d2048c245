//! `tls = { cert, key, ca }` on a connection: what loads, and the problems named by path.

use super::*;

#[cfg(feature = "tls")]
#[test]
fn connection_client_certificates_load_and_bad_keys_name_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let client = auth_test_support::pki::Identity::self_signed_client("client.test");
    let other_key = auth_test_support::keys::TestKey::es256();
    let cert_file = write("client.pem", &client.cert_pem);
    let key_file = write("client.key", client.key_pem());
    let other_key_file = write("other.key", &other_key.private_pem);
    let config = |key: &str| {
        Config::from_str(
            &format!(
                r#"
                [connections.internal]
                base_url = "https://internal.test"
                tls = {{ cert = "{cert_file}", key = {{ file = "{key}" }} }}
                auth = {{ type = "none" }}
                [connections.plain]
                base_url = "https://plain.test"
                auth = {{ type = "none" }}
                "#
            ),
            Format::Toml,
        )
        .expect("valid")
    };
    let good = config(&key_file);
    let tls = good
        .connection("internal", None)
        .expect("spec")
        .client_tls();
    assert!(tls.expect("loads").is_some());
    assert!(
        good.connection("plain", None)
            .expect("spec")
            .client_tls()
            .expect("none")
            .is_none()
    );
    let error = config(&other_key_file)
        .connection("internal", None)
        .expect("spec")
        .client_tls()
        .expect_err("key does not match the certificate");
    let text = error.to_string();
    assert!(text.contains("connections.internal.tls.key"), "{text}");
    assert!(!text.contains(&other_key.private_pem[30..60]), "{text}");
    let missing = Config::from_str(
        r#"
        [connections.internal]
        base_url = "https://internal.test"
        tls = { cert = "/nonexistent/cert.pem", key = { file = "/nonexistent/key.pem" } }
        auth = { type = "none" }
        "#,
        Format::Toml,
    )
    .expect("valid");
    let error = missing
        .connection("internal", None)
        .expect("spec")
        .client_tls()
        .expect_err("missing");
    assert!(
        error
            .to_string()
            .contains("connections.internal.tls.cert: cannot read /nonexistent/cert.pem"),
        "{error}"
    );
}

#[test]
fn a_tls_table_may_hold_only_a_ca_but_cert_and_key_go_together() {
    let config = |tls: &str| {
        Config::from_str(
            &format!(
                r#"
                [connections.x]
                base_url = "https://x.test"
                tls = {tls}
                auth = {{ type = "none" }}
                "#
            ),
            Format::Toml,
        )
    };
    let ca_only = config(r#"{ ca = "/etc/private-ca.pem" }"#).expect("ca alone is valid");
    let tls = ca_only.connection("x", None).expect("spec").tls;
    let tls = tls.expect("a tls table");
    assert_eq!(
        tls.ca.as_deref(),
        Some(std::path::Path::new("/etc/private-ca.pem"))
    );
    assert!(tls.cert.is_none() && tls.key.is_none() && !tls.has_certificate());

    for (tls, expected) in [
        (
            r#"{ cert = "c.pem", ca = "ca.pem" }"#,
            "connections.x.tls.key: missing (cert and key go together)",
        ),
        (
            r#"{ key = { file = "k.pem" } }"#,
            "connections.x.tls.cert: missing (cert and key go together)",
        ),
        (
            "{}",
            "connections.x.tls: empty (give `ca` to trust a private CA",
        ),
    ] {
        let text = config(tls).expect_err(tls).to_string();
        assert!(text.contains(expected), "{tls}: {text}");
    }
}
