//! Fuzz target `sweep_spec`: see `checks/mod.rs` for what it checks.

#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|input: &[u8]| checks::sweep_spec::check(input));
