//! The sweep-spec loader on arbitrary text, with the bundled default model
//! as its base model. It must return a spec or an error naming the spec
//! file, never panic; for an accepted spec, the first points are resolved
//! (axis values written into the model and configuration, then validated)
//! and each is a valid point or an error naming the file and the point.

#![no_main]

use libfuzzer_sys::fuzz_target;
use locus::sweep::LoadedSpec;
use std::path::Path;

const MODEL: &str = include_str!("../../hw_models/default.json");
const SPEC: &str = "fuzz/spec.json";

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let spec = match LoadedSpec::from_json_str(text, Path::new(SPEC), |_| Ok(MODEL.to_string())) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(SPEC), "error names the spec: {msg}");
            return;
        }
    };
    assert!(!spec.is_empty());
    for index in 0..spec.len().min(8) {
        let settings = spec.settings(index);
        assert_eq!(settings.len(), spec.spec.axes.len());
        match spec.point(index) {
            Ok(p) => assert_eq!(p.index, index),
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.starts_with(&format!("{SPEC}: point {index} ")),
                    "error names the spec and point: {msg}"
                );
            }
        }
    }
});
