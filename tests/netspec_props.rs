//! Property tests of the layer text's size arithmetic: random layer
//! descriptions with huge dimensions (up to `u64::MAX`, and next to 2^16,
//! 2^24, 2^32 and 2^48) never make `NetSpec::parse` panic (nor overflow in a
//! debug build), and whenever it accepts one, every size, weight count and
//! MAC count worked out independently in `u128` equals the `usize` value
//! the crate computes and is at most `MAX_TENSOR_VALUES`.

use locus::hw::datapath::Activation;
use locus::net::spec::{MAX_TENSOR_VALUES, NetSpec};
use proptest::prelude::*;

/// One token of a generated description.
#[derive(Clone, Debug)]
enum Tok {
    Input(u64, u64, u64),
    Dense(u64),
    Conv {
        k: u64,
        out: u64,
        stride: Option<u64>,
        pad: Option<u64>,
    },
    Pool(bool, u64),
}

impl Tok {
    fn text(&self) -> String {
        match *self {
            Tok::Input(c, h, w) => format!("{c}x{h}x{w}"),
            Tok::Dense(n) => n.to_string(),
            Tok::Conv {
                k,
                out,
                stride,
                pad,
            } => {
                let mut s = format!("conv{k}x{k}x{out}");
                if let Some(st) = stride {
                    s += &format!("s{st}");
                }
                if let Some(p) = pad {
                    s += &format!("p{p}");
                }
                s
            }
            Tok::Pool(max, n) => format!("{}pool{n}", if max { "max" } else { "avg" }),
        }
    }
}

/// Mostly small numbers (so that some networks are valid), else values at
/// the boundaries where 32-, 48- and 64-bit arithmetic would wrap.
fn num() -> impl Strategy<Value = u64> {
    let near = |p: u32| (0u64..=4).prop_map(move |d| (1u64 << p) - 2 + d);
    prop_oneof![
        6 => 1u64..=9,
        1 => Just(0u64),
        1 => near(16),
        1 => near(24),
        1 => near(32),
        1 => near(48),
        1 => (0u64..=2).prop_map(|d| u64::MAX - d),
        1 => any::<u64>(),
    ]
}

fn first() -> impl Strategy<Value = Tok> {
    prop_oneof![
        (num(), num(), num()).prop_map(|(c, h, w)| Tok::Input(c, h, w)),
        num().prop_map(Tok::Dense),
    ]
}

fn middle() -> impl Strategy<Value = Tok> {
    prop_oneof![
        2 => (num(), num(), proptest::option::of(num()), proptest::option::of(num()))
            .prop_map(|(k, out, stride, pad)| Tok::Conv { k, out, stride, pad }),
        1 => (any::<bool>(), prop_oneof![3 => 2u64..=4, 1 => num()])
            .prop_map(|(m, n)| Tok::Pool(m, n)),
        1 => num().prop_map(Tok::Dense),
    ]
}

/// The exact per-layer quantities of an accepted description, in `u128`.
#[derive(Debug, Default)]
struct Exact {
    /// Input, then each weight layer's output (after pooling).
    sizes: Vec<u128>,
    /// Weights and biases per weight layer.
    weights: Vec<u128>,
    /// Forward MACs per sample per weight layer.
    macs: Vec<u128>,
    /// Every tensor, including conv outputs before pooling.
    tensors: Vec<u128>,
}

/// Works the quantities out again from the tokens, independently of the
/// crate (the caller knows the crate accepted them, so shapes are valid).
fn exact(toks: &[Tok]) -> Exact {
    let mut e = Exact::default();
    let mut map: Option<(u128, u128, u128)> = None;
    for t in toks {
        match *t {
            Tok::Input(c, h, w) => {
                let (c, h, w) = (c as u128, h as u128, w as u128);
                map = Some((c, h, w));
                e.sizes.push(c * h * w);
                e.tensors.push(c * h * w);
            }
            Tok::Dense(n) => {
                let n = n as u128;
                if let Some(&prev) = e.sizes.last() {
                    e.weights.push(n * prev + n);
                    e.macs.push(n * prev);
                }
                map = None;
                e.sizes.push(n);
                e.tensors.push(n);
            }
            Tok::Conv {
                k,
                out,
                stride,
                pad,
            } => {
                let (c, h, w) = map.expect("accepted conv has a map");
                let (k, out) = (k as u128, out as u128);
                let (s, p) = (stride.unwrap_or(1) as u128, pad.unwrap_or(0) as u128);
                let oh = (h + 2 * p - k) / s + 1;
                let ow = (w + 2 * p - k) / s + 1;
                let patch = c * k * k;
                e.weights.push(out * patch + out);
                e.macs.push(out * patch * oh * ow);
                e.sizes.push(out * oh * ow);
                e.tensors.push(out * oh * ow);
                map = Some((out, oh, ow));
            }
            Tok::Pool(_, n) => {
                let (c, h, w) = map.expect("accepted pool follows a conv");
                let n = n as u128;
                let pooled = (c, h / n, w / n);
                *e.sizes.last_mut().unwrap() = pooled.0 * pooled.1 * pooled.2;
                e.tensors.push(pooled.0 * pooled.1 * pooled.2);
                map = Some(pooled);
            }
        }
    }
    e
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20000))]

    /// Parsing never panics; an accepted network's every quantity is
    /// exact (no wrap) and within the limit.
    #[test]
    fn huge_sizes_never_wrap(
        head in first(),
        mid in proptest::collection::vec(middle(), 0..4),
        last in num(),
    ) {
        let mut toks = vec![head];
        toks.extend(mid);
        toks.push(Tok::Dense(last));
        let text: Vec<String> = toks.iter().map(Tok::text).collect();
        let text = text.join(",");
        let Ok(net) = NetSpec::parse(&text, Activation::Relu) else {
            return Ok(());
        };
        let limit = u128::from(MAX_TENSOR_VALUES);
        let e = exact(&toks);
        let got: Vec<u128> = net.sizes.iter().map(|&s| s as u128).collect();
        prop_assert_eq!(&got, &e.sizes, "{}", text);
        for (what, v) in [("tensor", &e.tensors), ("weights", &e.weights), ("macs", &e.macs)] {
            for &x in v {
                prop_assert!(x <= limit, "{}: {} {} above the limit", text, what, x);
            }
        }
        // The crate's own per-layer arithmetic (plain usize) agrees.
        let geoms = net.geometry().expect("an accepted network has a geometry");
        prop_assert_eq!(geoms.len(), e.weights.len());
        for (i, g) in geoms.iter().enumerate() {
            let (cols, rows) = (net.sizes[i], net.sizes[i + 1]);
            let (weights, macs) = match g {
                Some(g) => {
                    prop_assert_eq!(g.in_len(), cols, "{}", text);
                    prop_assert!(g.conv_len() as u128 <= limit);
                    prop_assert_eq!(g.out_len(), rows);
                    let _ = g.pool_tensor();
                    let _ = g.pool_ops();
                    (
                        g.out_c * g.patch_len() + g.out_c,
                        g.out_c * g.patch_len() * g.positions(),
                    )
                }
                None => (rows * cols + rows, rows * cols),
            };
            prop_assert_eq!(weights as u128, e.weights[i], "{}", text);
            prop_assert_eq!(macs as u128, e.macs[i], "{}", text);
        }
        // Dense sizes built directly (JSON configs, sweeps) agree.
        if !net.has_conv() {
            let dense = NetSpec::dense(net.sizes.clone(), Activation::Relu);
            prop_assert!(dense.validate().is_ok());
        }
    }

    /// Dense sizes given as numbers (not text) are refused exactly when a
    /// size or a layer's weights and biases pass the limit.
    #[test]
    fn dense_sizes_validated(sizes in proptest::collection::vec(num(), 2..5)) {
        let sizes: Vec<usize> = sizes.iter().map(|&s| s as usize).collect();
        let net = NetSpec::dense(sizes.clone(), Activation::Relu);
        let limit = u128::from(MAX_TENSOR_VALUES);
        let fits = sizes.iter().all(|&s| s >= 1 && s as u128 <= limit)
            && sizes
                .windows(2)
                .all(|w| w[1] as u128 * w[0] as u128 + w[1] as u128 <= limit);
        prop_assert_eq!(net.validate().is_ok(), fits, "{:?}", sizes);
    }
}
