//! The network: its description ([`spec`]: dense sizes or CNN layers, shape
//! arithmetic, validation) and the readers that turn a user's file into it.
//! Each reader turns its format into a [`spec::NetSpec`] and nothing else;
//! none knows the hardware.

pub mod spec;
