//! What the counted primitives tell a trace: one [`AccessEvent`] per counted
//! access burst and one [`OpEvent`] per primitive call, with the cycle at
//! which the core issues it. The chip is generic over its [`TraceSink`];
//! with [`NoTrace`] (the default) `ENABLED` is `false` and every emission,
//! address computation and cycle bookkeeping is compiled away.
//!
//! The writers (event CSV/JSONL, SCALE-Sim-style CSV, VCD) live in
//! [`crate::trace`]; the field-by-field formats, the address layout and the
//! cycle schedule are specified in `docs/formats.md` ("Access traces").

use super::counters::{Class, Phase, Rw, Unit};
use std::fmt;

/// The memory an access goes to: a core's four SRAM banks and classifier
/// ROM (named as [`Unit`]), off-chip DRAM, or the interconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bank {
    /// Weight bank.
    Weight,
    /// Activation bank.
    Activation,
    /// Error bank.
    Error,
    /// Activation stash bank.
    Stash,
    /// Classifier ROM.
    Rom,
    /// Off-chip DRAM (addresses and sizes in bytes).
    Dram,
    /// Interconnect link (sizes in link words).
    Noc,
}

impl Bank {
    /// Every bank, in index order.
    pub const ALL: [Bank; 7] = [
        Bank::Weight,
        Bank::Activation,
        Bank::Error,
        Bank::Stash,
        Bank::Rom,
        Bank::Dram,
        Bank::Noc,
    ];
    /// Number of banks.
    pub const COUNT: usize = Self::ALL.len();

    /// The name used in traces (the report's `unit` name for on-chip memories).
    pub const fn name(self) -> &'static str {
        match self {
            Bank::Weight => "weight",
            Bank::Activation => "activation",
            Bank::Error => "error",
            Bank::Stash => "stash",
            Bank::Rom => "rom",
            Bank::Dram => "dram",
            Bank::Noc => "noc",
        }
    }

    /// Dense index.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The counter unit of an on-chip memory, `None` for DRAM and the link.
    pub const fn unit(self) -> Option<Unit> {
        match self {
            Bank::Weight => Some(Unit::Weight),
            Bank::Activation => Some(Unit::Activation),
            Bank::Error => Some(Unit::Error),
            Bank::Stash => Some(Unit::Stash),
            Bank::Rom => Some(Unit::Rom),
            Bank::Dram | Bank::Noc => None,
        }
    }

    /// The bank of a counter unit.
    pub const fn from_unit(u: Unit) -> Bank {
        match u {
            Unit::Weight => Bank::Weight,
            Unit::Activation => Bank::Activation,
            Unit::Error => Bank::Error,
            Unit::Stash => Bank::Stash,
            Unit::Rom => Bank::Rom,
        }
    }
}

impl fmt::Display for Bank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Values written by a burst, in element order from the first word of the
/// burst: two's-complement raw integers of `bits` bits each, packed into the
/// bank's words by the packing rule of `docs/hw_model.md` (value `k` of a
/// word in bits `[k·bits, (k+1)·bits)`, least significant first).
#[derive(Clone, Copy, Debug)]
pub struct Values<'a> {
    /// Raw values (the integer `r` of `r / 2^frac`).
    pub raw: &'a [i64],
    /// Element width in bits.
    pub bits: u32,
}

/// One counted access burst: `words` consecutive words from `addr` of one
/// memory, issued by core `core` at `cycle`.
#[derive(Clone, Copy, Debug)]
pub struct AccessEvent<'a> {
    /// Cycle of the burst's first word on the core's schedule.
    pub cycle: u64,
    /// Layer the data belongs to.
    pub layer: u32,
    /// Core whose counters count the access.
    pub core: u32,
    /// The memory.
    pub bank: Bank,
    /// Direction.
    pub rw: Rw,
    /// First word address within the bank (bytes for DRAM; the receiving
    /// core for the interconnect).
    pub addr: u64,
    /// Words (bytes for DRAM, link words for the interconnect).
    pub words: u64,
    /// Tensor class.
    pub class: Class,
    /// Training phase.
    pub phase: Phase,
    /// Values of a write, when the sink asked for them
    /// ([`TraceSink::wants_data`]) and the arithmetic is fixed point.
    pub data: Option<Values<'a>>,
}

/// What kind of work an [`OpEvent`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// A counted primitive of the chip (forward, update, ...).
    Primitive(&'static str),
    /// A core writing data another core sent it (activations, errors).
    Receive,
}

/// One primitive call (or received transfer) occupying a core from `cycle`
/// for `cycles` cycles, its MAC array busy for the first `mac_cycles`.
#[derive(Clone, Copy, Debug)]
pub struct OpEvent {
    /// First cycle.
    pub cycle: u64,
    /// Cycles the core is busy, fixed latencies included.
    pub cycles: u64,
    /// Cycles the MAC lanes are busy, `ceil(MACs / mac_lanes)`.
    pub mac_cycles: u64,
    /// The core.
    pub core: u32,
    /// The layer it works on.
    pub layer: u32,
    /// Training phase.
    pub phase: Phase,
    /// Which primitive.
    pub kind: OpKind,
}

/// Receives the chip's access and operation events.
pub trait TraceSink {
    /// `false` compiles every emission and the cycle schedule away.
    const ENABLED: bool;

    /// Whether write events should carry their values (costly; the VCD
    /// writer needs them for its data ports). Asked once per write burst.
    fn wants_data(&self) -> bool {
        false
    }

    /// One counted access burst.
    fn access(&mut self, ev: &AccessEvent<'_>);

    /// One primitive call or received transfer.
    fn op(&mut self, op: &OpEvent);

    /// Initial contents of an on-chip memory when the chip is built
    /// (weights and biases, classifier ROM), asked only when
    /// [`TraceSink::wants_data`] is true. Not an access: not counted.
    fn preload(&mut self, _core: u32, _bank: Bank, _addr: u64, _data: Values<'_>) {}

    /// Whether the sink has everything it needs; the training loop then
    /// stops early (used by a VCD window that has ended).
    fn done(&self) -> bool {
        false
    }
}

/// The sink of an untraced run: zero-sized, every method empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTrace;

impl TraceSink for NoTrace {
    const ENABLED: bool = false;
    #[inline(always)]
    fn access(&mut self, _ev: &AccessEvent<'_>) {}
    #[inline(always)]
    fn op(&mut self, _op: &OpEvent) {}
}

impl<S: TraceSink> TraceSink for &mut S {
    const ENABLED: bool = S::ENABLED;
    fn wants_data(&self) -> bool {
        (**self).wants_data()
    }
    fn access(&mut self, ev: &AccessEvent<'_>) {
        (**self).access(ev)
    }
    fn op(&mut self, op: &OpEvent) {
        (**self).op(op)
    }
    fn preload(&mut self, core: u32, bank: Bank, addr: u64, data: Values<'_>) {
        (**self).preload(core, bank, addr, data)
    }
    fn done(&self) -> bool {
        (**self).done()
    }
}
