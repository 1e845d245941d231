//! Fast paths of the fixed-point datapath for 16-bit lanes, each exact to the
//! plain per-element reference in `quant` (property tests in
//! `tests/kernel_props.rs`). They are written as simple loops over slices
//! that the compiler vectorises (`i16 × i16 → i32` multiply-add, compares,
//! clamps); a fast path that cannot prove it is exact returns `None` and the
//! caller takes the reference path.

use crate::quant::{AccFormat, LFSR_MASK, Lfsr, Overflow, QFormat, Rounding, galois_step};

/// `Σ x[j]` of `|x|`, for the accumulator bound of a mat-vec.
#[inline]
pub fn sum_abs_i16(x: &[i16]) -> i64 {
    x.iter().map(|&v| v.unsigned_abs() as i64).sum()
}

/// Dot product of two `i16` slices if no partial sum can leave the
/// accumulator: with `sum_abs_x = Σ|x|`, every partial sum is bounded by
/// `max|w| · Σ|x|`; when that is within the register (and `i32`), the `i32`
/// sum is exact and equals the per-step result. `None` otherwise.
#[inline]
pub fn dot_i16_if_exact(w: &[i16], x: &[i16], sum_abs_x: i64, acc: &AccFormat) -> Option<i64> {
    let mut sum = 0i32;
    let mut max_w = 0u16;
    for (&a, &b) in w.iter().zip(x) {
        sum = sum.wrapping_add(a as i32 * b as i32);
        max_w = max_w.max(a.unsigned_abs());
    }
    let limit = acc.max().min(i32::MAX as i64);
    (max_w as i64 * sum_abs_x <= limit).then_some(sum as i64)
}

/// `out[j] = Σ_i m[i][j]·e[i]` for a row-major `rows × cols` matrix, summed in
/// `i32` if no partial sum can leave the accumulator (`max|m| · Σ|e|` within
/// the register and `i32`); `false` (and `out` unspecified) otherwise.
pub fn matvec_t_i16_if_exact(m: &[i16], e: &[i16], out: &mut [i32], acc: &AccFormat) -> bool {
    let cols = out.len();
    out.fill(0);
    let mut max_m = 0u16;
    let mut sum_abs_e = 0i64;
    for (i, &ei) in e.iter().enumerate() {
        if ei == 0 {
            continue;
        }
        sum_abs_e += ei.unsigned_abs() as i64;
        let ei = ei as i32;
        let row = &m[i * cols..(i + 1) * cols];
        let mut row_max = 0u16;
        for (o, &w) in out.iter_mut().zip(row) {
            *o = o.wrapping_add(w as i32 * ei);
            row_max = row_max.max(w.unsigned_abs());
        }
        max_m = max_m.max(row_max);
    }
    let limit = acc.max().min(i32::MAX as i64);
    max_m as i64 * sum_abs_e <= limit
}

/// Overflow events of one kernel call, by direction, folded into the
/// datapath's statistics by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Update values above the update format's range.
    pub update_high: u64,
    /// Update values below it.
    pub update_low: u64,
    /// Weights above the weight format's range after the subtraction.
    pub weight_high: u64,
    /// Weights below it.
    pub weight_low: u64,
}

/// The outer-product update of one row of 16-bit weights, `w[j] ← fit_w(w[j]
/// − fit_u(round(e·x[j] / 2^s)))`, for a shift `1 <= s <= 29` and equal update
/// and weight fractional bits (the write-back is a plain saturating or
/// wrapping subtract). Exact to the reference requantiser.
#[derive(Clone, Copy, Debug)]
pub struct RowUpdate {
    shift: u32,
    rounding: Rounding,
    umin: i32,
    umax: i32,
    ubits: u32,
    uwrap: bool,
    wmin: i32,
    wmax: i32,
    wbits: u32,
    wwrap: bool,
}

impl RowUpdate {
    /// The kernel for these formats, or `None` when the fast path does not
    /// apply (shift outside `1..=29`, formats wider than 16 bits).
    pub fn new(
        shift: i32,
        rounding: Rounding,
        update: QFormat,
        update_overflow: Overflow,
        weight: QFormat,
        weight_overflow: Overflow,
    ) -> Option<Self> {
        if !(1..=29).contains(&shift) || update.bits > 16 || weight.bits > 16 {
            return None;
        }
        Some(RowUpdate {
            shift: shift as u32,
            rounding,
            umin: update.min_raw(),
            umax: update.max_raw(),
            ubits: update.bits,
            uwrap: update_overflow == Overflow::Wrap,
            wmin: weight.min_raw(),
            wmax: weight.max_raw(),
            wbits: weight.bits,
            wwrap: weight_overflow == Overflow::Wrap,
        })
    }

    /// Rounding of the update.
    pub fn rounding(&self) -> Rounding {
        self.rounding
    }

    /// Applies the row with error `e` (a raw error value) and inputs `x`,
    /// where `max_abs_x = max |x[j]|`. `rnd[j]` is the LFSR state drawn for
    /// element `j` (stochastic only). Dispatches once to a loop specialised
    /// for the rounding and overflow policies, so the loop body is
    /// branch-free and vectorises; when `|e|·max|x|` proves that no update can
    /// leave its format, the update's range check is left out.
    #[inline]
    pub fn apply(
        &self,
        w: &mut [i16],
        x: &[i16],
        max_abs_x: i32,
        e: i16,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        match self.rounding {
            Rounding::Truncate => self.dispatch::<0>(w, x, max_abs_x, e, rnd, ev),
            Rounding::Nearest => self.dispatch::<1>(w, x, max_abs_x, e, rnd, ev),
            Rounding::Stochastic => self.dispatch::<2>(w, x, max_abs_x, e, rnd, ev),
        }
    }

    #[inline(always)]
    fn dispatch<const R: u8>(
        &self,
        w: &mut [i16],
        x: &[i16],
        max_abs_x: i32,
        e: i16,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        // |round(p / 2^s)| <= (|p| >> s) + 1 for every rounding mode.
        let bound = (((e as i64).abs() * max_abs_x as i64) >> self.shift) + 1;
        let update_in_range = bound <= self.umax as i64 && -bound >= self.umin as i64;
        // The row's weights move by at most `bound`: if that cannot leave the
        // weight format, the weight's range check is left out too.
        let (lo, hi) = w
            .iter()
            .fold((i16::MAX, i16::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let weight_in_range = update_in_range
            && hi as i64 + bound <= self.wmax as i64
            && lo as i64 - bound >= self.wmin as i64;
        match (update_in_range, weight_in_range, self.uwrap, self.wwrap) {
            (true, true, _, _) => self.run::<R, false, false, false, false>(w, x, e, rnd, ev),
            (true, false, _, false) => self.run::<R, false, true, false, false>(w, x, e, rnd, ev),
            (true, false, _, true) => self.run::<R, false, true, false, true>(w, x, e, rnd, ev),
            (false, _, false, false) => self.run::<R, true, true, false, false>(w, x, e, rnd, ev),
            (false, _, false, true) => self.run::<R, true, true, false, true>(w, x, e, rnd, ev),
            (false, _, true, false) => self.run::<R, true, true, true, false>(w, x, e, rnd, ev),
            (false, _, true, true) => self.run::<R, true, true, true, true>(w, x, e, rnd, ev),
        }
    }

    /// The row loop for rounding `R` (0 truncate, 1 nearest, 2 stochastic),
    /// with or without the update's and the weight's range checks, and wrap
    /// (`true`) or saturate (`false`) of the update and the weight.
    #[inline(always)]
    fn run<
        const R: u8,
        const CHECK_U: bool,
        const CHECK_W: bool,
        const UWRAP: bool,
        const WWRAP: bool,
    >(
        &self,
        w: &mut [i16],
        x: &[i16],
        e: i16,
        rnd: &[u32],
        ev: &mut Events,
    ) {
        let e = e as i32;
        let s = self.shift;
        let half_m1 = (1i32 << (s - 1)) - 1;
        let mask = (1i32 << s) - 1;
        let (umin, umax, ubits) = (self.umin, self.umax, self.ubits);
        let (wmin, wmax, wbits) = (self.wmin, self.wmax, self.wbits);
        let (mut uh, mut ul, mut wh, mut wl) = (0u32, 0u32, 0u32, 0u32);
        let n = w.len();
        let x = &x[..n];
        let rnd = if R == 2 { &rnd[..n] } else { &rnd[..0] };
        for j in 0..n {
            let p = e * x[j] as i32;
            let d = match R {
                0 => p >> s,
                1 => (p + half_m1 + ((p >> s) & 1)) >> s,
                _ => (p + (rnd[j] as i32 & mask)) >> s,
            };
            let d = if CHECK_U {
                uh += (d > umax) as u32;
                ul += (d < umin) as u32;
                fit::<UWRAP>(d, umin, umax, ubits)
            } else {
                d
            };
            let v = w[j] as i32 - d;
            w[j] = if CHECK_W {
                wh += (v > wmax) as u32;
                wl += (v < wmin) as u32;
                fit::<WWRAP>(v, wmin, wmax, wbits) as i16
            } else {
                v as i16
            };
        }
        ev.update_high += uh as u64;
        ev.update_low += ul as u64;
        ev.weight_high += wh as u64;
        ev.weight_low += wl as u64;
    }
}

#[inline(always)]
fn fit<const WRAP: bool>(v: i32, min: i32, max: i32, bits: u32) -> i32 {
    if WRAP {
        (v << (32 - bits)) >> (32 - bits)
    } else {
        v.clamp(min, max)
    }
}

/// Tables that advance the rounding LFSR by 16 steps at once: the Galois step
/// is linear over GF(2) and, for 16 steps, the bits fed back depend only on
/// the state's low 16 bits (no tap above bit 1 reaches bit 0 within 16
/// steps), so `step^16(s) = (s >> 16) ^ LO[s & 0xFF] ^ HI[(s >> 8) & 0xFF]`.
#[derive(Clone, Debug)]
pub struct LfsrBlock {
    lo: [u32; 256],
    hi: [u32; 256],
    /// The same map by nibbles: `NIB[k][v]` = 16 steps from `v << 4k`
    /// (one 16-entry table per AVX-512 register for `vpermd`).
    nib: [[u32; 16]; 4],
}

impl Default for LfsrBlock {
    fn default() -> Self {
        Self::new()
    }
}

impl LfsrBlock {
    /// Builds the two 256-entry tables.
    pub fn new() -> Self {
        let f = |low16: u32| {
            let mut s = low16;
            for _ in 0..16 {
                s = galois_step(s, LFSR_MASK);
            }
            s
        };
        LfsrBlock {
            lo: std::array::from_fn(|b| f(b as u32)),
            hi: std::array::from_fn(|b| f((b as u32) << 8)),
            nib: std::array::from_fn(|k| std::array::from_fn(|v| f((v as u32) << (4 * k)))),
        }
    }

    #[inline(always)]
    fn step16(&self, s: u32) -> u32 {
        (s >> 16) ^ self.lo[(s & 0xFF) as usize] ^ self.hi[((s >> 8) & 0xFF) as usize]
    }

    /// Fills `out` with the next `out.len()` states of `lfsr` (each draw's
    /// new state, in order) and advances it past them: identical to calling
    /// `lfsr.next_state()` once per element.
    pub fn fill(&self, lfsr: &mut Lfsr, out: &mut [u32]) {
        let n = out.len();
        let head = n.min(16);
        for o in out[..head].iter_mut() {
            *o = lfsr.next_state();
        }
        // 16 independent chains: state k+16 from state k.
        let mut k = 16;
        #[cfg(target_arch = "x86_64")]
        if n >= 32 && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            k = unsafe { avx512::fill_blocks(&self.nib, out) };
        }
        for k in k..n {
            out[k] = self.step16(out[k - 16]);
        }
        if n > 16 {
            *lfsr = Lfsr::new(out[n - 1]).unwrap_or(*lfsr);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Given `out[..16]`, fills whole blocks of 16 states: lane `j` of block
    /// `b+1` is 16 steps after lane `j` of block `b`, by four `vpermd` nibble
    /// lookups. Returns the index of the first state not written.
    #[target_feature(enable = "avx512f")]
    pub(super) fn fill_blocks(nib: &[[u32; 16]; 4], out: &mut [u32]) -> usize {
        let n = out.len();
        // SAFETY: every load and store below reads or writes 16 u32 inside
        // `nib[k]` or `out[k..k + 16]` with `k + 16 <= n`.
        unsafe {
            let t: [__m512i; 4] =
                std::array::from_fn(|k| _mm512_loadu_si512(nib[k].as_ptr().cast()));
            let mut v = _mm512_loadu_si512(out.as_ptr().cast());
            let mut k = 16;
            while k + 16 <= n {
                let a = _mm512_permutexvar_epi32(v, t[0]);
                let b = _mm512_permutexvar_epi32(_mm512_srli_epi32::<4>(v), t[1]);
                let c = _mm512_permutexvar_epi32(_mm512_srli_epi32::<8>(v), t[2]);
                let d = _mm512_permutexvar_epi32(_mm512_srli_epi32::<12>(v), t[3]);
                let hi = _mm512_srli_epi32::<16>(v);
                v = _mm512_xor_si512(
                    _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d)),
                    hi,
                );
                _mm512_storeu_si512(out.as_mut_ptr().add(k).cast(), v);
                k += 16;
            }
            k
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_fill_equals_stepping() {
        let blk = LfsrBlock::new();
        for n in [0usize, 1, 15, 16, 17, 100, 785, 1025] {
            let mut a = Lfsr::new(0xACE1).unwrap();
            let mut b = a;
            let mut buf = vec![0u32; n];
            blk.fill(&mut a, &mut buf);
            for (k, &s) in buf.iter().enumerate() {
                assert_eq!(s, b.next_state(), "n = {n}, k = {k}");
            }
            assert_eq!(a, b);
        }
    }
}
