//! The value-free datapath of `locus estimate`: every value is `()`, a
//! zero-sized type, so a tensor of any length allocates nothing and every
//! operation is a no-op. The chip's counted primitives run unchanged on it —
//! the counts are closed forms of the shapes, never of the values — so a
//! rule driven through a chip with this datapath counts exactly what the
//! same rule counts when it trains in fixed point. It models the fixed-point
//! chip (`ROUNDS_FIXED_POINT`: stochastic formats draw the rounding LFSR and
//! those draws are counted); it computes nothing, so what depends on values
//! (accuracy, overflow events, update rounding) is not known and reads as
//! zero.

use super::{
    Activation, Datapath, DatapathError, DatapathState, FixedDatapath, Matrix, OverflowByClass,
    UpdateRounding,
};
use crate::hw::model::{HwModel, TensorClass};
use crate::net::spec::ConvGeom;

/// The count-only datapath (values `()`).
pub struct CountDatapath {
    /// The fixed-point datapath the counts stand for, consulted only for
    /// what it would refuse (formats, the learning rate, conv shifts); its
    /// tensors are never allocated.
    fixed: FixedDatapath<i32>,
}

impl CountDatapath {
    /// A count-only stand-in for the fixed-point datapath of `model` at
    /// learning rate `2^-lr_shift`: refused where that one is.
    pub fn new(model: &HwModel, lr_shift: u32) -> Result<Self, DatapathError> {
        Ok(CountDatapath {
            fixed: FixedDatapath::new(model, lr_shift)?,
        })
    }
}

impl Datapath for CountDatapath {
    type V = ();
    type Coef = ();

    const ROUNDS_FIXED_POINT: bool = true;
    const HAS_RAW_VALUES: bool = false;
    const COMPUTES_VALUES: bool = false;

    fn encode_real(&mut self, _: TensorClass, _: f64) {}
    fn decode_real(&self, _: TensorClass, _: ()) -> f64 {
        0.0
    }
    fn load_pixels(&self, _: &[u8], _: &mut [()]) {}
    fn matvec(&mut self, _: &[()], _: &[()], _: &[()], _: &mut [()]) {}
    fn activate(&self, _: Activation, _: &mut [()]) {}
    fn classify(&mut self, _: &[()], _: &[()], _: &mut [()]) {}
    fn classify_learned(&mut self, _: &[()], _: &[()], _: &[()], _: &mut [()]) {}
    fn modulate(&mut self, _: &[()], _: &[()], _: u32, _: &mut [()]) {}
    fn difference_to_error(&mut self, _: &[()], _: &[()], _: &mut [()]) {}
    fn activation_to_error(&mut self, _: &[()], _: &mut [()]) {}
    fn subtract_one_hot(&mut self, _: &mut [()], _: usize) {}
    fn backprop(&mut self, _: Matrix, _: &[()], _: &[()], _: &[()], _: Activation, _: &mut [()]) {}
    fn gait_error(
        &mut self,
        _: bool,
        _: u32,
        _: u32,
        _: &[()],
        _: &[()],
        _: &mut [()],
        _: &mut [()],
    ) {
    }
    fn gait_inverse(&mut self, _: bool, _: &[()], _: &[()], _: &[()], _: &[()], _: &mut [()]) {}
    fn mask_derivative(&self, _: Activation, _: &[()], _: &mut [()]) {}
    fn update(&mut self, _: &mut [()], _: &mut [()], _: &[()], _: &[()]) {}
    fn update_momentum(
        &mut self,
        _: &mut [()],
        _: &mut [()],
        _: &mut [()],
        _: &[()],
        _: &[()],
        _: u32,
    ) {
    }
    fn set_lr_shift(&mut self, _: u32) -> Result<(), DatapathError> {
        Ok(())
    }
    fn active(&self, _: Activation, _: ()) -> bool {
        false
    }
    fn average(&mut self, _: &[()], _: (i64, u32)) {}
    fn add_errors(&mut self, _: (), _: ()) {}
    fn add_activations(&mut self, _: (), _: ()) {}
    fn scale_errors(&mut self, _: (i64, u32), _: &mut [()]) {}
    fn conv_transpose(&mut self, _: &ConvGeom, _: Matrix, _: &[()], _: &[()], _: &mut [()]) {}
    fn conv_update(&mut self, _: &ConvGeom, _: &mut [()], _: &mut [()], _: &[()], _: &[()]) {}
    fn conv_shift_ok(&self, extra: u32) -> bool {
        self.fixed.conv_shift_ok(extra)
    }
    fn similarity_coefficients(&mut self, _: &[()], _: usize, _: &[usize], _: usize, _: &mut [()]) {
    }
    fn similarity_error(
        &mut self,
        _: &[()],
        _: usize,
        _: &[()],
        _: usize,
        _: i32,
        _: u32,
        _: Activation,
        _: &mut [()],
    ) {
    }
    fn lfsr_draws(&self) -> u64 {
        0
    }
    fn save_state(&self) -> DatapathState {
        DatapathState {
            lfsr: None,
            draws: 0,
            overflow: OverflowByClass::default(),
            update_rounding: UpdateRounding::default(),
        }
    }
    fn restore_state(&mut self, _: DatapathState) {}
    fn overflow(&self) -> OverflowByClass {
        OverflowByClass::default()
    }
    fn update_rounding(&self) -> UpdateRounding {
        UpdateRounding::default()
    }
}
