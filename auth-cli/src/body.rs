//! The response body of `tower-auth request`: streamed to stdout frame by frame, within a byte
//! cap (`--max-body`) and the connection's deadline, never held in memory whole.

use std::{io::Write, time::Duration};

use bytes::Bytes;
use http_body::Body;
use http_body_util::BodyExt;
use tokio::time::Instant;
use tower_auth::{ErrorKind, Redactor, redact::StreamRedactor};

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
///
/// Every secret `redactor` holds is cut out of what is written, even one split across frames
/// (the last few bytes of a frame wait for the next one); the counts are of the bytes received.
pub(crate) async fn copy<B>(
    body: B,
    out: &mut impl Write,
    limits: Limits,
    redactor: &Redactor,
) -> Result<u64, Failure>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut written = 0u64;
    let mut out = Redacting {
        out,
        stream: (!redactor.is_empty()).then(|| redactor.stream()),
        buffer: Vec::new(),
    };
    let copied = tokio::time::timeout_at(
        limits.deadline,
        copy_frames(body, &mut out, limits.max_body, &mut written),
    )
    .await;
    let cut = !matches!(copied, Ok(Ok(())));
    // What was held back is written whatever happened: a cut one loses a secret's prefix too.
    let _ = out.finish(cut);
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

/// A writer that redacts what passes through it.
struct Redacting<'a, W> {
    out: &'a mut W,
    /// `None` when there is nothing to redact: bytes pass straight through.
    stream: Option<StreamRedactor>,
    buffer: Vec<u8>,
}

impl<W: Write> Redacting<'_, W> {
    fn finish(mut self, cut: bool) -> std::io::Result<()> {
        if let Some(stream) = self.stream.take() {
            self.buffer.clear();
            if cut {
                stream.finish_cut(&mut self.buffer);
            } else {
                stream.finish(&mut self.buffer);
            }
            self.out.write_all(&self.buffer)?;
        }
        self.out.flush()
    }
}

impl<W: Write> Write for Redacting<'_, W> {
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<usize> {
        let Some(stream) = &mut self.stream else {
            return self.out.write(chunk);
        };
        self.buffer.clear();
        stream.push(chunk, &mut self.buffer);
        self.out.write_all(&self.buffer)?;
        Ok(chunk.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
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
    use std::{convert::Infallible, time::Duration};

    use bytes::Bytes;
    use futures_util::stream;
    use http_body::Frame;
    use http_body_util::{Full, StreamBody};
    use tokio::time::Instant;
    use tower_auth::Redactor;

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
        let none = Redactor::new();
        assert_eq!(copy(body, &mut out, limits(5), &none).await.ok(), Some(5));
        assert_eq!(out, b"hello");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_cut_at_the_cap_and_fails() {
        let mut out = Vec::new();
        let body = Full::new(Bytes::from_static(b"hello, world"));
        let failure = copy(body, &mut out, limits(5), &Redactor::new())
            .await
            .expect_err("over the cap");
        assert_eq!(out, b"hello");
        assert_eq!(
            failure.error,
            "the response body exceeded --max-body (5 bytes); wrote the first 5 bytes"
        );
    }

    fn framed(
        chunks: &[&'static [u8]],
    ) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>>> {
        let frames: Vec<_> = chunks
            .iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c))))
            .collect();
        StreamBody::new(stream::iter(frames))
    }

    #[tokio::test]
    async fn a_secret_split_across_frames_is_cut_out() {
        let redactor = Redactor::new();
        redactor.add("hunter2pass");
        let mut out = Vec::new();
        let body = framed(&[b"{\"echo\":\"hun", b"ter2", b"pass\"}"]);
        let n = copy(body, &mut out, limits(1024), &redactor).await.ok();
        assert_eq!(n, Some(22), "the count is of the bytes received");
        assert_eq!(out, br#"{"echo":"[redacted]"}"#);
    }

    #[tokio::test]
    async fn a_body_cut_by_the_cap_inside_a_secret_shows_no_prefix_of_it() {
        let redactor = Redactor::new();
        redactor.add("hunter2pass");
        let mut out = Vec::new();
        let body = framed(&[b"echo: hunter2pass"]);
        copy(body, &mut out, limits(12), &redactor)
            .await
            .expect_err("over the cap");
        assert_eq!(out, b"echo: [redacted]");
    }
}
