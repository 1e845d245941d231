//! Accelergy interoperation as a user runs it: `locus model import-ert` on
//! the shipped ERT gives back the default model's energies, each sourced
//! from the ERT; `--accelergy-out` writes action counts that parse as YAML
//! with the documented keys and, priced with that ERT (here, independently
//! of locus's energy code), give the report's energy.

mod common;

use common::{locus, ok, root, s, synth, user_error};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct CountsFile {
    action_counts: Counts,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Counts {
    version: f64,
    local: Vec<Component>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Component {
    name: String,
    action_counts: Vec<Count>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Count {
    name: String,
    counts: u64,
}

#[derive(Deserialize)]
struct ErtFile {
    #[serde(rename = "ERT")]
    ert: Ert,
}

#[derive(Deserialize)]
struct Ert {
    tables: Vec<Table>,
}

#[derive(Deserialize)]
struct Table {
    name: String,
    actions: Vec<Action>,
}

#[derive(Deserialize)]
struct Action {
    name: String,
    energy: f64,
}

/// `(component kind, action) → pJ` from the shipped ERT, the largest entry
/// of each action (as the importer takes it).
fn ert_prices() -> BTreeMap<(String, String), f64> {
    let text = std::fs::read_to_string(root().join("hw_models/accelergy/ERT.yaml")).unwrap();
    let ert: ErtFile = serde_saphyr::from_str(&text).unwrap();
    let mut prices = BTreeMap::new();
    for t in ert.ert.tables {
        let kind = t.name.rsplit('.').next().unwrap().to_string();
        for a in t.actions {
            let e: &mut f64 = prices.entry((kind.clone(), a.name)).or_insert(0.0);
            *e = e.max(a.energy);
        }
    }
    prices
}

fn read_json(p: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn the_shipped_ert_round_trips_and_prices_the_exported_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("m.json");
    let ert = root().join("hw_models/accelergy/ERT.yaml");
    let default = root().join("hw_models/default.json");
    let args = [
        "model",
        "import-ert",
        s(&ert),
        "--model",
        s(&default),
        "--out",
        s(&model),
    ];
    let out = ok(&locus(&args), "import-ert");
    assert!(out.contains("16 entries"), "{out}");
    // Every energy equals the default model's; every source names the ERT.
    let (got, want) = (read_json(&model), read_json(&default));
    let mut entries = 0;
    let mut walk = vec![(got.clone(), want.clone(), String::new())];
    while let Some((g, w, at)) = walk.pop() {
        if let (Some(go), Some(wo)) = (g.as_object(), w.as_object()) {
            if let (Some(gp), Some(wp)) = (go.get("pj"), wo.get("pj")) {
                assert_eq!(gp.as_f64(), wp.as_f64(), "{at}");
                let src = go["source"].as_str().unwrap();
                assert!(src.starts_with("ERT locus."), "{at}: {src}");
                entries += 1;
                continue;
            }
            for (k, v) in go {
                walk.push((v.clone(), wo[k].clone(), format!("{at}.{k}")));
            }
        }
    }
    assert_eq!(entries, 16);

    // Export, then price the counts with the ERT.
    let data = tmp.path().join("d");
    synth(&data, 40, 10);
    let counts = tmp.path().join("ac/counts.yaml");
    let dir = tmp.path().join("c");
    let args = [
        "compare",
        "--data",
        s(&data),
        "--layers",
        "16,12,4",
        "--rules",
        "local,bp/spill",
        "--batch",
        "3",
        "--model",
        s(&model),
        "--out-dir",
        s(&dir),
        "--accelergy-out",
        s(&counts),
    ];
    let out = ok(&locus(&args), "compare");
    let report = read_json(&dir.join("compare.json"));
    let prices = ert_prices();
    for (k, label) in ["local", "bp-spill"].iter().enumerate() {
        let file = tmp.path().join(format!("ac/counts.{label}.yaml"));
        assert!(out.contains(s(&file)), "{out}");
        let parsed: CountsFile =
            serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(parsed.action_counts.version, 0.4);
        let run = &report["runs"][k];
        let energy = &run["estimated"]["energy"];
        let (mut priced, mut dram_bursts) = (0.0, [0u64; 2]);
        for c in &parsed.action_counts.local {
            let kind = c.name.rsplit('.').next().unwrap();
            for a in &c.action_counts {
                if kind == "dram" {
                    dram_bursts[(a.name == "write") as usize] = a.counts;
                    continue;
                }
                let p = prices[&(kind.to_string(), a.name.clone())];
                priced += a.counts as f64 * p;
            }
        }
        // DRAM is priced per burst by Accelergy, per byte by locus: the
        // bursts are the report's exactly; the rest of the energy agrees.
        let totals = &run["measured"]["totals"];
        assert_eq!(
            dram_bursts[0],
            totals["dram_bursts"]["read"].as_u64().unwrap()
        );
        assert_eq!(
            dram_bursts[1],
            totals["dram_bursts"]["write"].as_u64().unwrap()
        );
        let want = energy["total_pj"].as_f64().unwrap() - energy["dram_pj"].as_f64().unwrap();
        assert!(
            (priced - want).abs() <= 1e-9 * want,
            "{label}: priced {priced} pJ, report {want} pJ"
        );
        assert!(priced > 0.0);
    }
}

#[test]
fn bad_erts_exit_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        ("ERT: [1, 2", "not an Accelergy ERT"),
        (
            "ERT:\n  version: 0.3\n  tables:\n  - name: chip.cache\n    actions: []\n",
            "ERT.tables[0].name: component `chip.cache`",
        ),
        (
            "ERT:\n  version: 0.3\n  tables:\n  - name: chip.mac\n    actions:\n    - {name: mac, energy: -2}\n",
            "ERT.tables[0].actions[0].energy = -2",
        ),
    ];
    for (k, (text, want)) in cases.iter().enumerate() {
        let f = tmp.path().join(format!("e{k}.yaml"));
        std::fs::write(&f, text).unwrap();
        let out = tmp.path().join("m.json");
        let args = ["model", "import-ert", s(&f), "--out", s(&out)];
        let msg = user_error(&locus(&args), want);
        assert!(msg.contains(s(&f)) && msg.contains(want), "{msg}");
        assert!(!out.exists(), "nothing written on error");
    }
}
