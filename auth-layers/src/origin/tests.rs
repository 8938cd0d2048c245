//! Tests of [`Origin`] and [`OriginFilter`]: parsing, normal form, and what a request must be
//! to match.

use auth_core::ErrorKind;
use http::Uri;

use super::*;

fn origin(text: &str) -> Origin {
    Origin::parse(text).expect("a valid origin")
}

fn uri(text: &str) -> Uri {
    text.parse().expect("a valid URI")
}

#[test]
fn parses_scheme_host_and_port_into_a_normal_form() {
    let cases = [
        ("https://api.example.com", "https://api.example.com", 443),
        ("https://api.example.com/", "https://api.example.com", 443),
        (
            "HTTPS://API.Example.COM:443",
            "https://api.example.com",
            443,
        ),
        ("http://api.example.com:80/", "http://api.example.com", 80),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", 8080),
        (
            "https://api.example.com:80",
            "https://api.example.com:80",
            80,
        ),
        ("http://[0:0::1]:3000", "http://[::1]:3000", 3000),
        ("http://[::FFFF:7f00:1]", "http://[::ffff:127.0.0.1]", 80),
        ("https://api.example.com:", "https://api.example.com", 443),
    ];
    for (text, shown, port) in cases {
        let parsed = origin(text);
        assert_eq!(parsed.to_string(), shown, "{text}");
        assert_eq!(parsed.port(), port, "{text}");
        assert_eq!(parsed, origin(shown), "{text} is its own normal form");
        assert_eq!(text.parse::<Origin>().expect("FromStr"), parsed);
    }
    assert_eq!(origin("HTTP://x").scheme(), "http");
    assert_eq!(
        format!("{:?}", origin("https://a.b")),
        "Origin(\"https://a.b\")"
    );
}

#[test]
fn spellings_of_one_origin_are_equal_and_others_are_not() {
    assert_eq!(
        origin("https://API.example.com:443"),
        origin("https://api.example.com/")
    );
    for other in [
        "http://api.example.com",
        "https://api.example.com:8443",
        "https://example.com",
        "https://api.example.com.",
    ] {
        assert_ne!(origin("https://api.example.com"), origin(other), "{other}");
    }
}

#[test]
fn bad_origins_are_config_errors_saying_why() {
    let cases = [
        ("", "not a valid URL"),
        ("https://", "not a valid URL"),
        ("https://exa mple.com", "not a valid URL"),
        ("api.example.com", "no scheme"),
        ("api.example.com:443", "no scheme"),
        ("/v1/items", "no scheme"),
        ("ftp://files.example.com", "other than `http` or `https`"),
        ("wss://api.example.com", "other than `http` or `https`"),
        ("https://api.example.com/v1", "path or a query"),
        ("https://api.example.com//", "path or a query"),
        ("https://api.example.com/?a=1", "path or a query"),
        ("https://api.example.com?", "path or a query"),
        ("https://api.example.com/#top", "fragment"),
        ("https://api.example.com:99999", "above 65535"),
        ("https://api.example.com:+80", "not a number"),
        ("http://[::1", "not a valid URL"),
    ];
    for (text, why) in cases {
        let error = Origin::parse(text).expect_err(text);
        assert_eq!(error.kind(), ErrorKind::Config, "{text}");
        let message = error.to_string();
        assert!(message.contains(why), "{text}: {message}");
    }
}

#[test]
fn user_information_is_refused_and_never_repeated() {
    for text in [
        "https://user:s3cret@api.example.com",
        "https://user:s3cret@api.example.com/v1",
    ] {
        let error = Origin::parse(text).expect_err("userinfo");
        assert_eq!(error.kind(), ErrorKind::Config);
        let message = format!("{error} {error:?}");
        assert!(!message.contains("s3cret"), "{message}");
    }
    let error = Origin::from_uri(&uri("https://user:s3cret@h.example")).expect_err("userinfo");
    assert!(error.to_string().contains("user information"), "{error}");
    assert!(!error.to_string().contains("s3cret"), "{error}");
}

#[test]
fn of_url_takes_the_origin_of_a_longer_url() {
    for text in [
        "https://api.example.com/v1/items?page=2#x",
        "https://user:pw@API.example.com:443/v1",
        "https://api.example.com",
    ] {
        assert_eq!(
            Origin::of_url(text).expect(text),
            origin("https://api.example.com")
        );
    }
    for bad in [
        "/v1",
        "api.example.com/v1",
        "ftp://x.example/v1",
        "https://x:99999/",
    ] {
        let error = Origin::of_url(bad).expect_err(bad);
        assert_eq!(error.kind(), ErrorKind::Config);
    }
    assert_eq!(
        Origin::of_uri(&uri("http://127.0.0.1:9/a?b")).expect("absolute"),
        origin("http://127.0.0.1:9")
    );
}

#[test]
fn from_uri_is_as_strict_as_parse() {
    assert_eq!(
        Origin::from_uri(&uri("https://api.example.com")).expect("origin"),
        origin("https://api.example.com")
    );
    for bad in ["https://api.example.com/v1", "/", "api.example.com:443"] {
        assert!(Origin::from_uri(&uri(bad)).is_err(), "{bad}");
    }
}

#[test]
fn a_request_matches_its_own_origin_whatever_the_path_case_or_default_port() {
    let api = origin("https://api.example.com");
    for text in [
        "https://api.example.com/",
        "https://api.example.com/v1/items?page=2",
        "HTTPS://API.EXAMPLE.COM/v1",
        "https://api.example.com:443/v1",
        "https://api.example.com:0443/v1",
        "https://api.example.com:/v1",
        // Userinfo does not change where the request goes.
        "https://someone@api.example.com/v1",
    ] {
        assert!(api.matches(&uri(text)), "{text}");
    }
}

#[test]
fn other_origins_and_relative_requests_do_not_match() {
    let api = origin("https://api.example.com");
    for text in [
        "http://api.example.com/v1",
        "https://api.example.com:8443/v1",
        "https://evil.example.com/v1",
        "https://api.example.com.evil.example/v1",
        "https://api.example.com@evil.example/v1",
        "https://api.example.com./v1",
        "https://api.example.com:99999/v1",
        "wss://api.example.com/v1",
        // Origin form, as built for a relative request: the destination is unknown.
        "/v1/items",
        "/",
        "*",
        // Authority form (CONNECT).
        "api.example.com:443",
    ] {
        assert!(!api.matches(&uri(text)), "{text}");
    }
    assert!(!api.matches(&Uri::default()), "the default URI is `/`");
}

#[test]
fn ipv6_literals_compare_as_addresses() {
    let local = origin("http://[::1]:8080");
    assert!(local.matches(&uri("http://[0:0:0:0:0:0:0:1]:8080/x")));
    assert!(!local.matches(&uri("http://[::2]:8080/x")));
    assert!(!local.matches(&uri("http://127.0.0.1:8080/x")));
    assert!(!origin("http://127.0.0.1:8080").matches(&uri("http://[::1]:8080/x")));
}

#[test]
fn a_filter_matches_any_of_its_origins_and_an_empty_one_nothing() {
    let filter: OriginFilter = [
        origin("https://api.example.com"),
        origin("http://127.0.0.1:3000"),
        origin("https://API.example.com:443"),
    ]
    .into_iter()
    .collect();
    assert_eq!(filter.origins().len(), 2, "duplicates are dropped");
    assert!(filter.matches(&uri("https://api.example.com/a")));
    assert!(filter.matches(&uri("http://127.0.0.1:3000/a")));
    assert!(!filter.matches(&uri("http://127.0.0.1:3001/a")));
    assert!(!filter.matches(&uri("/a")));
    assert_eq!(
        format!("{filter:?}"),
        r#"[https://api.example.com, http://127.0.0.1:3000]"#
    );

    let empty = OriginFilter::new([]);
    assert!(empty.is_empty());
    assert!(!empty.matches(&uri("https://api.example.com/a")));
    assert_eq!(
        OriginFilter::from(origin("https://a.example")).origins(),
        [origin("https://a.example")]
    );
}

#[test]
fn restricting_adds_origins_and_starts_from_nothing() {
    let a = origin("https://a.example");
    let b = origin("https://b.example");
    let none = restrict(None, []).expect("restricted");
    assert!(none.is_empty(), "restricting to no origin sends nowhere");
    let one = restrict(None, [a.clone()]);
    let two = restrict(one, [b.clone()]).expect("restricted");
    assert_eq!(two.origins(), [a, b]);

    let target = uri("https://b.example/x");
    assert!(allows(None, &target), "unrestricted allows everything");
    assert!(allows(Some(&two), &target));
    assert!(!allows(Some(&none), &target));
}
