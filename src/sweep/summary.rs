//! Summaries of a sweep's results that a hardware architect reads off a
//! bit-width study: points that differ only in their seed averaged into one
//! ([`seed_groups`]), and the narrowest width of each tensor class at which
//! a rule stays within a tolerance of its widest configuration
//! ([`narrowest_within`]).

use super::results::{ClassBits, PointResult};
use serde_json::Value;
use std::collections::BTreeMap;

/// The axis path that names a point's seed.
pub const SEED_PATH: &str = "config.seed";

/// Finished points with the same rule and settings except the seed,
/// averaged.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedGroup {
    /// Rule label, e.g. `local`.
    pub rule: String,
    /// Format widths of the group, bits.
    pub bits: ClassBits,
    /// The shared settings (`path → value`, the seed left out).
    pub settings: Value,
    /// Point indices in the group, ascending.
    pub indices: Vec<usize>,
    /// Mean final test accuracy, a fraction.
    pub mean_accuracy: f64,
    /// Lowest final test accuracy, a fraction.
    pub min_accuracy: f64,
    /// Highest final test accuracy, a fraction.
    pub max_accuracy: f64,
    /// Mean estimated energy per training sample, pJ.
    pub energy_per_sample_pj: f64,
    /// Mean SRAM + DRAM bytes per training sample.
    pub bytes_per_sample: f64,
}

/// Groups the points that ran by rule and settings without the seed, in
/// order of their first point. Points that did not run are left out.
pub fn seed_groups(results: &[PointResult]) -> Vec<SeedGroup> {
    let mut sorted: Vec<&PointResult> = results.iter().collect();
    sorted.sort_by_key(|r| r.index);
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<&PointResult>> = BTreeMap::new();
    for r in sorted {
        if r.test_accuracy().is_none() {
            continue;
        }
        let key = format!("{}|{}", r.rule, without_seed(&r.settings));
        let members = groups.entry(key.clone()).or_default();
        if members.is_empty() {
            order.push(key);
        }
        members.push(r);
    }
    order
        .iter()
        .filter_map(|k| groups.get(k))
        .filter_map(|members| summarise(members))
        .collect()
}

fn without_seed(settings: &Value) -> Value {
    match settings {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != SEED_PATH)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn summarise(members: &[&PointResult]) -> Option<SeedGroup> {
    let first = members.first()?;
    let n = members.len() as f64;
    let acc: Vec<f64> = members.iter().filter_map(|r| r.test_accuracy()).collect();
    let mean = |f: &dyn Fn(&PointResult) -> f64| members.iter().map(|r| f(r)).sum::<f64>() / n;
    Some(SeedGroup {
        rule: first.rule.clone(),
        bits: first.bits,
        settings: without_seed(&first.settings),
        indices: members.iter().map(|r| r.index).collect(),
        mean_accuracy: acc.iter().sum::<f64>() / n,
        min_accuracy: acc.iter().copied().fold(f64::INFINITY, f64::min),
        max_accuracy: acc.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        energy_per_sample_pj: mean(&|r| r.energy_per_sample_pj.unwrap_or(f64::NAN)),
        bytes_per_sample: mean(&|r| r.bytes_per_sample().unwrap_or(f64::NAN)),
    })
}

/// The tensor classes whose narrowest safe width is looked for.
pub const SEARCHED: [&str; 3] = ["weight", "activation", "error"];

fn width(bits: &ClassBits, class: usize) -> u32 {
    match class {
        0 => bits.weight,
        1 => bits.activation,
        _ => bits.error,
    }
}

/// One rule's narrowest widths within the tolerance of its reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Narrowest {
    /// Rule label.
    pub rule: String,
    /// The reference: the group with the widest weight, activation and
    /// error formats (the most accurate one if several share them).
    pub reference: SeedGroup,
    /// Per class of [`SEARCHED`]: the narrowest width, bits, at which a
    /// group with the other two classes at the reference widths has a mean
    /// accuracy no more than the tolerance below the reference's, and the
    /// most accurate such group.
    pub per_class: [Option<(u32, SeedGroup)>; 3],
    /// The most accurate group with all three classes at those narrowest
    /// widths, if the sweep ran it.
    pub combined: Option<SeedGroup>,
}

/// For every rule, the narrowest weight, activation and error widths at
/// which its mean test accuracy stays within `tolerance` (a fraction, e.g.
/// 0.01 for one point) of its widest configuration, one class at a time,
/// and the group that combines them.
pub fn narrowest_within(groups: &[SeedGroup], tolerance: f64) -> Vec<Narrowest> {
    let mut rules: Vec<&str> = groups.iter().map(|g| g.rule.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let best = |it: &mut dyn Iterator<Item = &SeedGroup>| -> Option<SeedGroup> {
        it.max_by(|a, b| a.mean_accuracy.total_cmp(&b.mean_accuracy))
            .cloned()
    };
    rules
        .into_iter()
        .filter_map(|rule| {
            let mine: Vec<&SeedGroup> = groups.iter().filter(|g| g.rule == rule).collect();
            let widest: [u32; 3] =
                std::array::from_fn(|c| mine.iter().map(|g| width(&g.bits, c)).max().unwrap_or(0));
            let at = |g: &SeedGroup, w: &[u32; 3]| (0..3).all(|c| width(&g.bits, c) == w[c]);
            let reference = best(&mut mine.iter().copied().filter(|g| at(g, &widest)))?;
            let floor = reference.mean_accuracy - tolerance;
            let per_class: [Option<(u32, SeedGroup)>; 3] = std::array::from_fn(|c| {
                let ok = mine.iter().copied().filter(|g| {
                    (0..3).all(|o| o == c || width(&g.bits, o) == widest[o])
                        && g.mean_accuracy >= floor
                });
                let narrowest = ok.clone().map(|g| width(&g.bits, c)).min()?;
                let group = best(&mut ok.filter(|g| width(&g.bits, c) == narrowest))?;
                Some((narrowest, group))
            });
            let combined = if per_class.iter().all(Option::is_some) {
                let w: [u32; 3] =
                    std::array::from_fn(|c| per_class[c].as_ref().map_or(0, |(w, _)| *w));
                best(&mut mine.iter().copied().filter(|g| at(g, &w)))
            } else {
                None
            };
            Some(Narrowest {
                rule: rule.to_string(),
                reference,
                per_class,
                combined,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::EpochResult;
    use serde_json::json;

    fn point(index: usize, rule: &str, seed: u64, w: u32, a: u32, e: u32, acc: f64) -> PointResult {
        PointResult {
            spec_hash: "h".into(),
            index,
            settings: json!({"config.rule": rule, "config.seed": seed, "w": w, "a": a, "e": e}),
            rule: rule.into(),
            bits: ClassBits {
                weight: w,
                activation: a,
                error: e,
                update: 16,
            },
            error: None,
            epochs: vec![EpochResult {
                epoch: 1,
                train_accuracy: acc,
                test_accuracy: acc,
                lr_realised: None,
            }],
            samples: 10,
            totals: None,
            energy_per_sample_pj: Some(f64::from(w) * 10.0),
            cycles_per_sample: None,
        }
    }

    #[test]
    fn seeds_are_averaged_and_other_settings_kept_apart() {
        let rs = vec![
            point(0, "local", 1, 16, 16, 16, 0.90),
            point(1, "local", 2, 16, 16, 16, 0.80),
            point(2, "local", 1, 8, 16, 16, 0.70),
            point(3, "bp", 1, 16, 16, 16, 0.95),
        ];
        let g = seed_groups(&rs);
        assert_eq!(g.len(), 3);
        assert_eq!(g[0].indices, vec![0, 1]);
        assert!((g[0].mean_accuracy - 0.85).abs() < 1e-12);
        assert_eq!((g[0].min_accuracy, g[0].max_accuracy), (0.80, 0.90));
        assert_eq!(g[0].settings.get(SEED_PATH), None);
        assert_eq!(g[1].indices, vec![2]);
        assert_eq!(g[2].rule, "bp");
    }

    #[test]
    fn narrowest_widths_on_a_hand_made_grid() {
        // local: reference 0.96; weights fine down to 12 (0.955), not 10 (0.94);
        // activations fine at 6 (0.951) and 4 (0.950 = floor exactly); errors
        // fine at 8 but not at 6. The combined 12/4/8 point exists.
        let rs = vec![
            point(0, "local", 1, 16, 16, 16, 0.96),
            point(1, "local", 1, 12, 16, 16, 0.955),
            point(2, "local", 1, 10, 16, 16, 0.94),
            point(3, "local", 1, 16, 6, 16, 0.951),
            point(4, "local", 1, 16, 4, 16, 0.95),
            point(5, "local", 1, 16, 16, 8, 0.959),
            point(6, "local", 1, 16, 16, 6, 0.90),
            point(7, "local", 1, 12, 4, 8, 0.945),
            // an 8-bit-weight point with narrow activations does not count
            // for the weight search (its activations are not at the reference)
            point(8, "local", 1, 8, 6, 16, 0.959),
        ];
        let n = narrowest_within(&seed_groups(&rs), 0.01 + 1e-12);
        assert_eq!(n.len(), 1);
        let n = &n[0];
        assert_eq!(n.reference.indices, vec![0]);
        let widths: Vec<Option<u32>> = n
            .per_class
            .iter()
            .map(|p| p.as_ref().map(|x| x.0))
            .collect();
        assert_eq!(widths, vec![Some(12), Some(4), Some(8)]);
        assert_eq!(
            n.combined.as_ref().map(|g| g.indices.clone()),
            Some(vec![7])
        );
    }

    #[test]
    fn no_combined_group_when_the_sweep_did_not_run_it() {
        let rs = vec![
            point(0, "bp", 1, 16, 16, 16, 0.96),
            point(1, "bp", 1, 8, 16, 16, 0.955),
            point(2, "bp", 1, 16, 8, 16, 0.955),
        ];
        let n = narrowest_within(&seed_groups(&rs), 0.01);
        assert_eq!(n[0].per_class[0].as_ref().map(|x| x.0), Some(8));
        assert_eq!(n[0].per_class[2].as_ref().map(|x| x.0), Some(16));
        assert!(n[0].combined.is_none());
    }
}
