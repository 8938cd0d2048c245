//! [`FleetError`]: what can go wrong building the fleet cache. Failures of Redis itself never
//! reach a request: the cache falls back to fetching on its own.

/// Building or using the fleet cache failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A setting is missing or invalid; `key` is its path (`cache.encryption_key`, …).
    #[error("invalid `{key}`: {message}")]
    Config {
        /// The setting's path.
        key: String,
        /// What is wrong with it (never its value).
        message: String,
    },
    /// Sealing failed (the system random source).
    #[error("fleet cache crypto: {0}")]
    Crypto(String),
    /// Redis answered with an error or did not answer in time.
    #[error("redis: {0}")]
    Redis(String),
}

impl FleetError {
    pub(crate) fn config(key: &str, message: impl Into<String>) -> Self {
        FleetError::Config {
            key: key.to_owned(),
            message: message.into(),
        }
    }

    pub(crate) fn crypto(message: impl Into<String>) -> Self {
        FleetError::Crypto(message.into())
    }

    /// The same error with its key path under `prefix` (`cache` → `cache.encryption_key`).
    pub fn within(self, prefix: &str) -> Self {
        match self {
            FleetError::Config { key, message } => FleetError::Config {
                key: format!("{prefix}.{key}"),
                message,
            },
            other => other,
        }
    }
}

impl From<redis::RedisError> for FleetError {
    fn from(e: redis::RedisError) -> Self {
        // The kind and category only: a Redis error's detail can echo a command's arguments.
        FleetError::Redis(format!("{:?} error ({})", e.kind(), e.category()))
    }
}
