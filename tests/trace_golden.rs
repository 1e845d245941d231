//! `locus trace golden` run as a user would: the files match the manifest
//! (shapes, word counts, hex widths), output is deterministic, the checked-in
//! example is what the code writes, and bad input — an unwritable or foreign
//! output directory, bad options — ends in one error naming it, with exit
//! code 2 and nothing left behind.

mod common;

use common::{locus, ok, root, s, text, user_error};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

/// Exit code 2, one `error:` line containing every expected substring.
fn assert_user_error(out: &Output, case: &str, expected: &[&str]) {
    let error = user_error(out, case);
    for want in expected {
        assert!(error.contains(want), "{case}: want {want:?} in {error:?}");
    }
    assert!(!text(&out.stdout).contains("wrote"), "{case}: wrote output");
}

/// The synthetic dataset of the docs' example (`locus data synth` defaults).
fn dataset(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    ok(&locus(&["data", "synth", s(&data)]), "data synth");
    data
}

/// `trace golden` on the synthetic data with `extra` options (which replace
/// the defaults of the same name).
fn golden(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let defaults = [["--layers", "16,12,4"], ["--lr", "0.0625"]];
    let mut args = vec!["trace", "golden", "--out", s(out), "--data", s(data)];
    for pair in &defaults {
        if !extra.contains(&pair[0]) {
            args.extend_from_slice(pair);
        }
    }
    args.extend_from_slice(extra);
    locus(&args)
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeSet<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn files_match_the_manifest_and_runs_are_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("g");
    let stdout = ok(&golden(&data, &out, &["--steps", "2"]), "golden");
    assert!(stdout.contains("wrote 63 files"), "{stdout}");
    assert!(stdout.contains("iverilog -g2012"), "{stdout}");
    let m = manifest(&out);
    assert_eq!(m["generator"], "locus trace golden");
    assert_eq!(m["lr_shift"], 4);
    assert_eq!(m["lfsr"]["mask"], "0x80200003");
    assert_eq!(m["lfsr"]["seed_decimal"], 44257);
    assert_eq!(m["records"].as_array().unwrap().len(), 2);
    assert_eq!(m["verilog"]["parameters"]["MAXN"], 12 * 17);
    // Every file is listed once, and every listed file is there with
    // `words` lines of `ceil(bits/4)` hex digits.
    let files = m["files"].as_array().unwrap();
    let listed: BTreeSet<String> = files
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    let mut on_disk = tree(&out);
    assert!(on_disk.remove("manifest.json"));
    assert_eq!(listed, on_disk);
    assert_eq!(files.len(), 2 * (17 + 14));
    for f in files {
        let path = out.join(f["path"].as_str().unwrap());
        let body = std::fs::read_to_string(&path).unwrap();
        let bits = f["format"]["bits"].as_u64().unwrap();
        let shape: u64 = f["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .product();
        assert_eq!(f["words"].as_u64().unwrap(), shape, "{f}");
        assert_eq!(body.lines().count() as u64, shape, "{}", path.display());
        assert_eq!(f["hex_digits"].as_u64().unwrap(), bits.div_ceil(4));
        for line in body.lines() {
            assert_eq!(line.len() as u64, bits.div_ceil(4), "{}", path.display());
            let v = u64::from_str_radix(line, 16).unwrap();
            assert!(bits == 64 || v < 1 << bits, "{}: {line}", path.display());
        }
    }
    // The weights after step 0 are the weights before step 1.
    for l in 0..2 {
        for t in ["w", "b"] {
            let after = std::fs::read(out.join(format!("step0/layer{l}/{t}_after.hex"))).unwrap();
            let before = std::fs::read(out.join(format!("step1/layer{l}/{t}_before.hex"))).unwrap();
            assert_eq!(after, before, "layer {l} {t}");
        }
    }
    // Same options, same bytes.
    let again = tmp.path().join("g2");
    ok(&golden(&data, &again, &["--steps", "2"]), "golden again");
    for f in &listed {
        assert_eq!(
            std::fs::read(out.join(f)).unwrap(),
            std::fs::read(again.join(f)).unwrap(),
            "{f}"
        );
    }
    assert_eq!(manifest(&out), manifest(&again));
}

#[test]
fn checked_in_example_is_what_the_code_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("golden");
    ok(&golden(&data, &out, &["--steps", "1"]), "golden");
    let example = root().join("traces/examples/golden");
    assert_eq!(tree(&out), tree(&example), "file lists differ");
    for f in tree(&out) {
        if f == "manifest.json" {
            let (mut a, mut b) = (manifest(&out), manifest(&example));
            a["locus_version"] = Value::Null;
            b["locus_version"] = Value::Null;
            assert_eq!(
                a, b,
                "manifest differs: regenerate the example (docs/formats.md)"
            );
        } else {
            assert_eq!(
                std::fs::read(out.join(&f)).unwrap(),
                std::fs::read(example.join(&f)).unwrap(),
                "{f} differs: regenerate the example (docs/formats.md)"
            );
        }
    }
}

#[test]
fn unwritable_output_fails_and_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let before = tree(tmp.path());
    // A directory under a regular file cannot be created.
    let out = file.join("sub/golden");
    assert_user_error(&golden(&data, &out, &[]), "under a file", &[s(&file)]);
    assert_eq!(tree(tmp.path()), before);
    // The output path is itself a regular file.
    assert_user_error(
        &golden(&data, &file, &[]),
        "a file",
        &[s(&file), "not a directory"],
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    assert_eq!(tree(tmp.path()), before);
    // A read-only parent directory (skipped where permissions do not bind,
    // e.g. as root).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = tmp.path().join("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(ro.join("probe"), "x").is_err() {
            let out = ro.join("golden");
            assert_user_error(&golden(&data, &out, &[]), "read-only", &[s(&ro)]);
            assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
        }
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn foreign_directory_is_refused_and_earlier_output_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("g");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    assert_user_error(
        &golden(&data, &out, &[]),
        "foreign dir",
        &[s(&out), "refusing to overwrite"],
    );
    assert_eq!(tree(&out), BTreeSet::from(["notes.txt".to_string()]));
    // An empty directory and an earlier output are replaced.
    std::fs::remove_file(out.join("notes.txt")).unwrap();
    ok(&golden(&data, &out, &["--steps", "2"]), "empty dir");
    assert!(out.join("step1/layer1/e.hex").is_file());
    ok(&golden(&data, &out, &["--steps", "1"]), "replace");
    assert!(!out.join("step1").exists(), "old steps removed");
    assert!(out.join("step0/layer1/e.hex").is_file());
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with(".locus")),
        "temporary left behind: {names:?}"
    );
}

#[test]
fn bad_options_name_the_value() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("g");
    let cases: &[(&[&str], &[&str])] = &[
        (&["--steps", "0"], &["--steps", "0"]),
        (
            &["--steps", "401"],
            &["steps = 401", "400 training samples"],
        ),
        (&["--layers", "10,4"], &["layers", "sample size 16"]),
        (&["--layers", "16,12,3"], &["layers", "4 classes"]),
        (&["--lr", "0"], &["--lr", "0"]),
        (&["--rule", "bp"], &["--rule", "bp"]),
        (&["--model", "no/such.json"], &["no/such.json"]),
    ];
    for (extra, want) in cases {
        let o = golden(&data, &out, extra);
        assert_user_error(&o, &format!("{extra:?}"), want);
        assert!(!out.exists(), "{extra:?} wrote {}", out.display());
    }
    let o = locus(&["trace", "golden", "--out", s(&out), "--data", "no/such/dir"]);
    assert_user_error(&o, "missing data", &["no/such/dir"]);
}
