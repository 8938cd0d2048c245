//! In-process servers on 127.0.0.1 shared by tower-auth's tests, examples and benches.
#![forbid(unsafe_code)]
