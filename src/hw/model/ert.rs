//! Accelergy energy reference tables (ERT) into a model's energy table
//! (`locus model import-ert`, `docs/hw_model.md`, "Energy from Accelergy").
//!
//! An ERT (`ERT: {version, tables: [{name, actions: [{name, arguments,
//! energy}]}]}`) gives pJ per action of each component, over the
//! component's whole width. Components are matched to the model by the last
//! segment of their name (index ranges such as `[0..3]` dropped): `mac`,
//! `adder`, `comparator`, `lfsr`, `weight_sram`, `activation_sram`,
//! `error_sram`, `stash_sram`, `rom`, `dram`, `noc`. Any other component is
//! an error, as is a negative or non-finite energy; actions the model has no
//! use for (`idle`, `leak`, …) are left out. Each imported entry keeps
//! `source: "ERT <component>.<action>"`.

use super::{EnergyEntry, HwModel};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::fmt::Write;

/// Why an ERT cannot be imported. Each names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ErtError {
    /// Not YAML, or not an ERT's shape.
    #[error("{file}: not an Accelergy ERT ({message})")]
    Parse {
        /// The file.
        file: String,
        /// The parser's message, on one line.
        message: String,
    },
    /// A component the model has no place for.
    #[error(
        "{file}: {field}: component `{name}` is not one locus models (its last name segment must be one of {})",
        COMPONENTS.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
    )]
    UnknownComponent {
        /// The file.
        file: String,
        /// `ERT.tables[i].name`.
        field: String,
        /// The component's name.
        name: String,
    },
    /// A negative, infinite or NaN energy.
    #[error("{file}: {field} = {energy}: must be a finite number at least 0")]
    Energy {
        /// The file.
        file: String,
        /// `ERT.tables[i].actions[j].energy`.
        field: String,
        /// The value.
        energy: f64,
    },
    /// A known component without an action the model needs.
    #[error("{file}: {field}: component `{name}` has no `{action}` action (it has: {has})")]
    MissingAction {
        /// The file.
        file: String,
        /// `ERT.tables[i]`.
        field: String,
        /// The component's name.
        name: String,
        /// The action wanted (alternatives joined by ` or `).
        action: String,
        /// The actions it has.
        has: String,
    },
    /// Two components that set the same entry to different energies.
    #[error("{file}: {field}: {detail}")]
    Conflict {
        /// The file.
        file: String,
        /// `ERT.tables[i]`.
        field: String,
        /// Which entry, which components, which energies.
        detail: String,
    },
    /// An ERT with no component locus models.
    #[error("{file}: ERT.tables: no component locus models (nothing to import)")]
    Empty {
        /// The file.
        file: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ErtFile {
    #[serde(rename = "ERT")]
    ert: Ert,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ert {
    #[allow(dead_code)] // required, any form (0.3, "0.4")
    version: IgnoredAny,
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
    #[serde(default)]
    #[allow(dead_code)] // several entries of one action differ by these
    arguments: Option<IgnoredAny>,
    energy: f64,
}

/// Where a component's actions go in the model.
#[derive(Clone, Copy)]
enum Slot {
    Mac,
    Add,
    Compare,
    Lfsr,
    /// An SRAM bank by role name.
    Sram(&'static str),
    Rom,
    Dram,
    Noc,
}

/// The component names (last segment) and where each goes.
const COMPONENTS: [(&str, Slot); 11] = [
    ("mac", Slot::Mac),
    ("adder", Slot::Add),
    ("comparator", Slot::Compare),
    ("lfsr", Slot::Lfsr),
    ("weight_sram", Slot::Sram("weight")),
    ("activation_sram", Slot::Sram("activation")),
    ("error_sram", Slot::Sram("error")),
    ("stash_sram", Slot::Sram("stash")),
    ("rom", Slot::Rom),
    ("dram", Slot::Dram),
    ("noc", Slot::Noc),
];

/// `system.core[0..3].weight_sram` → `weight_sram`.
fn component_kind(name: &str) -> String {
    // Index ranges first: `[0..3]` holds dots of its own.
    let mut plain = String::with_capacity(name.len());
    let mut depth = 0usize;
    for ch in name.chars() {
        match ch {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(ch),
            _ => {}
        }
    }
    let last = plain.rsplit('.').next().unwrap_or("");
    last.trim().to_ascii_lowercase()
}

/// What was imported: one line per model entry set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErtImport {
    /// `(entry, pJ, source)` for each entry set, in file order.
    pub set: Vec<(String, f64, String)>,
}

impl ErtImport {
    /// One line per entry: `sram.weight.read_energy_pj = 7 pJ (ERT ...)`.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        for (entry, pj, source) in &self.set {
            let _ = writeln!(s, "{entry} = {pj} pJ ({source})");
        }
        s
    }
}

/// Parses the ERT `text` (from `file`, for messages) and writes its
/// energies into `model`'s table: the entries its components cover, each
/// with `source: "ERT <component>.<action>"`; the rest are kept. The DRAM's
/// per-action energy is taken as one burst (`dram.burst_bytes`), so its
/// per-byte energy is `energy / burst_bytes`; an SRAM's or the ROM's as one
/// word of the bank; the NoC's `transfer` as one word over one hop. An
/// action listed several times (different `arguments`) contributes its
/// largest energy.
pub fn import_ert(model: &mut HwModel, text: &str, file: &str) -> Result<ErtImport, ErtError> {
    let parsed: ErtFile = serde_saphyr::from_str(text).map_err(|e| ErtError::Parse {
        file: file.to_string(),
        message: {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("").trim();
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        },
    })?;
    let mut out = ErtImport::default();
    let mut setters: Vec<(String, String, f64)> = Vec::new();
    for (t, table) in parsed.ert.tables.iter().enumerate() {
        let field = format!("ERT.tables[{t}]");
        let kind = component_kind(&table.name);
        let Some(&(_, slot)) = COMPONENTS.iter().find(|c| c.0 == kind) else {
            return Err(ErtError::UnknownComponent {
                file: file.into(),
                field: format!("{field}.name"),
                name: table.name.clone(),
            });
        };
        for (a, action) in table.actions.iter().enumerate() {
            if !action.energy.is_finite() || action.energy < 0.0 {
                return Err(ErtError::Energy {
                    file: file.into(),
                    field: format!("{field}.actions[{a}].energy"),
                    energy: action.energy,
                });
            }
        }
        // The largest energy of the first of `names` the table has.
        let pick = |names: &[&str]| -> Result<(f64, String), ErtError> {
            for n in names {
                let es: Vec<f64> = table
                    .actions
                    .iter()
                    .filter(|a| a.name == *n)
                    .map(|a| a.energy)
                    .collect();
                if let Some(max) = es.iter().copied().reduce(f64::max) {
                    let many = if es.len() > 1 {
                        format!(", the largest of {} argument sets", es.len())
                    } else {
                        String::new()
                    };
                    return Ok((max, format!("ERT {}.{n}{many}", table.name)));
                }
            }
            let has: Vec<&str> = table.actions.iter().map(|a| a.name.as_str()).collect();
            Err(ErtError::MissingAction {
                file: file.into(),
                field: field.clone(),
                name: table.name.clone(),
                action: names.join(" or "),
                has: if has.is_empty() {
                    "none".into()
                } else {
                    has.join(", ")
                },
            })
        };
        let burst = f64::from(model.dram.burst_bytes);
        let mut sets: Vec<(String, f64, String)> = Vec::new();
        let mut one = |entry: &str, (pj, source): (f64, String)| {
            sets.push((entry.to_string(), pj, source));
        };
        match slot {
            Slot::Mac => one("energy.mac_pj", pick(&["mac_random", "mac"])?),
            Slot::Add => one("energy.add_pj", pick(&["add"])?),
            Slot::Compare => one("energy.compare_pj", pick(&["compare"])?),
            Slot::Lfsr => one("energy.lfsr_step_pj", pick(&["step"])?),
            Slot::Sram(role) => {
                one(&format!("sram.{role}.read_energy_pj"), pick(&["read"])?);
                one(&format!("sram.{role}.write_energy_pj"), pick(&["write"])?);
            }
            Slot::Rom => one("rom.read_energy_pj", pick(&["read"])?),
            Slot::Dram => {
                for (entry, action) in [
                    ("dram.read_energy_pj_per_byte", "read"),
                    ("dram.write_energy_pj_per_byte", "write"),
                ] {
                    let (pj, source) = pick(&[action])?;
                    let source = format!("{source} / {burst} B (one action per burst)");
                    one(entry, (pj / burst, source));
                }
            }
            Slot::Noc => one("interconnect.energy_pj_per_word_hop", pick(&["transfer"])?),
        }
        for (entry, pj, source) in sets {
            if let Some((_, other, before)) = setters.iter().find(|s| s.0 == entry) {
                if *before != pj {
                    return Err(ErtError::Conflict {
                        file: file.into(),
                        field,
                        detail: format!(
                            "`{}` sets {entry} = {pj} pJ, but `{other}` set it to {before} pJ",
                            table.name
                        ),
                    });
                }
                continue;
            }
            *entry_mut(model, &entry) = EnergyEntry {
                pj,
                source: source.clone(),
            };
            setters.push((entry.clone(), table.name.clone(), pj));
            out.set.push((entry, pj, source));
        }
    }
    if out.set.is_empty() {
        return Err(ErtError::Empty { file: file.into() });
    }
    Ok(out)
}

/// The model's energy entry named `entry` (one of the names `import_ert`
/// builds).
fn entry_mut<'a>(m: &'a mut HwModel, entry: &str) -> &'a mut EnergyEntry {
    match entry {
        "energy.mac_pj" => &mut m.energy.mac_pj,
        "energy.add_pj" => &mut m.energy.add_pj,
        "energy.compare_pj" => &mut m.energy.compare_pj,
        "energy.lfsr_step_pj" => &mut m.energy.lfsr_step_pj,
        "sram.weight.read_energy_pj" => &mut m.sram.weight.read_energy_pj,
        "sram.weight.write_energy_pj" => &mut m.sram.weight.write_energy_pj,
        "sram.activation.read_energy_pj" => &mut m.sram.activation.read_energy_pj,
        "sram.activation.write_energy_pj" => &mut m.sram.activation.write_energy_pj,
        "sram.error.read_energy_pj" => &mut m.sram.error.read_energy_pj,
        "sram.error.write_energy_pj" => &mut m.sram.error.write_energy_pj,
        "sram.stash.read_energy_pj" => &mut m.sram.stash.read_energy_pj,
        "sram.stash.write_energy_pj" => &mut m.sram.stash.write_energy_pj,
        "rom.read_energy_pj" => &mut m.rom.read_energy_pj,
        "dram.read_energy_pj_per_byte" => &mut m.dram.read_energy_pj_per_byte,
        "dram.write_energy_pj_per_byte" => &mut m.dram.write_energy_pj_per_byte,
        "interconnect.energy_pj_per_word_hop" => &mut m.interconnect.energy_pj_per_word_hop,
        _ => unreachable!("import_ert names only these entries: {entry}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> HwModel {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
        super::super::load(&p).unwrap()
    }

    #[test]
    fn components_are_matched_by_their_last_segment() {
        assert_eq!(
            component_kind("system.core[0..3].weight_sram"),
            "weight_sram"
        );
        assert_eq!(component_kind("design.MAC[0..63]"), "mac");
        assert_eq!(component_kind("dram"), "dram");
    }

    #[test]
    fn an_ert_sets_its_entries_and_keeps_the_rest() {
        let mut m = model();
        let before = m.clone();
        let text = "ERT:\n  version: 0.3\n  tables:\n  - name: design.mac\n    actions:\n    - {name: mac_random, arguments: {}, energy: 3}\n    - {name: mac_gated, arguments: {}, energy: 0.1}\n  - name: design.weight_sram[0..2]\n    actions:\n    - {name: read, arguments: {address_delta: 0, data_delta: 1}, energy: 7}\n    - {name: read, arguments: {address_delta: 1, data_delta: 1}, energy: 9}\n    - {name: write, arguments: {}, energy: 8}\n    - {name: idle, arguments: {}, energy: 0}\n  - name: sys.DRAM\n    actions:\n    - {name: read, energy: 640}\n    - {name: write, energy: 1280}\n";
        let got = import_ert(&mut m, text, "e.yaml").unwrap();
        assert_eq!(m.energy.mac_pj.pj, 3.0);
        assert_eq!(m.energy.mac_pj.source, "ERT design.mac.mac_random");
        assert_eq!(m.sram.weight.read_energy_pj.pj, 9.0);
        assert!(
            m.sram.weight.read_energy_pj.source.contains("largest of 2"),
            "{}",
            m.sram.weight.read_energy_pj.source
        );
        assert_eq!(m.sram.weight.write_energy_pj.pj, 8.0);
        let burst = f64::from(m.dram.burst_bytes);
        assert_eq!(m.dram.read_energy_pj_per_byte.pj, 640.0 / burst);
        assert_eq!(m.dram.write_energy_pj_per_byte.pj, 1280.0 / burst);
        assert_eq!(got.set.len(), 5);
        // Everything else is the model's own.
        assert_eq!(m.sram.activation, before.sram.activation);
        assert_eq!(m.energy.add_pj, before.energy.add_pj);
        assert_eq!(m.rom, before.rom);
    }

    #[test]
    fn bad_erts_name_file_and_field() {
        let err = |text: &str| {
            import_ert(&mut model(), text, "e.yaml")
                .unwrap_err()
                .to_string()
        };
        let e = err("ERT:\n  version: 0.3\n  tables:\n  - name: design.cache\n    actions: []\n");
        assert!(
            e.starts_with("e.yaml: ERT.tables[0].name: component `design.cache`"),
            "{e}"
        );
        let e = err(
            "ERT:\n  version: 0.3\n  tables:\n  - name: m.mac\n    actions:\n    - {name: mac_random, energy: -1}\n",
        );
        assert!(
            e.starts_with("e.yaml: ERT.tables[0].actions[0].energy = -1"),
            "{e}"
        );
        let e = err(
            "ERT:\n  version: 0.3\n  tables:\n  - name: m.rom\n    actions:\n    - {name: idle, energy: 0}\n",
        );
        assert!(e.contains("has no `read` action (it has: idle)"), "{e}");
        let e = err("ERT: [1, 2");
        assert!(e.starts_with("e.yaml: not an Accelergy ERT ("), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = err("ERT:\n  version: 0.3\n  tables: []\n");
        assert!(e.contains("no component locus models"), "{e}");
        let two = "ERT:\n  version: 1\n  tables:\n  - name: a.mac\n    actions:\n    - {name: mac, energy: 1}\n  - name: b.mac\n    actions:\n    - {name: mac, energy: 2}\n";
        let e = err(two);
        assert!(
            e.contains("`b.mac` sets energy.mac_pj = 2 pJ, but `a.mac` set it to 1 pJ"),
            "{e}"
        );
    }
}
