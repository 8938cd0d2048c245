use super::*;

fn redactor(secrets: &[&str]) -> Redactor {
    let r = Redactor::new();
    for s in secrets {
        r.add(s);
    }
    r
}

#[test]
fn secrets_are_cut_out_in_every_encoding_they_travel_in() {
    let r = redactor(&["open sesame&more/é"]);
    for echoed in [
        "open sesame&more/é",
        "open+sesame%26more%2F%C3%A9",
        "open%20sesame%26more%2F%C3%A9",
        r"open sesame&more\/é",
        r"open sesame&more/\u00e9",
        "open sesame&amp;more/é",
    ] {
        let text = format!("the password `{echoed}` is wrong");
        assert_eq!(
            r.redact(&text),
            "the password `[redacted]` is wrong",
            "{echoed}"
        );
    }
}

#[test]
fn basic_credentials_are_cut_out_as_base64_plain_and_form_encoded() {
    let r = Redactor::new();
    r.add_basic("c 1", "hunter2pass");
    let plain = base64::engine::general_purpose::STANDARD.encode("c 1:hunter2pass");
    let form = base64::engine::general_purpose::STANDARD.encode("c+1:hunter2pass");
    for text in [
        format!("Authorization: Basic {plain}"),
        format!("Authorization: Basic {form}"),
    ] {
        assert_eq!(r.redact(&text), "Authorization: Basic [redacted]");
    }
    assert_eq!(r.redact("hunter2pass"), REDACTED);
}

#[test]
fn overlapping_and_adjacent_secrets_leave_nothing_behind() {
    let r = redactor(&["abcdef", "defghi", "xyzw"]);
    assert_eq!(r.redact("<abcdefghi>"), "<[redacted]>");
    assert_eq!(r.redact("abcdefxyzw!"), "[redacted]!");
    assert_eq!(r.redact("nothing here"), "nothing here");
    assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
}

#[test]
fn short_secrets_are_not_redacted_by_value() {
    let r = redactor(&["abc"]);
    assert!(r.is_empty());
    assert_eq!(r.redact("abc abc"), "abc abc");
}

#[test]
fn a_cut_text_loses_a_trailing_prefix_of_a_secret() {
    let secret = "correcthorsebatterystaple";
    let r = redactor(&[secret]);
    let cut = "the secret is correcthorseb";
    assert_eq!(r.redact(cut), cut, "an uncut text keeps what is no secret");
    assert_eq!(r.redact_cut(cut), "the secret is [redacted]");
    // Fewer than four bytes of a secret are not worth a redaction.
    assert_eq!(r.redact_cut("it ends in cor"), "it ends in cor");
}

#[test]
fn the_head_of_a_body_reaches_past_its_length_to_take_a_whole_secret() {
    let r = redactor(&["hunter2pass"]);
    let body = b"0123456789 hunter2pass and more after it";
    // A head of 14 bytes reads on (by the longest secret) past the end of the secret in it.
    assert_eq!(r.redact_head(body, 14), "0123456789 [redacted] an");
    // A head that ends inside a secret loses the part of it that it holds.
    assert_eq!(r.redact_head(body, 5), "0123456789 [redacted]");
    assert_eq!(r.redact_head(b"short", 100), "short");
}

#[test]
fn multibyte_characters_around_a_match_stay_whole() {
    let r = redactor(&["\u{e9}t\u{e9}-secret"]);
    assert_eq!(r.redact("é\u{e9}t\u{e9}-secret!"), "é[redacted]!");
    // A secret whose bytes start inside a character: the character goes with it.
    let r = redactor(&["\u{a9}xyz1"]);
    let text = "\u{e9}xyz1 ok";
    assert!(r.redact(text).ends_with(" ok"));
}

#[test]
fn children_see_their_parents_secrets_and_keep_their_own() {
    let parent = redactor(&["parentsecret"]);
    let child = parent.child();
    child.add("requestsecret");
    assert_eq!(
        child.redact("parentsecret requestsecret"),
        "[redacted] [redacted]"
    );
    assert_eq!(parent.redact("requestsecret"), "requestsecret");
    // What the parent learns later, its children redact too.
    parent.add("latersecret");
    assert_eq!(child.redact("latersecret"), REDACTED);
}

#[test]
fn a_stream_redacts_secrets_split_across_chunks() {
    let secret = "split-me-secret";
    let r = redactor(&[secret]);
    let text = format!("head {secret} middle {secret} tail");
    for chunk_len in 1..=text.len() {
        let mut stream = r.stream();
        let mut out = Vec::new();
        for chunk in text.as_bytes().chunks(chunk_len) {
            stream.push(chunk, &mut out);
        }
        stream.finish(&mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "head [redacted] middle [redacted] tail",
            "chunks of {chunk_len}"
        );
    }
}

#[test]
fn a_stream_cut_short_loses_a_trailing_prefix_of_a_secret() {
    let r = redactor(&["split-me-secret"]);
    let mut stream = r.stream();
    let mut out = Vec::new();
    stream.push(b"head split-me", &mut out);
    stream.finish_cut(&mut out);
    assert_eq!(out, b"head [redacted]");
}

#[test]
fn a_stream_without_secrets_passes_bytes_through() {
    let r = Redactor::new();
    let mut stream = r.stream();
    let mut out = Vec::new();
    stream.push(b"abc", &mut out);
    assert_eq!(out, b"abc", "nothing is held back without secrets");
    stream.finish(&mut out);
    assert_eq!(out, b"abc");
}

#[test]
fn debug_counts_secrets_and_never_shows_them() {
    let r = redactor(&["hunter2pass"]);
    let debug = format!("{r:?} {:?}", r.stream());
    assert!(!debug.contains("hunter2pass"), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
}

#[test]
fn long_token_like_runs_with_a_digit_are_redacted_by_shape() {
    assert_eq!(
        by_shape("<html>eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc</html>"),
        "<html>[redacted]</html>"
    );
    let prose = "InternalServerErrorOccurredWhileProcessing";
    assert!(matches!(by_shape(prose), Cow::Borrowed(_)));
    assert_eq!(by_shape("tok 0123456789012345678901234"), "tok [redacted]");
}

#[test]
fn shown_text_is_printable_shaped_and_cut() {
    assert_eq!(
        shown(
            "token eyJhbGci\u{1e}OiJSUzI1NiJ9abcdef0123456789 expired",
            200
        ),
        "token [redacted] expired",
        "a control character cannot hide a token-like run"
    );
    assert_eq!(shown("abcdef", 3), "abc…");
    assert_eq!(
        shown("a [redacted] b", 5),
        "a [redacted]…",
        "a cut marker is finished"
    );
    assert_eq!(shown("abc", 3), "abc");
}

#[test]
fn urls_are_shown_without_user_information() {
    assert_eq!(
        hide_userinfo("issuer `http://user:hunter2secret@127.0.0.1:8080/evil`, not x"),
        "issuer `http://***@127.0.0.1:8080/evil`, not x"
    );
    assert_eq!(
        hide_userinfo("https://ghp_token@github.com and https://a.example/?q=x@y"),
        "https://***@github.com and https://a.example/?q=x@y",
        "an @ after the authority is not user information"
    );
    assert!(matches!(
        hide_userinfo("https://a.example/"),
        Cow::Borrowed(_)
    ));
    // Every by-value redaction hides it too, with or without a held secret in the text.
    let r = Redactor::new();
    assert_eq!(r.redact("see http://u:p@h/"), "see http://***@h/");
    assert_eq!(shown("see http://u:p@h/", 100), "see http://***@h/");
}

#[test]
fn a_token_sent_as_basic_credentials_gives_up_its_password() {
    let encoded = base64::engine::general_purpose::STANDARD.encode("user:basicpass42");
    let token = crate::AccessToken::builder(encoded.clone())
        .header_prefix("Basic")
        .build()
        .expect("token");
    let r = Redactor::new();
    r.add_token(&token);
    assert_eq!(
        r.redact(&format!("password basicpass42 in {encoded}")),
        "password [redacted] in [redacted]"
    );
}
