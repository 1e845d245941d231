//! A run's counts as Accelergy action counts (`action_counts.yaml`), so
//! that users price locus's counts with their own energy reference tables
//! (`--accelergy-out`, `docs/report.md`, "Accelergy action counts").
//!
//! Components are named as `locus model import-ert` reads them: per core
//! `locus.core[i].{mac, adder, comparator, lfsr, weight_sram,
//! activation_sram, error_sram, stash_sram, rom}`, and chip-wide
//! `locus.dram` and `locus.noc`. An SRAM or ROM action is one word of its
//! bank, a DRAM action one burst, a NoC `transfer` one word over one hop, an
//! `lfsr` `step` one rounding draw or classifier-generator step.

use crate::hw::counters::{CoreCounts, Rw, Unit, wide_sum};
use serde::Serialize;

/// The file: `action_counts: {version, local: [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionCountsFile {
    /// The counts.
    pub action_counts: ActionCounts,
}

/// Accelergy's action-count section.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionCounts {
    /// Accelergy's action-count format version (0.4).
    pub version: f64,
    /// One entry per component.
    pub local: Vec<Component>,
}

/// One component's actions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Component {
    /// Its hierarchical name, e.g. `locus.core[0].weight_sram`.
    pub name: String,
    /// Its actions and how often each ran.
    pub action_counts: Vec<Count>,
}

/// How often one action ran.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Count {
    /// The action, e.g. `read`.
    pub name: String,
    /// Times it ran (exact; a sum past 2^64 saturates, which no run reaches:
    /// `docs/report.md`, "Counts near 2^64").
    pub counts: u64,
}

fn count(name: &str, n: u128) -> Count {
    Count {
        name: name.to_string(),
        counts: u64::try_from(n).unwrap_or(u64::MAX),
    }
}

/// The action counts of `counts` (one entry per core).
pub fn action_counts(counts: &[CoreCounts]) -> ActionCountsFile {
    let mut local = Vec::new();
    let words = |c: &CoreCounts, u: Unit, rw: Rw| {
        wide_sum(c.words[u.index()].iter().flatten().map(|p| p[rw.index()]))
    };
    for (i, c) in counts.iter().enumerate() {
        let mut push = |part: &str, actions: Vec<Count>| {
            local.push(Component {
                name: format!("locus.core[{i}].{part}"),
                action_counts: actions,
            });
        };
        push("mac", vec![count("mac_random", wide_sum(c.macs))]);
        push("adder", vec![count("add", wide_sum(c.adds))]);
        push("comparator", vec![count("compare", wide_sum(c.compares))]);
        let steps = wide_sum(c.lfsr_draws) + wide_sum(c.rom_generator_steps);
        push("lfsr", vec![count("step", steps)]);
        for (part, unit) in [
            ("weight_sram", Unit::Weight),
            ("activation_sram", Unit::Activation),
            ("error_sram", Unit::Error),
            ("stash_sram", Unit::Stash),
        ] {
            push(
                part,
                vec![
                    count("read", words(c, unit, Rw::Read)),
                    count("write", words(c, unit, Rw::Write)),
                ],
            );
        }
        push("rom", vec![count("read", words(c, Unit::Rom, Rw::Read))]);
    }
    let bursts = |rw: Rw| {
        wide_sum(
            counts
                .iter()
                .flat_map(|c| c.dram_bursts.iter().map(move |p| p[rw.index()])),
        )
    };
    local.push(Component {
        name: "locus.dram".into(),
        action_counts: vec![
            count("read", bursts(Rw::Read)),
            count("write", bursts(Rw::Write)),
        ],
    });
    let hops = wide_sum(counts.iter().flat_map(|c| c.noc_word_hops));
    local.push(Component {
        name: "locus.noc".into(),
        action_counts: vec![count("transfer", hops)],
    });
    ActionCountsFile {
        action_counts: ActionCounts {
            version: 0.4,
            local,
        },
    }
}

impl ActionCountsFile {
    /// The YAML text of the file.
    pub fn to_yaml(&self) -> Result<String, serde_saphyr::SerializeError> {
        serde_saphyr::to_string(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::counters::{Class, Phase};

    #[test]
    fn counts_become_actions_per_core_and_chip_wide() {
        let mut a = CoreCounts::default();
        a.macs[0] = 10;
        a.macs[3] = 5;
        a.add_words(Unit::Weight, Class::Weight, Phase::Forward, Rw::Read, 7);
        a.add_words(Unit::Weight, Class::Update, Phase::Update, Rw::Read, 2);
        a.lfsr_draws[3] = 4;
        a.rom_generator_steps[1] = 3;
        a.dram_bursts[0] = [6, 1];
        let mut b = CoreCounts::default();
        b.noc_word_hops[2] = 9;
        b.dram_bursts[2] = [2, 0];
        let f = action_counts(&[a, b]);
        let get = |name: &str, action: &str| {
            let c = f
                .action_counts
                .local
                .iter()
                .find(|c| c.name == name)
                .unwrap();
            c.action_counts
                .iter()
                .find(|x| x.name == action)
                .unwrap()
                .counts
        };
        assert_eq!(get("locus.core[0].mac", "mac_random"), 15);
        assert_eq!(get("locus.core[0].weight_sram", "read"), 9);
        assert_eq!(get("locus.core[0].lfsr", "step"), 7);
        assert_eq!(get("locus.core[1].mac", "mac_random"), 0);
        assert_eq!(get("locus.dram", "read"), 8);
        assert_eq!(get("locus.dram", "write"), 1);
        assert_eq!(get("locus.noc", "transfer"), 9);
        let y = f.to_yaml().unwrap();
        assert!(y.starts_with("action_counts:"), "{y}");
        assert!(y.contains("locus.core[0].weight_sram"), "{y}");
    }
}
