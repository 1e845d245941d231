//! Outputs for RTL designers: access traces fed by the counted primitives
//! and golden vectors of training steps (`docs/formats.md`).

pub mod golden;
