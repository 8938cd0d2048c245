//! Configuration parsing on arbitrary input; see `tower_auth_fuzz::config`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tower_auth_fuzz::config::check(data));
