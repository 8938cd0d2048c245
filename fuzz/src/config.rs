//! Configuration parsing: [`Config::from_str`] on arbitrary TOML, YAML and JSON, then
//! [`Config::connection`] for every connection it defines.
//!
//! The first byte picks the format (`t`, `y` or `j`; any other byte wraps around modulo 3 in
//! that order), the rest is the text (invalid UTF-8 replaced). Besides "never panics", the check
//! pins that every problem displays as one line and that the error's `Display` lists each
//! problem on a line of its own (what `tower-auth check` prints).

use tower_auth::config::{Config, ConfigError, Format};

/// Runs every property on `data`; panics on a violation.
pub fn check(data: &[u8]) {
    let [format, text @ ..] = data else {
        return;
    };
    let format = format_for(*format);
    let text = String::from_utf8_lossy(text);
    match Config::from_str(&text, format) {
        Ok(config) => {
            for warning in config.warnings() {
                assert_one_line(&warning.to_string());
            }
            let _ = format!("{config:?}");
            let names: Vec<String> = config.connection_names().map(str::to_owned).collect();
            for name in &names {
                if let Err(error) = config.connection(name, None) {
                    check_error(&error);
                }
            }
            if let Err(error) = config.connection("no-such-connection-\u{1}", None) {
                check_error(&error);
            }
        }
        Err(error) => check_error(&error),
    }
}

/// The format a byte picks: `t`, `y`, `j`, else the byte modulo 3.
pub fn format_for(byte: u8) -> Format {
    match byte {
        b't' => Format::Toml,
        b'y' => Format::Yaml,
        b'j' => Format::Json,
        _ => [Format::Toml, Format::Yaml, Format::Json][usize::from(byte) % 3],
    }
}

fn check_error(error: &ConfigError) {
    let problems = error.problems();
    assert!(!problems.is_empty(), "an error without problems");
    for problem in problems {
        assert_one_line(&problem.to_string());
    }
    let text = error.to_string();
    let lines: Vec<&str> = text.lines().collect();
    if let [one] = problems {
        assert_eq!(
            lines.len(),
            1,
            "one problem on more than one line: {text:?}"
        );
        assert!(text.ends_with(&one.to_string()));
    } else {
        assert_eq!(
            lines.len(),
            problems.len() + 1,
            "not one line per problem: {text:?}"
        );
        for (line, problem) in lines[1..].iter().zip(problems) {
            assert_eq!(*line, format!("  {problem}"));
        }
    }
    let _ = format!("{error:?}");
}

fn assert_one_line(text: &str) {
    assert!(
        !text.contains('\n') && !text.contains('\r'),
        "a problem on more than one line: {text:?}"
    );
}
