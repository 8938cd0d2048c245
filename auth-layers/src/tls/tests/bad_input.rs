//! Every input the builder refuses: a typed `Config` error naming the file or PEM and the
//! block, never a panic, never key material.

use auth_core::{AuthError, ErrorKind};
use auth_test_support::{
    keys::pem_encode,
    pki::{Identity, Pki, Validity},
};

use super::secret;
use crate::tls::ClientTls;

fn issued() -> (Pki, Identity) {
    let ca = Pki::with_ca_name("Test CA");
    let client = ca.issue_client("client-a");
    (ca, client)
}

/// A CA, and a `client-a` certificate (P-256) it issued and its key, both PEM.
fn identity() -> (Pki, String, String) {
    let (ca, client) = issued();
    let key = client.key_pem().to_owned();
    (ca, client.cert_pem, key)
}

fn config_error(result: Result<ClientTls, AuthError>) -> String {
    let err = result.expect_err("must be refused");
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    err.to_string()
}

#[test]
fn certificate_pem_without_a_certificate() {
    let (_, _, key) = identity();
    let text = config_error(ClientTls::from_pem(b"not pem at all", &secret(key.clone())));
    assert!(
        text.starts_with("invalid configuration: client certificate PEM: no certificate found"),
        "{text}"
    );

    let text = config_error(ClientTls::from_pem(key.as_bytes(), &secret(key.clone())));
    assert!(
        text.contains("are the certificate and key swapped?"),
        "{text}"
    );
}

#[test]
fn key_pem_without_a_key_or_with_two() {
    let (_, cert, key) = identity();
    let text = config_error(ClientTls::from_pem(cert.as_bytes(), &secret(cert.clone())));
    assert!(
        text.contains("client private key PEM: no private key found, only certificates"),
        "{text}"
    );

    let text = config_error(ClientTls::from_pem(cert.as_bytes(), &secret("")));
    assert!(
        text.contains("no private key found: expected a `PRIVATE KEY`"),
        "{text}"
    );

    let text = config_error(ClientTls::from_pem(
        cert.as_bytes(),
        &secret(key.clone() + &key),
    ));
    assert!(
        text.contains("2 private keys found: expected exactly one"),
        "{text}"
    );
}

#[test]
fn encrypted_keys_say_to_decrypt_first() {
    let (_, cert, _) = identity();
    let pkcs8 = pem_encode("ENCRYPTED PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
    let legacy = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
    for key in [pkcs8, legacy.to_owned()] {
        let text = config_error(ClientTls::from_pem(cert.as_bytes(), &secret(key)));
        assert!(text.contains("the private key is encrypted"), "{text}");
        assert!(text.contains("decrypt it first"), "{text}");
    }
}

#[test]
fn unsupported_or_corrupt_key_types() {
    let (_, cert, _) = identity();
    let garbage = pem_encode("PRIVATE KEY", &[0x30, 0x03, 0x02, 0x01, 0x00]);
    let text = config_error(ClientTls::from_pem(cert.as_bytes(), &secret(garbage)));
    assert!(
        text.contains("the PKCS#8 private key is invalid or of an unsupported type"),
        "{text}"
    );

    let garbage = pem_encode("RSA PRIVATE KEY", &[0x30, 0x00]);
    let text = config_error(ClientTls::from_pem(cert.as_bytes(), &secret(garbage)));
    assert!(
        text.contains("the PKCS#1 RSA private key is invalid"),
        "{text}"
    );
}

#[test]
fn malformed_pem_names_the_block() {
    let (ca, cert, key) = identity();
    let broken = format!(
        "{}-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
        ca.ca_pem()
    );
    let text = config_error(ClientTls::from_pem(broken.as_bytes(), &secret(key.clone())));
    assert!(
        text.contains("client certificate PEM: not valid PEM: block 2 is not valid base64"),
        "{text}"
    );

    let unterminated = "-----BEGIN PRIVATE KEY-----\nAAAA\n";
    let text = config_error(ClientTls::from_pem(cert.as_bytes(), &secret(unterminated)));
    assert!(
        text.contains("client private key PEM: not valid PEM: block 1 has no matching"),
        "{text}"
    );
}

#[test]
fn bad_ca_roots_name_the_block() {
    let (ca, cert, key) = identity();
    let tls = || ClientTls::from_pem(cert.as_bytes(), &secret(key.clone())).expect("identity");

    let text = config_error(tls().add_root_pem(b""));
    assert!(text.contains("CA root PEM: no certificate found"), "{text}");

    let not_a_cert = format!(
        "{}{}",
        ca.ca_pem(),
        pem_encode("CERTIFICATE", b"\x30\x03\x02\x01\x00")
    );
    let text = config_error(tls().add_root_pem(not_a_cert.as_bytes()));
    assert!(
        text.contains("CA root PEM: block 2 is not a usable CA certificate"),
        "{text}"
    );
}

#[test]
fn unreadable_files_name_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing-client.pem");
    let text = config_error(ClientTls::from_pem_files(&missing, &missing));
    assert!(
        text.contains(&format!(
            "client certificate file {}: cannot read it",
            missing.display()
        )),
        "{text}"
    );

    let (_, cert, key) = identity();
    let cert_path = dir.path().join("client.pem");
    std::fs::write(&cert_path, &cert).expect("write");
    let text = config_error(ClientTls::from_pem_files(&cert_path, &missing));
    assert!(
        text.contains(&format!(
            "client private key file {}: cannot read it",
            missing.display()
        )),
        "{text}"
    );

    let tls = ClientTls::from_pem(cert.as_bytes(), &secret(key)).expect("identity");
    let text = config_error(tls.add_root_pem_file(&missing));
    assert!(
        text.contains(&format!("CA root file {}", missing.display())),
        "{text}"
    );
}

#[test]
fn a_combined_cert_and_key_file_works_for_both_paths() {
    let (_, cert, key) = identity();
    let dir = tempfile::tempdir().expect("tempdir");
    let combined = dir.path().join("client-combined.pem");
    std::fs::write(&combined, format!("{key}{cert}")).expect("write");
    let tls = ClientTls::from_pem_files(&combined, &combined).expect("identity");
    assert!(format!("{tls:?}").contains("certificates: 1"));
}

#[test]
fn no_trusted_root_at_all_is_a_config_error_at_build() {
    let (_, cert, key) = identity();
    let tls = ClientTls::from_pem(cert.as_bytes(), &secret(key))
        .expect("identity")
        .with_native_roots(false);
    let err = tls.build_rustls_config().expect_err("no roots");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(
        err.to_string()
            .contains("no trusted CA root (native roots are turned off)"),
        "{err}"
    );
}

/// The key's PEM body, and its private scalar as bytes or hex, never appear in what the
/// crate shows: `Debug` of the builder, of the rustls config and connector built from it, and
/// every error produced with that key.
#[test]
fn canary_key_material_never_shows() {
    let (ca, client) = issued();
    let (cert, key_pem) = (client.cert_pem.clone(), client.key_pem().to_owned());
    let scalar = client.key.ec_private_scalar();
    let canaries: Vec<String> = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .chain([
            format!("{:?}", &scalar[..8]),
            hex(&scalar[..8]),
            hex_upper(&scalar[..8]),
        ])
        .collect();

    let tls = ClientTls::from_pem(cert.as_bytes(), &secret(key_pem.clone()))
        .expect("identity")
        .add_root_pem(ca.ca_pem().as_bytes())
        .expect("root")
        .with_native_roots(false);
    let mut shown = vec![
        format!("{tls:?}"),
        format!("{:?}", tls.build_rustls_config().expect("config")),
        format!("{:?}", tls.https_connector().expect("connector")),
    ];
    assert!(shown[0].contains("[redacted PKCS#8]"), "{}", shown[0]);
    assert!(
        shown[0].contains("subject: Some(\"client-a\")"),
        "{}",
        shown[0]
    );

    // The key type of `auth_core::pem`, which `ClientTls` and the JWT signer read keys with.
    let key = auth_core::pem::private_key(
        key_pem.as_bytes(),
        &auth_core::pem::PemSource::inline("client private key"),
    )
    .expect("key");
    shown.push(format!("{key:?}"));

    let other_cert = ca.issue_client("other").cert_pem;
    let expired = ca
        .issue_client_for("old", &client.key, Validity::Expired)
        .cert_pem;
    let errors = [
        ClientTls::from_pem(other_cert.as_bytes(), &secret(key_pem.clone())),
        ClientTls::from_pem(expired.as_bytes(), &secret(key_pem.clone())),
        ClientTls::from_pem(key_pem.as_bytes(), &secret(key_pem.clone())),
        ClientTls::from_pem(cert.as_bytes(), &secret(key_pem.replace('\n', "\n@"))),
        ClientTls::from_pem(cert.as_bytes(), &secret(format!("{key_pem}{key_pem}"))),
        ClientTls::from_pem(
            cert.as_bytes(),
            &secret(key_pem.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")),
        ),
        ClientTls::from_pem(
            cert.as_bytes(),
            &secret(key_pem.replace("PRIVATE KEY-----\n", "PRIVATE KEY-----\nAAAA")),
        ),
    ];
    for result in errors {
        let err = result.expect_err("refused");
        shown.push(err.to_string());
        shown.push(format!("{err:?}"));
    }
    for text in &shown {
        for canary in &canaries {
            assert!(!text.contains(canary.as_str()), "key material in: {text}");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_upper(bytes: &[u8]) -> String {
    hex(bytes).to_uppercase()
}
