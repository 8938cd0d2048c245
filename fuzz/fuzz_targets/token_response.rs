//! Token-response normalization on arbitrary input; see `tower_auth_fuzz::token_response`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tower_auth_fuzz::token_response::check(data));
