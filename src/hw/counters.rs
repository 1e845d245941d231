//! Statistics: plain counters of every access the counted primitives make.
//! Spec (the model), state (the chip) and stats (this) are three things:
//! reports and the energy / timing estimates read only these counters.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident => $s:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),* }
        impl $name {
            /// Every value, in index order.
            pub const ALL: &'static [$name] = &[$($name::$v),*];
            /// Number of values.
            pub const COUNT: usize = Self::ALL.len();
            /// The name used in reports and traces.
            pub const fn name(self) -> &'static str {
                match self { $($name::$v => $s),* }
            }
            /// Dense index for counter arrays.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

named_enum! {
    /// Phase of a training step in which an access happens.
    Phase {
        /// Inference-direction pass (and the input load).
        Forward => "forward",
        /// Local error: classifier projection and the layer's own error.
        LocalError => "local_error",
        /// Backprop's backward pass (including recomputation and unstash).
        Backward => "backward",
        /// Weight update (read-modify-write of weights and biases).
        Update => "update",
    }
}

named_enum! {
    /// Tensor class of the data accessed.
    Class {
        /// Weights and biases.
        Weight => "weight",
        /// Layer inputs and outputs.
        Activation => "activation",
        /// Error signals.
        Error => "error",
        /// Weight updates held in memory: momentum's velocities (otherwise
        /// an update is applied as it is computed and never stored).
        Update => "update",
        /// Classifier entries: the local rules' fixed random classifiers and
        /// the fixed feedback matrices (ROM), and learned classifiers (SRAM).
        Classifier => "classifier",
        /// Class labels.
        Label => "label",
    }
}

named_enum! {
    /// A memory of one core: its four SRAM banks and its classifier ROM.
    Unit {
        /// Weight bank.
        Weight => "weight",
        /// Activation bank (input and output of the sample in flight).
        Activation => "activation",
        /// Error bank.
        Error => "error",
        /// Activation stash (kept for a later phase).
        Stash => "stash",
        /// ROM: fixed random classifiers and feedback matrices.
        Rom => "rom",
    }
}

named_enum! {
    /// Direction of an access.
    Rw {
        /// Read.
        Read => "read",
        /// Write.
        Write => "write",
    }
}

impl Rw {
    /// The other direction.
    pub const fn other(self) -> Rw {
        match self {
            Rw::Read => Rw::Write,
            Rw::Write => Rw::Read,
        }
    }
}

impl Unit {
    /// The SRAM bank role of this unit, `None` for the ROM.
    pub const fn bank_role(self) -> Option<super::BankRole> {
        match self {
            Unit::Weight => Some(super::BankRole::Weight),
            Unit::Activation => Some(super::BankRole::Activation),
            Unit::Error => Some(super::BankRole::Error),
            Unit::Stash => Some(super::BankRole::Stash),
            Unit::Rom => None,
        }
    }
}

const NU: usize = Unit::COUNT;
const NC: usize = Class::COUNT;
const NP: usize = Phase::COUNT;

/// Every counter of one core (one layer with `core_per_layer`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoreCounts {
    /// Words accessed, `[unit][class][phase][rw]`.
    pub words: [[[[u64; 2]; NP]; NC]; NU],
    /// Multiply-accumulates per phase.
    pub macs: [u64; NP],
    /// Rounding-LFSR draws (stochastic rounding) per phase.
    pub lfsr_draws: [u64; NP],
    /// Classifier-generator LFSR steps (ROM storage `lfsr`) per phase.
    pub rom_generator_steps: [u64; NP],
    /// DRAM bytes, `[phase][rw]`.
    pub dram_bytes: [[u64; 2]; NP],
    /// DRAM bursts, `[phase][rw]`.
    pub dram_bursts: [[u64; 2]; NP],
    /// DRAM bytes by tensor class, `[class][rw]`: activations (inputs and
    /// the stash's spills) and, on a core that streams its weights, the
    /// weight bank's classes (weight, classifier, update). Sums to
    /// `dram_bytes` over phases.
    #[serde(default)]
    pub dram_class_bytes: [[u64; 2]; NC],
    /// Interconnect words sent by this core, per phase and class.
    pub noc_words: [[u64; NC]; NP],
    /// Interconnect word-hops sent by this core, per phase.
    pub noc_word_hops: [u64; NP],
    /// Comparisons of the pooling unit (max pooling) per phase.
    #[serde(default)]
    pub compares: [u64; NP],
    /// Additions of the pooling unit (average pooling) per phase.
    #[serde(default)]
    pub adds: [u64; NP],
    /// Fixed latencies paid by this core's operations, in cycles, per phase.
    pub latency_cycles: [u64; NP],
    /// Stash words held now (SRAM part).
    pub stash_words_now: u64,
    /// Peak stash words held in SRAM.
    pub stash_peak_words: u64,
    /// Stash bytes held in DRAM now (spilled).
    pub spill_bytes_now: u64,
    /// Peak stash bytes held in DRAM.
    pub spill_peak_bytes: u64,
    /// Peak words of the activation bank (input + output of one sample).
    pub activation_peak_words: u64,
    /// Words of the weight bank in use (weights and biases, learned
    /// classifiers, velocities); on a core that streams them, the whole
    /// bank (its tile buffer).
    pub weight_words: u64,
    /// Words of weight-bank contents kept in DRAM and streamed, on a core
    /// whose bank cannot hold them (0 otherwise).
    #[serde(default)]
    pub streamed_weight_words: u64,
    /// Peak words of the error bank.
    pub error_peak_words: u64,
}

/// A total of counters (over classes, phases, cores or repeated runs) that
/// does not fit the 64 bits of a counter: names the counter and gives the
/// exact value. Totals are checked rather than wrapped or saturated, so a
/// report never holds a silently wrong count.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("counter `{counter}` overflows 64 bits: its total is {value}, above 2^64 - 1")]
pub struct CountOverflow {
    /// The counter or total, e.g. `macs[forward]` or `totals.sram_bytes.read`.
    pub counter: String,
    /// Its exact value (a sum or product of 64-bit counts fits 128 bits).
    pub value: u128,
}

/// `value` as a `u64`, or a [`CountOverflow`] naming `counter` (built only
/// on error).
pub fn fit_u64(counter: impl FnOnce() -> String, value: u128) -> Result<u64, CountOverflow> {
    u64::try_from(value).map_err(|_| CountOverflow {
        counter: counter(),
        value,
    })
}

/// The exact sum of 64-bit counts, in 128 bits: fewer than 2^64 terms
/// cannot overflow it.
pub fn wide_sum(values: impl IntoIterator<Item = u64>) -> u128 {
    values.into_iter().map(u128::from).sum()
}

impl CoreCounts {
    /// Adds `words` to one counter.
    ///
    /// Plain `+=` (it wraps in a release build) is safe here and in the
    /// other per-call increments of the counted primitives: one call adds a
    /// closed-form count bounded by the network's sizes, at most a small
    /// multiple of 2^48 ([`crate::net::spec::MAX_TENSOR_VALUES`]), and
    /// the simulator touches (computes, copies or draws for) every value it
    /// counts, at most 8 bytes or a core count of hops per counted value.
    /// A counter reaching 2^64 would therefore take the host at least 2^60
    /// operations, over 30 years at 10^9 a second; a debug build's overflow
    /// check catches it anyway. Totals formed over counters, cores, phases
    /// or repeated runs are another matter: they use the checked helpers
    /// below, [`CoreCounts::checked_add`] and [`CoreCounts::checked_scale`].
    #[inline]
    pub fn add_words(&mut self, unit: Unit, class: Class, phase: Phase, rw: Rw, words: u64) {
        self.words[unit.index()][class.index()][phase.index()][rw.index()] += words;
    }

    /// One counter.
    pub fn get_words(&self, unit: Unit, class: Class, phase: Phase, rw: Rw) -> u64 {
        self.words[unit.index()][class.index()][phase.index()][rw.index()]
    }

    /// Words of `unit` in direction `rw`, summed over classes and phases;
    /// an error names `words[unit][*][*][rw]` if the sum passes 64 bits.
    pub fn unit_words(&self, unit: Unit, rw: Rw) -> Result<u64, CountOverflow> {
        let sum = wide_sum(
            self.words[unit.index()]
                .iter()
                .flat_map(|c| c.iter())
                .map(|p| p[rw.index()]),
        );
        fit_u64(|| format!("words[{unit}][*][*][{rw}]"), sum)
    }

    /// Words of `unit` in `phase` and direction `rw`, all classes; an error
    /// names `words[unit][*][phase][rw]` if the sum passes 64 bits.
    pub fn unit_phase_words(&self, unit: Unit, phase: Phase, rw: Rw) -> Result<u64, CountOverflow> {
        let sum = wide_sum(
            self.words[unit.index()]
                .iter()
                .map(|c| c[phase.index()][rw.index()]),
        );
        fit_u64(|| format!("words[{unit}][*][{phase}][{rw}]"), sum)
    }

    /// Words of `class` in direction `rw` over every SRAM bank (not the
    /// ROM); an error names `words[sram][class][*][rw]` past 64 bits.
    pub fn class_sram_words(&self, class: Class, rw: Rw) -> Result<u64, CountOverflow> {
        let sum = wide_sum(
            Unit::ALL
                .iter()
                .filter(|u| **u != Unit::Rom)
                .flat_map(|u| self.words[u.index()][class.index()].iter())
                .map(|p| p[rw.index()]),
        );
        fit_u64(|| format!("words[sram][{class}][*][{rw}]"), sum)
    }

    /// Total DRAM bytes in direction `rw`; an error names
    /// `dram_bytes[*][rw]` past 64 bits.
    pub fn dram_total(&self, rw: Rw) -> Result<u64, CountOverflow> {
        let sum = wide_sum(self.dram_bytes.iter().map(|p| p[rw.index()]));
        fit_u64(|| format!("dram_bytes[*][{rw}]"), sum)
    }

    /// The counts of `self` and `other` together (e.g. two runs on the same
    /// core): every event counter (words, MACs, LFSR draws and steps, DRAM
    /// bytes and bursts, interconnect words and hops, pooling operations,
    /// latency cycles) is added, checked; the occupancy levels and peaks
    /// (`stash_words_now`, `stash_peak_words`, `spill_bytes_now`,
    /// `spill_peak_bytes`, `activation_peak_words`, `weight_words`,
    /// `error_peak_words`) are the larger of the two, since storage is
    /// reused, not added. An error names the first counter whose sum passes
    /// 64 bits, e.g. `macs[forward]`.
    pub fn checked_add(&self, other: &CoreCounts) -> Result<CoreCounts, CountOverflow> {
        let mut out = self.combine(other, |a, b| u128::from(a) + u128::from(b))?;
        out.stash_words_now = self.stash_words_now.max(other.stash_words_now);
        out.stash_peak_words = self.stash_peak_words.max(other.stash_peak_words);
        out.spill_bytes_now = self.spill_bytes_now.max(other.spill_bytes_now);
        out.spill_peak_bytes = self.spill_peak_bytes.max(other.spill_peak_bytes);
        out.activation_peak_words = self.activation_peak_words.max(other.activation_peak_words);
        out.weight_words = self.weight_words.max(other.weight_words);
        out.streamed_weight_words = self.streamed_weight_words.max(other.streamed_weight_words);
        out.error_peak_words = self.error_peak_words.max(other.error_peak_words);
        Ok(out)
    }

    /// These counts repeated `n` times (e.g. one batch's counts extrapolated
    /// to a whole training run): every event counter multiplied by `n`,
    /// checked, the occupancy levels and peaks kept as they are. An error
    /// names the first counter whose product passes 64 bits, with the exact
    /// product.
    pub fn checked_scale(&self, n: u64) -> Result<CoreCounts, CountOverflow> {
        self.combine(self, |a, _| u128::from(a) * u128::from(n))
    }

    /// Applies `op` to every event counter of `self` and the matching one of
    /// `other`, fitting each result in 64 bits; occupancy fields are
    /// `self`'s.
    fn combine(
        &self,
        other: &CoreCounts,
        op: impl Fn(u64, u64) -> u128,
    ) -> Result<CoreCounts, CountOverflow> {
        let mut out = self.clone();
        let go = |dst: &mut u64, b: u64, name: &dyn Fn() -> String| -> Result<(), CountOverflow> {
            *dst = fit_u64(name, op(*dst, b))?;
            Ok(())
        };
        for &u in Unit::ALL {
            for &c in Class::ALL {
                for &p in Phase::ALL {
                    for &rw in Rw::ALL {
                        let (ui, ci, pi, ri) = (u.index(), c.index(), p.index(), rw.index());
                        go(
                            &mut out.words[ui][ci][pi][ri],
                            other.words[ui][ci][pi][ri],
                            &|| format!("words[{u}][{c}][{p}][{rw}]"),
                        )?;
                    }
                }
            }
        }
        for &p in Phase::ALL {
            let i = p.index();
            for (name, dst, b) in [
                ("macs", &mut out.macs[i], other.macs[i]),
                ("lfsr_draws", &mut out.lfsr_draws[i], other.lfsr_draws[i]),
                (
                    "rom_generator_steps",
                    &mut out.rom_generator_steps[i],
                    other.rom_generator_steps[i],
                ),
                (
                    "noc_word_hops",
                    &mut out.noc_word_hops[i],
                    other.noc_word_hops[i],
                ),
                ("compares", &mut out.compares[i], other.compares[i]),
                ("adds", &mut out.adds[i], other.adds[i]),
                (
                    "latency_cycles",
                    &mut out.latency_cycles[i],
                    other.latency_cycles[i],
                ),
            ] {
                go(dst, b, &|| format!("{name}[{p}]"))?;
            }
            for &rw in Rw::ALL {
                let r = rw.index();
                go(&mut out.dram_bytes[i][r], other.dram_bytes[i][r], &|| {
                    format!("dram_bytes[{p}][{rw}]")
                })?;
                go(&mut out.dram_bursts[i][r], other.dram_bursts[i][r], &|| {
                    format!("dram_bursts[{p}][{rw}]")
                })?;
            }
            for &c in Class::ALL {
                let k = c.index();
                go(&mut out.noc_words[i][k], other.noc_words[i][k], &|| {
                    format!("noc_words[{p}][{c}]")
                })?;
            }
        }
        for &c in Class::ALL {
            for &rw in Rw::ALL {
                let (k, r) = (c.index(), rw.index());
                go(
                    &mut out.dram_class_bytes[k][r],
                    other.dram_class_bytes[k][r],
                    &|| format!("dram_class_bytes[{c}][{rw}]"),
                )?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts with a distinct small value in every field.
    fn sample() -> CoreCounts {
        let mut c = CoreCounts::default();
        let mut v = 1u64;
        let mut next = || {
            v += 7;
            v
        };
        for u in &mut c.words {
            for cl in u {
                for p in cl {
                    for x in p {
                        *x = next();
                    }
                }
            }
        }
        for p in 0..NP {
            c.macs[p] = next();
            c.lfsr_draws[p] = next();
            c.rom_generator_steps[p] = next();
            c.noc_word_hops[p] = next();
            c.compares[p] = next();
            c.adds[p] = next();
            c.latency_cycles[p] = next();
            c.dram_bytes[p] = [next(), next()];
            c.dram_bursts[p] = [next(), next()];
            for k in 0..NC {
                c.noc_words[p][k] = next();
            }
        }
        for k in 0..NC {
            c.dram_class_bytes[k] = [next(), next()];
        }
        c.stash_peak_words = 40;
        c.weight_words = 50;
        c.streamed_weight_words = 60;
        c
    }

    #[test]
    fn checked_scale_is_exact_and_names_the_overflowing_counter() {
        let c = sample();
        let n = 1_000_000u64;
        let s = c.checked_scale(n).unwrap();
        // Every event counter scales exactly; peaks and levels stay.
        let mut want = c.clone();
        want.words
            .iter_mut()
            .flatten()
            .flatten()
            .flatten()
            .for_each(|x| *x *= n);
        for p in 0..NP {
            for a in [
                &mut want.macs,
                &mut want.lfsr_draws,
                &mut want.rom_generator_steps,
                &mut want.noc_word_hops,
                &mut want.compares,
                &mut want.adds,
                &mut want.latency_cycles,
            ] {
                a[p] *= n;
            }
            want.dram_bytes[p].iter_mut().for_each(|x| *x *= n);
            want.dram_bursts[p].iter_mut().for_each(|x| *x *= n);
            want.noc_words[p].iter_mut().for_each(|x| *x *= n);
        }
        want.dram_class_bytes
            .iter_mut()
            .flatten()
            .for_each(|x| *x *= n);
        assert_eq!(s, want);
        assert_eq!(s.streamed_weight_words, 60);
        assert_eq!((s.stash_peak_words, s.weight_words), (40, 50));
        assert_eq!(c.checked_scale(1).unwrap(), c);

        // A count near u64::MAX scaled by 2.
        let mut big = c.clone();
        big.macs[Phase::Backward.index()] = u64::MAX - 1;
        let e = big.checked_scale(2).unwrap_err();
        assert_eq!(e.counter, "macs[backward]");
        assert_eq!(e.value, 2 * u128::from(u64::MAX - 1));
        assert!(e.to_string().contains("`macs[backward]`"), "{e}");
        assert!(e.to_string().contains("36893488147419103228"), "{e}");

        let mut big = c.clone();
        big.add_words(
            Unit::Stash,
            Class::Activation,
            Phase::Forward,
            Rw::Write,
            u64::MAX / 2 + 1,
        );
        let e = big.checked_scale(2).unwrap_err();
        assert_eq!(e.counter, "words[stash][activation][forward][write]");
    }

    #[test]
    fn checked_add_adds_events_and_keeps_peaks() {
        let (a, mut b) = (sample(), sample());
        b.stash_peak_words = 70;
        b.weight_words = 5;
        let s = a.checked_add(&b).unwrap();
        assert_eq!(s.macs[0], 2 * a.macs[0]);
        assert_eq!(s.words[3][1][2][1], 2 * a.words[3][1][2][1]);
        assert_eq!((s.stash_peak_words, s.weight_words), (70, 50));
        let doubled = a.checked_scale(2).unwrap();
        assert_eq!(s.dram_bytes, doubled.dram_bytes);
        assert_eq!(s.noc_words, doubled.noc_words);

        let mut h = a.clone();
        h.dram_bytes[Phase::Update.index()][Rw::Read.index()] = u64::MAX / 2 + 1;
        let e = h.checked_add(&h).unwrap_err();
        assert_eq!(e.counter, "dram_bytes[update][read]");
        assert_eq!(e.value, 1u128 << 64);
    }

    #[test]
    fn sums_within_a_core_are_checked() {
        let mut c = CoreCounts::default();
        c.add_words(
            Unit::Weight,
            Class::Weight,
            Phase::Forward,
            Rw::Read,
            u64::MAX / 2 + 1,
        );
        c.add_words(
            Unit::Weight,
            Class::Error,
            Phase::Update,
            Rw::Read,
            u64::MAX / 2 + 1,
        );
        let e = c.unit_words(Unit::Weight, Rw::Read).unwrap_err();
        assert_eq!(e.counter, "words[weight][*][*][read]");
        assert_eq!(e.value, 1u128 << 64);
        assert_eq!(c.unit_words(Unit::Weight, Rw::Write), Ok(0));
        assert_eq!(
            c.unit_phase_words(Unit::Weight, Phase::Forward, Rw::Read),
            Ok(u64::MAX / 2 + 1)
        );
        c.add_words(
            Unit::Stash,
            Class::Weight,
            Phase::Forward,
            Rw::Read,
            u64::MAX / 2 + 1,
        );
        let e = c.class_sram_words(Class::Weight, Rw::Read).unwrap_err();
        assert_eq!(e.counter, "words[sram][weight][*][read]");
        c.dram_bytes[0][0] = u64::MAX;
        c.dram_bytes[1][0] = 1;
        assert_eq!(
            c.dram_total(Rw::Read).unwrap_err().counter,
            "dram_bytes[*][read]"
        );
    }
}
