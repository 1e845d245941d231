//! Outputs for RTL designers: access traces fed by the counted primitives
//! and golden vectors of training steps (`docs/formats.md`).
//!
//! The access-trace writers are [`crate::hw::trace_sink::TraceSink`]s: a
//! traced run ([`crate::sim::run_traced`]) hands every counted access burst
//! and primitive call to one of them as it happens, and it streams its
//! output to an `impl Write` (nothing is kept for the whole run):
//!
//! - [`events::EventWriter`] — one CSV or JSONL row per access burst;
//! - [`scalesim::ScaleSimWriter`] — per core, bank and direction, SCALE-Sim's
//!   `cycle,addr,addr,...` rows at the bank's port width;
//! - [`vcd::VcdWindow`] — a value change dump of the cores' ports for a
//!   window of cycles (kept in memory for the window only).

pub mod events;
pub mod golden;
pub mod scalesim;
pub mod vcd;

use crate::hw::counters::{Class, Phase, Rw};
use crate::hw::trace_sink::{AccessEvent, Bank, OpEvent, TraceSink, Values};
use std::io::{self, Write};

/// An [`AccessEvent`] without its data, owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Issue cycle.
    pub cycle: u64,
    /// Layer.
    pub layer: u32,
    /// Core.
    pub core: u32,
    /// Memory.
    pub bank: Bank,
    /// Direction.
    pub rw: Rw,
    /// First address.
    pub addr: u64,
    /// Words.
    pub words: u64,
    /// Tensor class.
    pub class: Class,
    /// Phase.
    pub phase: Phase,
}

impl From<&AccessEvent<'_>> for Access {
    fn from(e: &AccessEvent<'_>) -> Self {
        Access {
            cycle: e.cycle,
            layer: e.layer,
            core: e.core,
            bank: e.bank,
            rw: e.rw,
            addr: e.addr,
            words: e.words,
            class: e.class,
            phase: e.phase,
        }
    }
}

/// A sink that keeps every event in memory: for tests and small runs.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    /// Access bursts in issue order.
    pub accesses: Vec<Access>,
    /// Primitive calls and received transfers in issue order.
    pub ops: Vec<OpEvent>,
}

impl TraceSink for Recorder {
    const ENABLED: bool = true;
    fn access(&mut self, ev: &AccessEvent<'_>) {
        self.accesses.push(ev.into());
    }
    fn op(&mut self, op: &OpEvent) {
        self.ops.push(*op);
    }
}

/// Feeds two sinks.
#[derive(Clone, Debug, Default)]
pub struct Tee<A, B>(pub A, pub B);

impl<A: TraceSink, B: TraceSink> TraceSink for Tee<A, B> {
    const ENABLED: bool = A::ENABLED || B::ENABLED;
    fn wants_data(&self) -> bool {
        self.0.wants_data() || self.1.wants_data()
    }
    fn access(&mut self, ev: &AccessEvent<'_>) {
        self.0.access(ev);
        self.1.access(ev);
    }
    fn op(&mut self, op: &OpEvent) {
        self.0.op(op);
        self.1.op(op);
    }
    fn preload(&mut self, core: u32, bank: Bank, addr: u64, data: Values<'_>) {
        self.0.preload(core, bank, addr, data);
        self.1.preload(core, bank, addr, data);
    }
    fn done(&self) -> bool {
        self.0.done() && self.1.done()
    }
}

/// A writer that only counts the bytes written to it (size estimates).
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingWriter {
    /// Bytes written so far.
    pub bytes: u64,
}

impl Write for CountingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Packs `raw` values of `bits` bits into words of `word_bits` bits by the
/// packing rule of `docs/hw_model.md`, appending each word as
/// `ceil(word_bits / 64)` little-endian 64-bit limbs to `out`. A value never
/// straddles a word: with `bits <= word_bits`, value `k` of a word occupies
/// bits `[k·bits, (k+1)·bits)` and the leftover high bits are 0; a wider
/// value takes `ceil(bits / word_bits)` words of its own, low part first.
/// Returns the number of words.
pub fn pack_words(raw: &[i64], bits: u32, word_bits: u32, out: &mut Vec<u64>) -> u64 {
    /// Ors the low `n <= 64` bits of `v` into bit `bit` of word `word`.
    fn set(buf: &mut [u64], limbs: usize, word: usize, bit: u32, v: u64, n: u32) {
        let (limb, off) = (word * limbs + (bit / 64) as usize, bit % 64);
        buf[limb] |= v << off;
        if off + n > 64 {
            buf[limb + 1] |= v >> (64 - off);
        }
    }
    let low = |n: u32| if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    let limbs = word_bits.div_ceil(64) as usize;
    let start = out.len();
    if bits <= word_bits {
        let per_word = (word_bits / bits) as usize;
        let words = raw.len().div_ceil(per_word);
        out.resize(start + words * limbs, 0);
        let buf = &mut out[start..];
        for (k, &r) in raw.iter().enumerate() {
            let slot = (k % per_word) as u32;
            set(
                buf,
                limbs,
                k / per_word,
                slot * bits,
                r as u64 & low(bits),
                bits,
            );
        }
        words as u64
    } else {
        let per_value = bits.div_ceil(word_bits) as usize;
        let words = raw.len() * per_value;
        out.resize(start + words * limbs, 0);
        let buf = &mut out[start..];
        for (k, &r) in raw.iter().enumerate() {
            let v = r as u64 & low(bits);
            for q in 0..per_value {
                let shift = q as u32 * word_bits;
                let part = if shift >= 64 {
                    0
                } else {
                    (v >> shift) & low(word_bits)
                };
                set(buf, limbs, k * per_value + q, 0, part, word_bits.min(64));
            }
        }
        words as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_four_16_bit_values_per_64_bit_word() {
        let mut out = Vec::new();
        let n = pack_words(&[1, -1, 2, 3, 4], 16, 64, &mut out);
        assert_eq!(n, 2);
        assert_eq!(out, vec![0x0003_0002_ffff_0001, 4]);
    }

    #[test]
    fn packs_across_limbs_and_leaves_leftover_bits_zero() {
        // 24-bit values in 64-bit words: two per word, 16 bits unused.
        let mut out = Vec::new();
        assert_eq!(pack_words(&[-1, 5, 7], 24, 64, &mut out), 2);
        assert_eq!(out, vec![0x0000_0000_05ff_ffff, 7]);
        // 16-bit values in 512-bit words: 32 per word, 8 limbs.
        let raw: Vec<i64> = (0..33).collect();
        let mut out = Vec::new();
        assert_eq!(pack_words(&raw, 16, 512, &mut out), 2);
        assert_eq!(out.len(), 16);
        assert_eq!(out[1], 0x0007_0006_0005_0004);
        assert_eq!(out[8], 32);
    }

    #[test]
    fn wide_values_take_whole_words_low_part_first() {
        let mut out = Vec::new();
        assert_eq!(pack_words(&[-2], 16, 8, &mut out), 2);
        assert_eq!(out, vec![0xfe, 0xff]);
    }
}
