//! The response body of `tower-auth request`: streamed to stdout frame by frame, within a byte
//! cap (`--max-body`) and the connection's deadline, never held in memory whole.

use std::{io::Write, time::Duration};

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use tokio::time::Instant;
use tower_auth::ErrorKind;

use crate::diagnose::{Failure, Stage};

/// The default `--max-body`: 64 MiB.
pub(crate) const DEFAULT_MAX_BODY: &str = "64MiB";

/// Parses a `--max-body` value: bytes (`1048576`), or a whole number with a binary suffix
/// (`KiB`, `MiB`, `GiB`, any case; `K`, `M`, `G` mean the same; a trailing `B` means bytes).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(split);
    let unit: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "`{text}` is not a size: give bytes, or a number with KiB, MiB or GiB"
            ));
        }
    };
    let number: u64 = digits.parse().map_err(|_| {
        format!("`{text}` is not a size: give bytes, or a number with KiB, MiB or GiB")
    })?;
    number
        .checked_mul(unit)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// How much a body may hold and until when it may arrive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// `--max-body`, in bytes.
    pub(crate) max_body: u64,
    /// The end of the connection's timeout, counted from when the request was sent.
    pub(crate) deadline: Instant,
    /// The connection's timeout, for the error message.
    pub(crate) timeout: Duration,
}

/// Writes `body` to `out` as its frames arrive (flushing each) and returns the bytes written.
///
/// A body over `limits.max_body` is an error after its first `max_body` bytes are written; a
/// body still arriving at `limits.deadline` is an [`ErrorKind::Timeout`] error. An `out` closed
/// by its reader (`| head`) ends the copy quietly.
pub(crate) async fn copy<B>(body: B, out: &mut impl Write, limits: Limits) -> Result<u64, Failure>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut written = 0u64;
    let copied = tokio::time::timeout_at(
        limits.deadline,
        copy_frames(body, out, limits.max_body, &mut written),
    )
    .await;
    let _ = out.flush();
    match copied {
        Ok(result) => result.map(|()| written),
        Err(_elapsed) => {
            let mut failure = Failure::new(
                Stage::Request,
                format!(
                    "the response body did not finish within the connection's timeout ({:?}); \
                     wrote {written} bytes of it",
                    limits.timeout
                ),
                ErrorKind::Timeout.hint(),
            );
            failure.kind = Some(ErrorKind::Timeout);
            Err(failure)
        }
    }
}

async fn copy_frames<B>(
    body: B,
    out: &mut impl Write,
    max_body: u64,
    written: &mut u64,
) -> Result<(), Failure>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Failure::new(
                Stage::Request,
                format!("reading the response body: {e} (after {written} bytes)"),
                "retry; the connection was cut",
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let chunk = &data[..];
        let room = max_body.saturating_sub(*written);
        let allowed = usize::try_from(room).map_or(chunk.len(), |room| room.min(chunk.len()));
        if let Err(error) = out.write_all(&chunk[..allowed]).and_then(|()| out.flush()) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(Failure::new(
                Stage::Request,
                format!("writing the response body: {error} (after {written} bytes)"),
                "check where the output goes (disk full, closed pipe)",
            ));
        }
        *written += allowed as u64;
        if allowed < chunk.len() {
            return Err(Failure::new(
                Stage::Request,
                format!(
                    "the response body exceeded --max-body ({max_body} bytes); wrote the first \
                     {written} bytes"
                ),
                "raise --max-body (e.g. --max-body 1GiB), or ask the API for less",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::Full;
    use tokio::time::Instant;

    use super::{DEFAULT_MAX_BODY, Limits, copy, parse_size};

    #[test]
    fn sizes_are_bytes_or_binary_units() {
        assert_eq!(parse_size(DEFAULT_MAX_BODY), Ok(64 * 1024 * 1024));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "MiB", "1.5MiB", "-1", "10 parsecs", "1TB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_size("99999999999999999999GiB").map_err(|e| e.contains("not a size")),
            Err(true)
        );
        assert_eq!(
            parse_size("17179869184GiB"),
            Err("`17179869184GiB` is too large".to_owned())
        );
    }

    fn limits(max_body: u64) -> Limits {
        Limits {
            max_body,
            deadline: Instant::now() + Duration::from_secs(10),
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_copied_whole() {
        let mut out = Vec::new();
        let body = Full::new(Bytes::from_static(b"hello"));
        assert_eq!(copy(body, &mut out, limits(5)).await.ok(), Some(5));
        assert_eq!(out, b"hello");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_cut_at_the_cap_and_fails() {
        let mut out = Vec::new();
        let body = Full::new(Bytes::from_static(b"hello, world"));
        let failure = copy(body, &mut out, limits(5))
            .await
            .expect_err("over the cap");
        assert_eq!(out, b"hello");
        assert_eq!(
            failure.error,
            "the response body exceeded --max-body (5 bytes); wrote the first 5 bytes"
        );
    }
}
