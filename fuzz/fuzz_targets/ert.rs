//! Fuzz target `ert`: see `checks/mod.rs` for what it checks.

#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|input: &[u8]| checks::ert::check(input));
