//! tower-auth's performance harnesses (not published). What each one measures, how to run it and
//! the latest figures are in `BENCHMARKS.md` at the root of the repository.
//!
//! | target | what it is |
//! |---|---|
//! | `loadtest` (binary) | the P1–P7 targets against baselines measured in the same run |
//! | `soak` (binary) | 64 clients through `TokenLayer` for a set time, with revocations |
//! | `p1probe` (binary) | one P1 stack, for profilers |
//! | `hot_path` (bench) | criterion timings of the P1 stacks |
//! | `hot_path_allocs` (bench) | heap allocations per request through the P1 stacks |
//!
//! The library holds what they share: [`p1`], the P1 stacks and their driver (used by
//! `loadtest`, `p1probe` and both benches, so all of them measure the same code), and [`soak`],
//! the API and token endpoint the soak test runs against; [`p6`], the DPoP stacks.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod p1;
pub mod p6;
pub mod soak;
