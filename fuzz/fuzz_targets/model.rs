//! The hardware-model JSON loader and validator on arbitrary text. It must
//! return a model or an error naming the source, never panic. A model it
//! accepts must serialise back to JSON that loads to the same model, and
//! must run: a tiny network trains one sample per rule on it (or is refused
//! with a typed error), and the report's energy and timing estimates are
//! computed from the counts without overflow panics.

#![no_main]

use libfuzzer_sys::fuzz_target;
use locus::data::{SyntheticSpec, generate};
use locus::hw::core::NetSpec;
use locus::hw::datapath::Activation;
use locus::hw::model::from_json_str;
use locus::report::RunReport;
use locus::rules::{BpPolicy, Rule};
use locus::sim::{self, Arith, TrainConfig};

const SOURCE: &str = "fuzz.json";

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let model = match from_json_str(text, SOURCE) {
        Ok(m) => m,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(SOURCE), "error names the source: {msg}");
            return;
        }
    };
    let again = serde_json::to_string(&model).expect("a model serialises");
    let back = from_json_str(&again, SOURCE).expect("a saved model loads again");
    assert_eq!(back, model, "load(save(model)) == model");

    let (train, test) = generate(&SyntheticSpec {
        classes: 2,
        sample_len: 4,
        train: 2,
        test: 1,
        noise: 8,
        seed: 1,
    })
    .expect("a valid synthetic spec");
    for rule in [Rule::Local, Rule::Bp(BpPolicy::Stash)] {
        let config = TrainConfig {
            rule,
            net: NetSpec {
                sizes: vec![4, 3, 2],
                activation: Activation::Relu,
            },
            epochs: 1,
            batch: 1,
            lr: 1.0 / 128.0,
            seed: 1,
            arith: Arith::Fixed,
            train_limit: Some(1),
            test_limit: Some(1),
        };
        if let Ok((result, _)) = sim::run(&model, &config, &train, &test, &mut |_, _| {}) {
            let report = RunReport::new(&model, &result);
            assert!(report.estimated.energy_per_sample_pj >= 0.0);
        }
    }
});
