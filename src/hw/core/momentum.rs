//! SGD with momentum: a velocity per weight and bias, the `update` tensor
//! class (an update held in memory), kept in the weight bank after the
//! layer's weights in the update format. Every update reads and writes the
//! whole velocity with the weights and adds twice per value (`v − 2^-m·v +
//! u`); the closed forms are in `docs/hw_model.md`, "Momentum", the
//! arithmetic in `docs/arithmetic.md`, "Momentum".

use super::{BankRole, Chip, ChipError, Fill};
use crate::hw::datapath::Datapath;
use crate::hw::trace_sink::TraceSink;

/// The largest momentum shift `m` (`μ = 1 − 2^-m`): `2^-15` is below any
/// 16-bit format's reach.
pub const MAX_MOMENTUM_SHIFT: u32 = 15;

/// Velocities of every layer, when momentum is on.
#[derive(Clone, Debug, Default)]
pub(super) struct Momentum<V> {
    /// `m` in `μ = 1 − 2^-m`.
    pub(super) shift: u32,
    /// Per layer: the `rows·cols` weights' velocities, then the `rows`
    /// biases'.
    pub(super) v: Vec<Vec<V>>,
    /// Per layer: the velocity's first word in the weight bank.
    pub(super) addr: Vec<u64>,
}

impl<D: Datapath, T: TraceSink> Chip<D, T> {
    /// Turns on momentum `μ = 1 − 2^-m` (`m` in 0..=15; `m = 0` is `μ = 0`,
    /// plain SGD with the velocity's traffic): every layer's velocity starts
    /// at zero and takes the weight-bank words after what the bank already
    /// holds. Dense layers only: a network with conv layers is refused.
    pub fn enable_momentum(&mut self, m: u32) -> Result<(), ChipError> {
        if m > MAX_MOMENTUM_SHIFT {
            return Err(ChipError::MomentumShift { shift: m });
        }
        if self.net.has_conv() {
            return Err(ChipError::MomentumOnConv);
        }
        let wbank = self.model.bank(BankRole::Weight).clone();
        let ub = self.model.formats.update.bits;
        let mut fill = self.fill.clone();
        let mut state = Momentum {
            shift: m,
            ..Momentum::default()
        };
        for i in 0..self.layers.len() {
            let (rows, cols) = (self.layers[i].rows, self.layers[i].cols);
            let n = rows * (cols + 1);
            let core = self.core_of[i];
            let (addr, need) = Fill::take(&mut fill.weight, core, wbank.words_for(n as u64, ub));
            if need > wbank.capacity_words() && !self.model.streams_weights() {
                return Err(ChipError::MomentumDoesNotFit {
                    layer: i,
                    rows,
                    cols,
                    need,
                    capacity: wbank.capacity_words(),
                });
            }
            state.addr.push(addr);
            let len = if D::COMPUTES_VALUES { n } else { 0 };
            state.v.push(vec![D::V::default(); len]);
        }
        self.fill = fill;
        self.momentum = Some(state);
        self.sync_weight_occupancy()
    }

    /// The momentum shift `m` (`μ = 1 − 2^-m`), when momentum is on.
    pub fn momentum_shift(&self) -> Option<u32> {
        self.momentum.as_ref().map(|s| s.shift)
    }
}
