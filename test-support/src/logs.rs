//! Captures what `tracing` writes, for tests that check logs (never a secret, the right spans).

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

/// Installs (once per test binary) a TRACE-level subscriber that writes into a buffer, span
/// closings included, and returns the buffer.
///
/// # Panics
///
/// When another global subscriber was installed first.
pub fn capture() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(move || LogWriter(writer.clone()))
            .init();
        buffer
    })
}

/// Everything captured so far, as text.
pub fn captured() -> String {
    let bytes = capture()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
