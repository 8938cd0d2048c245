//! File token store (placeholder, being written).
#![allow(missing_docs, unreachable_pub, dead_code)]
pub struct FileTokenStore;
