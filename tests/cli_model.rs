//! `locus model check`: the shipped models pass, and every kind of bad model
//! file ends in exit code 2 with one `error:` line naming the file and field.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::locus;

fn default_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json"))
        .expect("read default model")
}

/// Asserts a user error: exit code 2, stderr exactly one line, starting with
/// `error:`, containing every expected substring, and no panic.
fn assert_user_error(out: &Output, case: &str, expected: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{case}: stderr = {stderr}");
    assert!(!stderr.contains("panicked"), "{case}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{case}: {stderr}");
    assert!(lines[0].starts_with("error: "), "{case}: {stderr}");
    for s in expected {
        assert!(lines[0].contains(s), "{case}: expected {s:?} in {stderr}");
    }
    assert!(
        out.stdout.is_empty(),
        "{case}: printed a summary for a bad model"
    );
}

#[test]
fn shipped_models_pass_and_print_their_name() {
    for (file, name) in [
        ("hw_models/default.json", "default"),
        ("hw_models/edge-small.json", "edge-small"),
    ] {
        let out = locus(&["model", "check", file]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stderr.is_empty());
        assert!(
            stdout.contains(&format!("name          {name}\n")),
            "{stdout}"
        );
        for section in [
            "formats",
            "SRAM banks",
            "ROM",
            "DRAM",
            "interconnect",
            "energy table",
        ] {
            assert!(stdout.contains(section), "{file}: no {section} in {stdout}");
        }
        assert!(stdout.contains("Horowitz ISSCC 2014"), "{stdout}");
    }
}

/// How a bad model is made from the default model.
enum Mutation {
    /// Edit the parsed JSON, then write it back.
    Json(fn(&mut Value)),
    /// Use this text as the whole file.
    Text(fn(&str) -> String),
}

fn remove(v: &mut Value, key: &str) {
    v.as_object_mut().expect("object").remove(key);
}

#[test]
fn bad_models_name_the_file_and_field() {
    use Mutation::{Json, Text};
    let cases: Vec<(&str, Mutation, Vec<&str>)> = vec![
        (
            "missing field",
            Json(|v| remove(&mut v["sram"]["weight"], "capacity_bytes")),
            vec!["sram.weight", "missing field `capacity_bytes`", "line"],
        ),
        (
            "missing top-level field",
            Json(|v| remove(v, "energy")),
            vec!["missing field `energy`"],
        ),
        (
            "unknown field",
            Json(|v| v["formats"]["weight"]["bitz"] = 16.into()),
            vec!["formats.weight", "unknown field `bitz`", "line"],
        ),
        (
            "frac >= bits",
            Json(|v| v["formats"]["weight"]["frac"] = 16.into()),
            vec!["formats.weight.frac = 16", "must be less than bits = 16"],
        ),
        (
            "bits > 32",
            Json(|v| v["formats"]["activation"]["bits"] = 33.into()),
            vec!["formats.activation.bits = 33", "2..=32"],
        ),
        (
            "accumulator too wide",
            Json(|v| v["formats"]["accumulator"]["bits"] = 64.into()),
            vec!["formats.accumulator.bits = 64"],
        ),
        (
            "zero capacity",
            Json(|v| v["sram"]["stash"]["capacity_bytes"] = 0.into()),
            vec!["sram.stash.capacity_bytes = 0", "at least 1"],
        ),
        (
            "word bits not a multiple of 8",
            Json(|v| v["sram"]["activation"]["word_bits"] = 12.into()),
            vec!["sram.activation.word_bits = 12", "multiple of 8"],
        ),
        (
            "zero read ports",
            Json(|v| v["sram"]["error"]["read_ports"] = 0.into()),
            vec!["sram.error.read_ports = 0"],
        ),
        (
            "negative energy",
            Json(|v| v["energy"]["mac_pj"]["pj"] = (-0.5).into()),
            vec!["energy.mac_pj.pj = -0.5"],
        ),
        (
            "energy not a number",
            Json(|v| v["dram"]["read_energy_pj_per_byte"]["pj"] = "NaN".into()),
            vec!["dram.read_energy_pj_per_byte.pj", "invalid type", "NaN"],
        ),
        (
            "empty energy source",
            Json(|v| v["interconnect"]["energy_pj_per_word_hop"]["source"] = "".into()),
            vec!["interconnect.energy_pj_per_word_hop.source"],
        ),
        (
            "energy out of range",
            Text(|t| t.replace("\"pj\": 0.9,", "\"pj\": 1e999,")),
            vec!["energy.mac_pj.pj", "out of range"],
        ),
        (
            "zero clock",
            Json(|v| v["clock_mhz"] = 0.0.into()),
            vec!["clock_mhz = 0", "greater than 0"],
        ),
        (
            "burst not a power of two",
            Json(|v| v["dram"]["burst_bytes"] = 48.into()),
            vec!["dram.burst_bytes = 48", "power of two"],
        ),
        (
            "invalid JSON",
            Text(|t| t[..t.len() / 2].to_string()),
            vec!["EOF while parsing", "line"],
        ),
        (
            "trailing garbage",
            Text(|t| format!("{t}\n}}")),
            vec!["trailing characters", "line"],
        ),
        (
            "duplicate field",
            Text(|t| t.replacen("\"version\": 1,", "\"version\": 1, \"version\": 1,", 1)),
            vec!["duplicate field `version`"],
        ),
        (
            "lfsr seed 0",
            Json(|v| v["lfsr_seed"] = 0.into()),
            vec!["lfsr_seed = 0"],
        ),
        (
            "unknown rounding mode",
            Json(|v| v["formats"]["error"]["rounding"] = "up".into()),
            vec!["formats.error.rounding", "unknown variant `up`"],
        ),
        (
            "unknown mapping",
            Json(|v| v["mapping"] = "one_per_layer".into()),
            vec!["mapping", "unknown variant `one_per_layer`"],
        ),
        (
            "other schema version",
            Json(|v| {
                v["version"] = 2.into();
                v["new_field_of_version_2"] = true.into();
            }),
            vec!["version = 2", "must be 1"],
        ),
        (
            "unknown ROM kind",
            Json(|v| v["rom"]["storage"] = json!({"kind": "flash"})),
            vec!["rom.storage.kind", "unknown variant `flash`"],
        ),
        (
            "ROM values without bits",
            Json(|v| v["rom"]["storage"] = json!({"kind": "values"})),
            vec!["rom.storage", "missing field `bits`"],
        ),
        (
            "ROM bits on sign_bits",
            Json(|v| v["rom"]["storage"] = json!({"kind": "sign_bits", "bits": 4})),
            vec!["rom.storage", "`bits` = 4"],
        ),
        (
            "ROM values wider than the classifier format",
            Json(|v| v["rom"]["storage"] = json!({"kind": "values", "bits": 12})),
            vec!["rom.storage.bits = 12", "formats.classifier.bits = 8"],
        ),
        (
            "negative port count",
            Json(|v| v["sram"]["weight"]["write_ports"] = (-1).into()),
            vec!["sram.weight.write_ports", "-1"],
        ),
        (
            "struct spelled as an array",
            Json(|v| v["formats"]["weight"] = json!([16, 14, "nearest", "saturate"])),
            vec!["formats.weight", "array"],
        ),
    ];

    let dir = tempfile::tempdir().expect("tempdir");
    let text = default_text();
    for (i, (case, mutation, expected)) in cases.into_iter().enumerate() {
        let bad = match mutation {
            Mutation::Json(edit) => {
                let mut v: Value = serde_json::from_str(&text).expect("default model is JSON");
                edit(&mut v);
                serde_json::to_string_pretty(&v).expect("serialise")
            }
            Mutation::Text(edit) => edit(&text),
        };
        let path: PathBuf = dir.path().join(format!("bad-{i}.json"));
        std::fs::write(&path, bad).expect("write bad model");
        let file = path.to_str().expect("utf-8 temp path");
        let out = locus(&["model", "check", file]);
        let mut all = vec![file];
        all.extend(expected);
        assert_user_error(&out, case, &all);
        // The file is named once, right after `error: `.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!("error: {file}: ")),
            "{case}: {stderr}"
        );
        assert_eq!(stderr.matches(file).count(), 1, "{case}: {stderr}");
    }
}

#[test]
fn missing_file_names_the_path() {
    let out = locus(&["model", "check", "hw_models/does-not-exist.json"]);
    assert_user_error(
        &out,
        "missing file",
        &["error: hw_models/does-not-exist.json: cannot read"],
    );
}
