//! `--tenant`: the CLI on a connection template with `tenants`, each tenant with its own secret
//! (from the environment), against a token server on 127.0.0.1.

mod common;

use auth_test_support::token_server::TokenServer;
use common::{tower_auth, write_config};

fn tenants_config(dir: &std::path::Path, server: &TokenServer) -> String {
    write_config(
        dir,
        &format!(
            r#"
[connections.crm]
base_url = "{api}"
tenants = {{ max_keys = 100, idle_timeout = "1h" }}
[connections.crm.auth]
type = "oauth2"
grant = "client_credentials"
token_url = "{token_url}"
client_id = "crm-{{tenant}}"
client_secret = {{ env = "CLI_TEST_CRM_SECRET_{{tenant}}" }}

[connections.plain]
base_url = "{api}"
auth = {{ type = "none" }}
"#,
            api = server.api_url(),
            token_url = server.token_url(),
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_a_token_with_its_own_secret() {
    let server = TokenServer::builder()
        .another_client("crm-acme", "acme-secret")
        .another_client("crm-globex", "globex-secret")
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tenants_config(dir.path(), &server);
    let envs = [
        ("CLI_TEST_CRM_SECRET_acme", "acme-secret"),
        ("CLI_TEST_CRM_SECRET_globex", "globex-secret"),
    ];
    for tenant in ["acme", "globex"] {
        let run = tower_auth(
            &["-c", &config, "token", "crm", "--tenant", tenant, "--show"],
            &envs,
        )
        .await;
        assert_eq!(run.code, 0, "{}", run.all());
        let token = run.stdout.trim();
        assert_eq!(
            server.owner_of(token).as_deref(),
            Some(&*format!("crm-{tenant}")),
            "{}",
            run.all()
        );
        let check = tower_auth(&["-c", &config, "check", "crm", "--tenant", tenant], &envs).await;
        assert_eq!(check.code, 0, "{}", check.all());
    }
    // `config show` names the template's bound, never a secret.
    let run = tower_auth(&["-c", &config, "config", "show", "crm"], &envs).await;
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout
            .contains("tenants = { max_keys = 100, idle_timeout = \"3600000ms\" }"),
        "{}",
        run.stdout
    );
    assert!(!run.all().contains("acme-secret"), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_tenant_a_bad_one_or_one_without_a_secret_is_a_clear_failure() {
    let server = TokenServer::builder()
        .another_client("crm-acme", "acme-secret")
        .start()
        .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = tenants_config(dir.path(), &server);
    let envs = [("CLI_TEST_CRM_SECRET_acme", "acme-secret")];
    let run = tower_auth(&["-c", &config, "token", "crm"], &envs).await;
    assert_ne!(run.code, 0);
    assert!(run.all().contains("--tenant ID"), "{}", run.all());
    let run = tower_auth(
        &["-c", &config, "token", "crm", "--tenant", "../etc"],
        &envs,
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(run.all().contains("is not a tenant id"), "{}", run.all());
    let run = tower_auth(
        &["-c", &config, "token", "crm", "--tenant", "initech"],
        &envs,
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(
        run.all().contains("connections.crm.auth.client_secret")
            && run.all().contains("CLI_TEST_CRM_SECRET_initech"),
        "{}",
        run.all()
    );
    let run = tower_auth(
        &[
            "-c", &config, "request", "plain", "GET", "/", "--tenant", "acme",
        ],
        &envs,
    )
    .await;
    assert_ne!(run.code, 0);
    assert!(
        run.all()
            .contains("`--tenant` needs `connections.plain.tenants`"),
        "{}",
        run.all()
    );
    assert!(!run.all().contains("acme-secret"), "{}", run.all());
    assert_eq!(server.fetches(), 0);
}
