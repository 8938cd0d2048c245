use super::*;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};

fn http() -> TokenHttpClient {
    TokenHttpClient::from_service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>())
}

fn post() -> CustomTokenRequestBuilder {
    CustomTokenRequest::post("https://api.example.com/login").http_client(http())
}

fn rendered(builder: CustomTokenRequestBuilder) -> HttpRequest {
    builder
        .build()
        .expect("valid")
        .inner
        .render()
        .expect("renders")
}

fn body_json(request: &HttpRequest) -> Value {
    serde_json::from_slice(request.body()).expect("a JSON body")
}

#[tokio::test]
async fn json_fields_nest_on_dots_and_typed_literals_keep_their_type() {
    let request = rendered(
        post()
            .json_field("auth.user", "{{tenant}}/alice")
            .json_field("auth.password", Template::secret("pw"))
            .json_field("remember", true)
            .json_field("attempts", 3)
            .json_field("count", "{{n}}")
            .value("tenant", "acme")
            .value("n", "3"),
    );
    assert_eq!(
        body_json(&request),
        serde_json::json!({
            "auth": {"user": "acme/alice", "password": "pw"},
            "remember": true,
            "attempts": 3,
            "count": "3",
        })
    );
    assert_eq!(request.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(request.headers()[header::ACCEPT], "application/json");
    assert_eq!(request.method(), Method::POST);
}

#[tokio::test]
async fn form_fields_query_parameters_and_headers_are_encoded() {
    let request = rendered(
        post()
            .form_field("user", "a b&c")
            .form_field("password", Template::secret("p=1+2"))
            .query_param("tenant", "{{t}}")
            .header("X-Pass", "Key {{key}}")
            .header("X-Plain", Template::literal("{{not a placeholder}}"))
            .header("Accept", "text/plain")
            .value("t", "ac me")
            .secret_value("key", "k3y"),
    );
    assert_eq!(
        request.body().as_slice(),
        b"user=a+b%26c&password=p%3D1%2B2"
    );
    assert_eq!(request.uri(), "https://api.example.com/login?tenant=ac+me");
    assert_eq!(
        request.headers()[header::CONTENT_TYPE],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(request.headers()[header::ACCEPT], "text/plain");
    assert_eq!(request.headers()["x-pass"], "Key k3y");
    assert!(request.headers()["x-pass"].is_sensitive());
    assert_eq!(request.headers()["x-plain"], "{{not a placeholder}}");
    assert!(!request.headers()["x-plain"].is_sensitive());
}

#[tokio::test]
async fn a_request_without_fields_has_an_empty_body_and_no_content_type() {
    let request =
        rendered(CustomTokenRequest::get("https://api.example.com/t").http_client(http()));
    assert!(request.body().is_empty());
    assert!(!request.headers().contains_key(header::CONTENT_TYPE));
    assert_eq!(request.method(), Method::GET);
}

#[tokio::test]
async fn build_names_each_problem() {
    let cases: Vec<(CustomTokenRequestBuilder, &str)> = vec![
        (
            post()
                .header("X-Account", "{{acount}}")
                .value("account", "a"),
            "header `x-account`: unknown placeholder `{{acount}}` (values: account;",
        ),
        (
            post().json_field("password", "{{pw}}"),
            "JSON field `password`: unknown placeholder `{{pw}}` (values: none;",
        ),
        (
            post().form_field("u", "{{u"),
            "form field `u`: `{{` without a closing `}}`",
        ),
        (
            post().query_param("q", "{{ }}"),
            "query parameter `q`: `{{}}` is not a placeholder",
        ),
        (
            post().header("Bad Name", "x"),
            "header `Bad Name`: not a valid header name",
        ),
        (
            post().header("X-A", "{{v}}").value("v", "a\nb"),
            "header `x-a`: the value (placeholders filled) cannot be a header value",
        ),
        (
            post().json_field("a", "x").form_field("b", "y"),
            "body: has both JSON fields and form fields",
        ),
        (
            post().json_field("a", "x").json_field("a.b", "y"),
            "JSON field `a.b`: `a` is also set as a value",
        ),
        (
            post().json_field("a..b", "x"),
            "JSON field `a..b`: is not a field path",
        ),
        (
            post().value("a b", "x"),
            "value: `a b` cannot be a placeholder name",
        ),
        (
            post().send_in_header("X Token", ""),
            "send_in_header: `X Token` is not a valid header name",
        ),
        (
            post().send_in_header("X-Token", "To ken"),
            "send_in_header: prefix `To ken`",
        ),
        (
            post().send_in_query(" "),
            "send_in_query: the query parameter name is empty",
        ),
        (
            CustomTokenRequest::post("http://api.example.com/login").http_client(http()),
            "url: `http://api.example.com` is not loopback",
        ),
        (
            CustomTokenRequest::post("not a url").http_client(http()),
            "url: `not a url` is not a URL",
        ),
    ];
    for (builder, expected) in cases {
        let err = builder.build().expect_err(expected);
        assert_eq!(err.kind(), ErrorKind::Config, "{expected}: {err}");
        assert!(
            err.to_string().contains(expected),
            "expected `{expected}` in `{err}`"
        );
    }
}

#[tokio::test]
async fn placement_sets_the_prefix_tokens_are_built_with() {
    let header = post()
        .send_in_header("X-Session", "")
        .build()
        .expect("valid");
    assert_eq!(
        header.placement().header_name().map(HeaderName::as_str),
        Some("x-session")
    );
    assert_eq!(header.placement().token_prefix(), Some(""));
    let default = post().build().expect("valid");
    assert_eq!(default.placement(), &TokenPlacement::default());
    assert_eq!(default.placement().token_prefix(), None);
    let query = post().send_in_query("access_token").build().expect("valid");
    assert_eq!(query.placement().query_parameter(), Some("access_token"));
    assert_eq!(query.placement().token_prefix(), Some(""));
    assert_eq!(
        query.placement().to_string(),
        "query parameter access_token"
    );
    let layer = query.into_layer().expect("query placement is supported");
    assert!(format!("{layer:?}").contains("access_token"));
}
