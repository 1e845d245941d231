//! The modelled hardware.
