//! The in-hardware random source: a 32-bit Galois LFSR, right-shifting, with
//! feedback mask `0x8020_0003` (polynomial x^32 + x^22 + x^2 + x + 1, maximal
//! length: period 2^32 − 1). It drives stochastic rounding, so its exact
//! definition and draw order are part of the arithmetic contract that RTL must
//! reproduce (see `docs/arithmetic.md`).

/// Feedback mask of the rounding LFSR: taps 32, 22, 2, 1.
pub const LFSR_MASK: u32 = 0x8020_0003;

/// Period of the rounding LFSR for any nonzero seed: 2^32 − 1 steps.
pub const LFSR_PERIOD: u64 = (1 << 32) - 1;

/// One step of a right-shifting Galois LFSR with feedback `mask`:
/// `lsb = s & 1; s >>= 1; if lsb == 1 { s ^= mask }`. Branch-free.
#[inline(always)]
pub const fn galois_step(state: u32, mask: u32) -> u32 {
    (state >> 1) ^ ((state & 1).wrapping_neg() & mask)
}

/// The rounding LFSR's state. A draw steps it once and returns the new state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lfsr {
    state: u32,
}

/// A zero seed would lock the LFSR at zero forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("lfsr seed = 0: must be nonzero")]
pub struct ZeroSeed;

impl Lfsr {
    /// An LFSR starting at `seed` (must be nonzero).
    pub const fn new(seed: u32) -> Result<Self, ZeroSeed> {
        if seed == 0 {
            Err(ZeroSeed)
        } else {
            Ok(Lfsr { state: seed })
        }
    }

    /// Current state (what the golden vectors record as "LFSR state").
    #[inline]
    pub const fn state(&self) -> u32 {
        self.state
    }

    /// Steps once and returns the new state: one random draw.
    #[inline(always)]
    pub fn next_state(&mut self) -> u32 {
        self.state = galois_step(self.state, LFSR_MASK);
        self.state
    }

    /// Steps `n` times (e.g. to skip draws a counted primitive accounted for).
    pub fn advance(&mut self, n: u64) {
        for _ in 0..n {
            self.next_state();
        }
    }
}

/// The LFSR advanced by a fixed number of steps in one operation. The Galois
/// step is linear over GF(2), so `n` steps are a 32×32 bit matrix; applying
/// it costs 32 conditional XORs however large `n` is. Used to skip the draws
/// of values whose rounding cannot change (a zero product), keeping the LFSR
/// sequence identical to stepping once per value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LfsrJump {
    /// Column `b`: the state reached from state `1 << b`.
    cols: [u32; 32],
}

impl LfsrJump {
    /// The jump of `n` steps of the rounding LFSR.
    pub fn new(n: u64) -> Self {
        let mut result = LfsrJump {
            cols: std::array::from_fn(|b| 1u32 << b),
        };
        let mut power = LfsrJump {
            cols: std::array::from_fn(|b| galois_step(1u32 << b, LFSR_MASK)),
        };
        let mut n = n;
        while n > 0 {
            if n & 1 == 1 {
                result = result.then(&power);
            }
            power = power.then(&power);
            n >>= 1;
        }
        result
    }

    /// This jump followed by `next`.
    fn then(&self, next: &LfsrJump) -> LfsrJump {
        LfsrJump {
            cols: std::array::from_fn(|b| next.map(self.cols[b])),
        }
    }

    #[inline]
    fn map(&self, state: u32) -> u32 {
        let mut out = 0;
        let mut s = state;
        while s != 0 {
            let b = s.trailing_zeros();
            out ^= self.cols[b as usize];
            s &= s - 1;
        }
        out
    }

    /// The LFSR after the jump.
    #[inline]
    pub fn apply(&self, lfsr: Lfsr) -> Lfsr {
        Lfsr {
            state: self.map(lfsr.state),
        }
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
    /// The tables, built once per process.
    pub fn shared() -> &'static LfsrBlock {
        static BLOCK: std::sync::OnceLock<LfsrBlock> = std::sync::OnceLock::new();
        BLOCK.get_or_init(LfsrBlock::new)
    }

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

    /// Steps until the state returns to the seed; `None` if a state repeats
    /// early (impossible for an LFSR, whose step is a bijection) or after `limit`.
    fn period(seed: u32, mask: u32, limit: u64) -> Option<u64> {
        let mut s = seed;
        for n in 1..=limit {
            s = galois_step(s, mask);
            if s == seed {
                return Some(n);
            }
        }
        None
    }

    #[test]
    fn step_matches_the_written_definition() {
        let mut s: u32 = 0xDEAD_BEEF;
        let mut l = Lfsr::new(s).unwrap();
        for _ in 0..1000 {
            let lsb = s & 1;
            s >>= 1;
            if lsb == 1 {
                s ^= 0x8020_0003;
            }
            assert_eq!(l.next_state(), s);
        }
    }

    #[test]
    fn first_states_from_seed_one_by_hand() {
        // 1 -> lsb 1: 0 ^ mask = 0x80200003 -> lsb 1: 0x40100001 ^ mask = 0xC0300002
        // -> lsb 0: 0x60180001 -> lsb 1: 0x300C0000 ^ mask = 0xB02C0003
        let mut l = Lfsr::new(1).unwrap();
        assert_eq!(l.next_state(), 0x8020_0003);
        assert_eq!(l.next_state(), 0xC030_0002);
        assert_eq!(l.next_state(), 0x6018_0001);
        assert_eq!(l.next_state(), 0xB02C_0003);
    }

    #[test]
    fn zero_seed_is_rejected() {
        assert_eq!(Lfsr::new(0), Err(ZeroSeed));
        assert_eq!(ZeroSeed.to_string(), "lfsr seed = 0: must be nonzero");
    }

    #[test]
    fn sixteen_bit_variant_has_full_period() {
        // x^16 + x^14 + x^13 + x^11 + 1, right-shifting Galois mask 0xB400:
        // the same step function at 16 bits must visit all 2^16 - 1 nonzero states.
        for seed in [1u32, 0xACE1, 0xFFFF] {
            assert_eq!(period(seed, 0xB400, 1 << 17), Some((1 << 16) - 1));
        }
        // A non-primitive mask has a shorter period: the test can fail.
        assert_ne!(period(1, 0x8001, 1 << 17), Some((1 << 16) - 1));
    }

    #[test]
    fn advance_equals_repeated_steps() {
        let mut a = Lfsr::new(0x1234_5678).unwrap();
        let mut b = a;
        a.advance(77);
        for _ in 0..77 {
            b.next_state();
        }
        assert_eq!(a, b);
    }

    #[test]
    fn jump_equals_stepping() {
        for n in [0u64, 1, 2, 31, 32, 785, 1025, 100_000] {
            let j = LfsrJump::new(n);
            for seed in [1u32, 0xACE1, 0xDEAD_BEEF] {
                let mut a = Lfsr::new(seed).unwrap();
                a.advance(n);
                assert_eq!(j.apply(Lfsr::new(seed).unwrap()), a, "n = {n}");
            }
        }
        // the full period returns to the seed
        let full = LfsrJump::new(LFSR_PERIOD);
        assert_eq!(full.apply(Lfsr::new(0x1234).unwrap()).state(), 0x1234);
    }

    /// The full 32-bit period: 2^32 - 1 steps, a few seconds in release.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "2^32 steps: run with --release")]
    fn thirty_two_bit_lfsr_has_full_period() {
        assert_eq!(period(1, LFSR_MASK, LFSR_PERIOD), Some(LFSR_PERIOD));
    }
}
