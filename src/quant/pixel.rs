//! Pixels into an activation format: the 8-bit image pixels the chip's input
//! layer receives, as raw values of a fixed-point format.

use super::QFormat;

/// The pixel → activation mapping for one fixed-point format, as a 256-entry
/// table built once so normalising a sample is a lookup per pixel.
///
/// Pixel `p` in `0..=255` stands for the real value `p/255`; its raw value in
/// format `Q(bits, frac)` is `round_half_up(p · 2^frac / 255)`, computed in
/// integers as `(2·p·2^frac + 255) / 510`, then saturated to `max_raw()`
/// (e.g. in Q1.7, 255 → 128 saturates to 127). Never negative.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PixelScale {
    /// The activation format the table maps into.
    pub format: QFormat,
    /// Raw value of each pixel value, indexed by the pixel.
    pub table: [i32; 256],
}

impl PixelScale {
    /// Builds the table for `format` (any valid `QFormat`).
    pub fn new(format: QFormat) -> Self {
        let max = i64::from(format.max_raw());
        let one = 1u64 << format.frac.min(31);
        let mut table = [0i32; 256];
        for (p, t) in table.iter_mut().enumerate() {
            let raw = (2 * p as u64 * one + 255) / 510;
            // raw <= 2^31 and max <= 2^31 - 1, so the clamp makes it fit.
            *t = (raw as i64).min(max) as i32;
        }
        PixelScale { format, table }
    }

    /// Raw value of one pixel.
    #[inline]
    pub fn raw(&self, p: u8) -> i32 {
        self.table[p as usize]
    }

    /// Maps `pixels` into `out` element-wise. Panics if the lengths differ.
    #[inline]
    pub fn apply(&self, pixels: &[u8], out: &mut [i32]) {
        assert_eq!(
            out.len(),
            pixels.len(),
            "output length must equal sample_len"
        );
        for (o, &p) in out.iter_mut().zip(pixels) {
            *o = self.table[p as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_scale_mapping() {
        let q = QFormat::new(8, 7).unwrap(); // Q1.7: 1.0 = 128 saturates to 127
        let s = PixelScale::new(q);
        assert_eq!(s.raw(0), 0);
        assert_eq!(s.raw(255), 127);
        assert_eq!(s.raw(1), 1); // 128/255 = 0.502 → 1
        assert_eq!(s.raw(127), 64); // 63.75 → 64
        let q = QFormat::new(16, 8).unwrap(); // 1.0 = 256 fits
        let s = PixelScale::new(q);
        assert_eq!(s.raw(255), 256);
        // Float oracle. Ties cannot occur (p·2^(frac+1) = 255·odd needs
        // 255 | p), so the oracle's rounding direction at .5 is irrelevant.
        for frac in 0..31 {
            let q = QFormat::new(32, frac).unwrap();
            let s = PixelScale::new(q);
            for p in 0..=255u8 {
                let exact = f64::from(p) * (frac as f64).exp2() / 255.0;
                let want = (exact + 0.5).floor().min(q.max_raw() as f64) as i32;
                assert_eq!(s.raw(p), want, "frac {frac} p {p}");
            }
        }
        // Frac 0: values round half up to 0 or 1.
        let s = PixelScale::new(QFormat::new(4, 0).unwrap());
        assert_eq!((s.raw(127), s.raw(128)), (0, 1));
        // Narrowest format.
        let s = PixelScale::new(QFormat::new(2, 1).unwrap());
        assert_eq!((s.raw(0), s.raw(63), s.raw(64), s.raw(255)), (0, 0, 1, 1));
        // Widest fraction.
        let s = PixelScale::new(QFormat::new(32, 31).unwrap());
        assert_eq!(s.raw(255), i32::MAX);
    }
}
