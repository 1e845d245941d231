//! Storage lanes for raw fixed-point values. A tensor whose format has at most
//! 8 or 16 bits is stored in `i8`/`i16` so inner loops move fewer bytes; the
//! format, not the lane, defines the value range.

/// A signed integer type that holds raw values of formats up to `BITS` wide.
pub trait Raw:
    Copy + Default + PartialEq + PartialOrd + std::fmt::Debug + Send + Sync + 'static
{
    /// Width of the lane in bits.
    const BITS: u32;
    /// Converts a value already known to fit the lane (keeps the low bits).
    fn from_i64_unchecked(v: i64) -> Self;
    /// Widens to `i64` (exact).
    fn to_i64(self) -> i64;
    /// The slice as `i16` lanes when the lane is `i16` (fast paths), else `None`.
    fn as_i16(s: &[Self]) -> Option<&[i16]> {
        let _ = s;
        None
    }
    /// The mutable slice as `i16` lanes when the lane is `i16`, else `None`.
    fn as_i16_mut(s: &mut [Self]) -> Option<&mut [i16]> {
        let _ = s;
        None
    }
}

macro_rules! impl_raw {
    ($($t:ty),*) => {$(
        impl Raw for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline(always)]
            fn from_i64_unchecked(v: i64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_i64(self) -> i64 {
                self as i64
            }
        }
    )*};
}

impl_raw!(i8, i32, i64);

impl Raw for i16 {
    const BITS: u32 = 16;
    #[inline(always)]
    fn from_i64_unchecked(v: i64) -> Self {
        v as i16
    }
    #[inline(always)]
    fn to_i64(self) -> i64 {
        self as i64
    }
    #[inline(always)]
    fn as_i16(s: &[Self]) -> Option<&[i16]> {
        Some(s)
    }
    #[inline(always)]
    fn as_i16_mut(s: &mut [Self]) -> Option<&mut [i16]> {
        Some(s)
    }
}
