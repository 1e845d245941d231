//! The fixed random classifier ROM of a hidden layer (local-error learning).
//!
//! Each hidden layer `l` with `n` units has a fixed `classes × n` matrix
//! `M_l`. Its entries have standard deviation about `1/sqrt(n)` (as the float
//! reference's `randn / sqrt(n)`), realised with a power-of-two scale so the
//! hardware needs no multiplier for it. Three storages (the model's
//! `rom.storage`):
//!
//! - `sign_bits`: one bit per entry (packed with `bitvec`); entry =
//!   `±2^-k` with `k = round(log2(sqrt(n)))`.
//! - `values` of `b` bits: a signed integer `r` uniform in
//!   `[-(2^(b-1)-1), 2^(b-1)-1]`; entry = `r · 2^-e` with
//!   `e = round(log2(sqrt(n · m(m+1)/3)))`, `m = 2^(b-1)-1` (so the std is
//!   about `1/sqrt(n)`).
//! - `lfsr`: nothing stored; each use regenerates the signs from a Galois LFSR
//!   (the rounding LFSR's polynomial) reseeded with the layer's seed, sign =
//!   bit 0 of each new state, row-major; entry = `±2^-k` as for sign bits.
//!   Every use costs `classes × n` generator steps and no ROM reads.

use super::model::RomStorage;
use crate::quant::{LFSR_MASK, galois_step};
use bitvec::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The contents of one layer's classifier ROM.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierRom {
    /// Rows: the number of classes.
    pub classes: usize,
    /// Columns: the layer's units.
    pub units: usize,
    /// How the entries are stored.
    pub storage: RomStorage,
    /// Entries of `sign_bits` and `lfsr` storages: `true` = negative.
    pub signs: BitVec<u64, Lsb0>,
    /// Entries of `values` storage: signed integers of `b` bits.
    pub values: Vec<i32>,
    /// Power-of-two exponent of the scale: entry = (±1 or r) · 2^-scale_shift.
    pub scale_shift: u32,
    /// Generator seed of `lfsr` storage (nonzero).
    pub lfsr_seed: u32,
}

/// `round(log2(x))` for `x >= 1`.
fn round_log2(x: f64) -> u32 {
    x.max(1.0).log2().round() as u32
}

impl ClassifierRom {
    /// Generates the ROM of a layer with `units` units for `classes` classes.
    /// `seed` is the host seed for this layer's ROM contents.
    pub fn generate(storage: RomStorage, classes: usize, units: usize, seed: u64) -> Self {
        Self::generate_with(storage, classes, units, seed, true)
    }

    /// As [`ClassifierRom::generate`]; with `contents = false` only the
    /// shape, scale and LFSR seed are set and no entry is drawn or stored
    /// (the count-only datapath, for which a ROM of a large layer would
    /// cost gigabytes and counts do not depend on its entries).
    pub fn generate_with(
        storage: RomStorage,
        classes: usize,
        units: usize,
        seed: u64,
        contents: bool,
    ) -> Self {
        let n = if contents { classes * units } else { 0 };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let lfsr_seed = (rng.random::<u32>() | 1).max(1);
        let sign_shift = round_log2((units as f64).sqrt());
        let mut rom = ClassifierRom {
            classes,
            units,
            storage,
            signs: BitVec::new(),
            values: Vec::new(),
            scale_shift: sign_shift,
            lfsr_seed,
        };
        match storage {
            RomStorage::SignBits => {
                rom.signs = (0..n).map(|_| rng.random::<bool>()).collect();
            }
            RomStorage::Values { bits } => {
                let m = (1i32 << (bits - 1)) - 1;
                rom.values = (0..n).map(|_| rng.random_range(-m..=m)).collect();
                let std_raw = ((m as f64) * (m as f64 + 1.0) / 3.0).sqrt();
                rom.scale_shift = round_log2(std_raw * (units as f64).sqrt());
            }
            RomStorage::Lfsr => {
                let mut s = lfsr_seed;
                rom.signs = (0..n)
                    .map(|_| {
                        s = galois_step(s, LFSR_MASK);
                        s & 1 == 1
                    })
                    .collect();
            }
        }
        rom
    }

    /// Number of entries, `classes × units`.
    pub fn entries(&self) -> u64 {
        (self.classes * self.units) as u64
    }

    /// Entry `i` (row-major) as a real value.
    pub fn real(&self, i: usize) -> f64 {
        let scale = (-(self.scale_shift as f64)).exp2();
        match self.storage {
            RomStorage::SignBits | RomStorage::Lfsr => {
                if self.signs[i] {
                    -scale
                } else {
                    scale
                }
            }
            RomStorage::Values { .. } => self.values[i] as f64 * scale,
        }
    }

    /// Smallest nonzero magnitude of an entry: what the classifier format
    /// must resolve (`2^-scale_shift`).
    pub fn resolution_needed(&self) -> f64 {
        (-(self.scale_shift as f64)).exp2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_rom_scale_and_balance() {
        let r = ClassifierRom::generate(RomStorage::SignBits, 10, 1024, 7);
        assert_eq!(r.scale_shift, 5); // sqrt(1024) = 32 = 2^5
        assert_eq!(r.entries(), 10240);
        let neg = r.signs.count_ones();
        assert!((4800..5440).contains(&neg), "{neg} negative signs");
        assert!((0..10240).all(|i| r.real(i).abs() == 1.0 / 32.0));
        assert_eq!(
            r,
            ClassifierRom::generate(RomStorage::SignBits, 10, 1024, 7)
        );
        assert_ne!(
            r,
            ClassifierRom::generate(RomStorage::SignBits, 10, 1024, 8)
        );
    }

    /// `k = round(log2(sqrt(n)))` rounds a tie away from zero, up: for
    /// `n = 2^(2j+1)` (2, 8, 32, ...) `log2(sqrt(n))` computes to `j + 1/2`
    /// (exactly, or for `n = 2` just above) and `k = j + 1`. The default
    /// 32-row layer gets `k = 3`, entries `±1/8` (docs/rules.md).
    #[test]
    fn sign_scale_rounds_a_tie_up() {
        for j in 0..12u32 {
            let n = 1usize << (2 * j + 1);
            let v = (n as f64).sqrt().log2();
            assert!(
                v >= j as f64 + 0.5 && v < j as f64 + 0.5 + 1e-12,
                "{n}: {v}"
            );
            for storage in [RomStorage::SignBits, RomStorage::Lfsr] {
                let r = ClassifierRom::generate_with(storage, 10, n, 1, false);
                assert_eq!(r.scale_shift, j + 1, "{n} units");
            }
        }
        let k = |n| ClassifierRom::generate(RomStorage::SignBits, 10, n, 1).scale_shift;
        let r = ClassifierRom::generate(RomStorage::SignBits, 10, 32, 1);
        assert_eq!(r.scale_shift, 3);
        assert!((0..320).all(|i| r.real(i).abs() == 0.125));
        // Either side of the tie: log2(sqrt(31)) = 2.48, log2(sqrt(33)) = 2.52.
        assert_eq!(k(31), 2);
        assert_eq!(k(33), 3);
    }

    #[test]
    fn value_rom_has_std_near_one_over_sqrt_n() {
        let r = ClassifierRom::generate(RomStorage::Values { bits: 4 }, 10, 256, 1);
        let var: f64 = (0..2560).map(|i| r.real(i).powi(2)).sum::<f64>() / 2560.0;
        let std = var.sqrt();
        // within a factor sqrt(2) of 1/16 (the power-of-two scale rounds)
        assert!(std > 1.0 / 16.0 / 1.5 && std < 1.5 / 16.0, "std {std}");
    }

    #[test]
    fn lfsr_rom_regenerates_from_its_seed() {
        let r = ClassifierRom::generate(RomStorage::Lfsr, 3, 16, 5);
        let mut s = r.lfsr_seed;
        for i in 0..48 {
            s = galois_step(s, LFSR_MASK);
            assert_eq!(r.signs[i], s & 1 == 1);
        }
    }
}
