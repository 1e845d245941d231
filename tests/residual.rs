//! Residual blocks compute the right values: one training step of small
//! residual CNNs in `f32` against an `f64` finite-difference reference of
//! each rule's loss (identity and projection skips, a strided projection,
//! a one-layer block, pooling after the block's add); the buffering
//! policies compute identical weights; residual CNNs learn a synthetic task
//! in fixed point and `f32` alike.
//!
//! The reference network here is written from `docs/rules.md` ("Residual
//! blocks": the block's input added to its last conv output before the
//! activation, directly or through a `1 × 1` projection with bias),
//! independently of `src/hw`.

mod conv_layers;

use conv_layers::{default_model, float_chip, synth};
use locus::hw::core::{Chip, NetSpec};
use locus::hw::datapath::{Activation, FloatDatapath};
use locus::rules::{BpPolicy, Rule};
use locus::sim::{Arith, TrainConfig, run};

/// A reference layer.
#[derive(Clone, Copy, Debug)]
enum Lay {
    /// `o` kernels `k × k` on an `ic × h × w` input, stride `s`, padding
    /// `p`; tiling pool `(max, n)`; skip from the input of layer `from`,
    /// `(from, c, h, w, projection stride)`.
    Conv {
        ic: usize,
        h: usize,
        w: usize,
        k: usize,
        o: usize,
        s: usize,
        p: usize,
        pool: Option<(bool, usize)>,
        skip: Option<(usize, usize, usize, usize, Option<usize>)>,
    },
    Dense,
}

/// Parameters of one layer: weights, biases, projection weights and biases.
#[derive(Clone, Debug, PartialEq)]
struct Params {
    w: Vec<f64>,
    b: Vec<f64>,
    pw: Vec<f64>,
    pb: Vec<f64>,
}

impl Params {
    fn slot(&mut self, which: usize) -> &mut Vec<f64> {
        match which {
            0 => &mut self.w,
            1 => &mut self.b,
            2 => &mut self.pw,
            _ => &mut self.pb,
        }
    }
}

fn act(f: Activation, v: f64) -> f64 {
    match f {
        Activation::Relu => v.max(0.0),
        Activation::HardTanh => v.clamp(-1.0, 1.0),
        Activation::LeakyRelu => unreachable!("conv networks refuse leaky ReLU"),
    }
}

/// Layer `i`'s output from its input `xs[i]` (and, for a block's last
/// layer, the block's input `xs[from]`).
fn forward(l: Lay, p: &Params, xs: &[Vec<f64>], i: usize, last: bool, f: Activation) -> Vec<f64> {
    let x = &xs[i];
    let Lay::Conv {
        ic,
        h,
        w: wd,
        k,
        o,
        s,
        p: pad,
        pool,
        skip,
    } = l
    else {
        let rows = p.b.len();
        let cols = x.len();
        return (0..rows)
            .map(|r| {
                let v = p.b[r] + (0..cols).map(|c| p.w[r * cols + c] * x[c]).sum::<f64>();
                if last { v } else { act(f, v) }
            })
            .collect();
    };
    let (oh, ow) = ((h + 2 * pad - k) / s + 1, (wd + 2 * pad - k) / s + 1);
    let mut y = vec![0.0; o * oh * ow];
    for oc in 0..o {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut v = p.b[oc];
                for c in 0..ic {
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * s + ky) as isize - pad as isize;
                            let ix = (ox * s + kx) as isize - pad as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                continue;
                            }
                            let xi = c * h * wd + iy as usize * wd + ix as usize;
                            v += p.w[((oc * ic + c) * k + ky) * k + kx] * x[xi];
                        }
                    }
                }
                if let Some((from, sc, sh, sw, proj)) = skip {
                    let xb = &xs[from];
                    v += match proj {
                        None => xb[(oc * oh + oy) * ow + ox],
                        Some(st) => {
                            p.pb[oc]
                                + (0..sc)
                                    .map(|c| {
                                        p.pw[oc * sc + c] * xb[(c * sh + oy * st) * sw + ox * st]
                                    })
                                    .sum::<f64>()
                        }
                    };
                }
                y[(oc * oh + oy) * ow + ox] = act(f, v);
            }
        }
    }
    let Some((max, n)) = pool else {
        return y;
    };
    let (ph, pw) = (oh / n, ow / n);
    let mut out = vec![0.0; o * ph * pw];
    for oc in 0..o {
        for py in 0..ph {
            for px in 0..pw {
                let vals = (0..n * n).map(|q| y[(oc * oh + py * n + q / n) * ow + px * n + q % n]);
                out[(oc * ph + py) * pw + px] = if max {
                    vals.fold(f64::MIN, f64::max)
                } else {
                    vals.sum::<f64>() / (n * n) as f64
                };
            }
        }
    }
    out
}

/// Every layer's input and the output, under `ps`.
fn inputs(layers: &[Lay], ps: &[Params], x0: &[f64], f: Activation) -> Vec<Vec<f64>> {
    let n = layers.len();
    let mut xs = vec![x0.to_vec()];
    for i in 0..n {
        let h = forward(layers[i], &ps[i], &xs, i, i + 1 == n, f);
        xs.push(h);
    }
    xs
}

fn sq_err(a: &[f64], label: usize) -> f64 {
    a.iter()
        .enumerate()
        .map(|(k, &v)| {
            let d = v - if k == label { 1.0 } else { 0.0 };
            0.5 * d * d
        })
        .sum()
}

fn params<T: locus::hw::trace_sink::TraceSink>(chip: &Chip<FloatDatapath, T>) -> Vec<Params> {
    let f = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    chip.layers()
        .iter()
        .map(|l| {
            let (pw, pb) = l.projection().unwrap_or((&[], &[]));
            Params {
                w: f(l.w()),
                b: f(l.b()),
                pw: f(pw),
                pb: f(pb),
            }
        })
        .collect()
}

fn pixels(n: usize, seed: u64) -> Vec<u8> {
    (0..n)
        .map(|i| (1 + (i as u64 * 97 + seed * 31) % 255) as u8)
        .collect()
}

/// The test networks: their text and reference layers.
fn cases() -> Vec<(&'static str, Vec<Lay>)> {
    let conv = |ic, h, w, k, o, s, p, pool, skip| Lay::Conv {
        ic,
        h,
        w,
        k,
        o,
        s,
        p,
        pool,
        skip,
    };
    vec![
        (
            // An identity block of two convs, then a strided block with a
            // projection and an average pool after its add.
            "2x6x6,conv3x3x3p1,conv3x3x3p1,conv3x3x3p1,res2,conv3x3x4s2p1,conv3x3x4p1,res2p,avgpool3,5",
            vec![
                conv(2, 6, 6, 3, 3, 1, 1, None, None),
                conv(3, 6, 6, 3, 3, 1, 1, None, None),
                conv(3, 6, 6, 3, 3, 1, 1, None, Some((1, 3, 6, 6, None))),
                conv(3, 6, 6, 3, 4, 2, 1, None, None),
                conv(
                    4,
                    3,
                    3,
                    3,
                    4,
                    1,
                    1,
                    Some((false, 3)),
                    Some((3, 3, 6, 6, Some(2))),
                ),
                Lay::Dense,
            ],
        ),
        (
            // A one-layer block with a channel-changing projection, then a
            // one-layer identity block with a max pool after its add.
            "1x4x4,conv3x3x2p1,conv3x3x3p1,res1p,conv3x3x3p1,res1,maxpool2,3",
            vec![
                conv(1, 4, 4, 3, 2, 1, 1, None, None),
                conv(2, 4, 4, 3, 3, 1, 1, None, Some((1, 2, 4, 4, Some(1)))),
                conv(
                    3,
                    4,
                    4,
                    3,
                    3,
                    1,
                    1,
                    Some((true, 2)),
                    Some((2, 3, 4, 4, None)),
                ),
                Lay::Dense,
            ],
        ),
    ]
}

/// One step of `rule` (learning rate 1) in `f32` against `−∂L/∂θ` of the
/// rule's loss by central differences in `f64`: backprop's output loss for
/// every parameter; the local rule's own loss of each layer (its fixed
/// classifier's squared error) for that layer's parameters, projection
/// included.
fn check_step(text: &str, layers: &[Lay], rule: Rule, f: Activation) {
    let net = NetSpec::parse(text, f).expect("parses");
    let (mut chip, learned, feedback, classifiers) = float_chip(&net, rule);
    let n = layers.len();
    let px = pixels(net.sizes[0], 7);
    let label = 1;
    let before = params(&chip);
    rule.train_batch(&mut chip, &[(&px, label)])
        .expect("trains");
    let after = params(&chip);
    let x0: Vec<f64> = px.iter().map(|&p| p as f64 / 255.0).collect();
    let xs = inputs(layers, &before, &x0, f);
    let classes = net.classes();
    let mut e_out = xs[n].clone();
    e_out[label] -= 1.0;
    let loss = |i: usize, p: &Params| -> f64 {
        match rule {
            Rule::Bp(_) => {
                let mut ps = before.clone();
                ps[i] = p.clone();
                sq_err(&inputs(layers, &ps, &x0, f)[n], label)
            }
            Rule::Local => {
                let h = forward(layers[i], p, &xs, i, i + 1 == n, f);
                if i + 1 == n {
                    return sq_err(&h, label);
                }
                let m = &classifiers[i];
                let proj: Vec<f64> = (0..classes)
                    .map(|c| (0..h.len()).map(|j| m[c * h.len() + j] * h[j]).sum())
                    .collect();
                sq_err(&proj, label)
            }
            // The rules below: the output layer learns from its squared
            // error; a hidden layer from the loss whose gradient its error is.
            _ if i + 1 == n => sq_err(&forward(layers[i], p, &xs, i, true, f), label),
            Rule::Dfa(_) => {
                // `(D_{i+1}ᵀ e_out) ⊙ f'` is the gradient of `e_out · (D_{i+1} h)`.
                let h = forward(layers[i], p, &xs, i, false, f);
                let d = &feedback[i + 1];
                (0..classes)
                    .map(|k| {
                        e_out[k] * (0..h.len()).map(|j| d[k * h.len() + j] * h[j]).sum::<f64>()
                    })
                    .sum()
            }
            Rule::Drtp => {
                // `Mᵀ(−y) ⊙ f'` is the gradient of `−(M h)[label]`.
                let h = forward(layers[i], p, &xs, i, false, f);
                let m = &classifiers[i];
                -(0..h.len())
                    .map(|j| m[label * h.len() + j] * h[j])
                    .sum::<f64>()
            }
            Rule::LocalLearned => {
                let h = forward(layers[i], p, &xs, i, false, f);
                let (m, c) = &learned[i];
                let out: Vec<f64> = (0..classes)
                    .map(|k| c[k] + (0..h.len()).map(|j| m[k * h.len() + j] * h[j]).sum::<f64>())
                    .collect();
                sq_err(&out, label)
            }
            other => unreachable!("no reference for {other}"),
        }
    };
    let eps = 1e-6;
    let mut moved = 0;
    for i in 0..n {
        for which in 0..4 {
            for j in 0..before[i].clone().slot(which).len() {
                let mut plus = before[i].clone();
                let mut minus = before[i].clone();
                plus.slot(which)[j] += eps;
                minus.slot(which)[j] -= eps;
                let grad = (loss(i, &plus) - loss(i, &minus)) / (2.0 * eps);
                let step = before[i].clone().slot(which)[j] - after[i].clone().slot(which)[j];
                moved += (step != 0.0) as usize;
                assert!(
                    (step - grad).abs() <= 2e-4 + 2e-3 * grad.abs(),
                    "{text} {} {f:?}: layer {i} {} [{j}]: step {step}, reference gradient {grad}",
                    rule.label(),
                    ["w", "b", "projection w", "projection b"][which]
                );
            }
        }
    }
    assert!(moved > 0, "{text} {}: nothing moved", rule.label());
}

#[test]
fn one_f32_step_follows_the_gradient_through_residual_blocks() {
    for (text, layers) in cases() {
        for rule in [
            Rule::Local,
            Rule::LocalLearned,
            Rule::Drtp,
            Rule::Dfa(BpPolicy::Stash),
            Rule::Dfa(BpPolicy::Recompute),
            Rule::Bp(BpPolicy::Stash),
            Rule::Bp(BpPolicy::Spill),
            Rule::Bp(BpPolicy::Recompute),
        ] {
            check_step(text, &layers, rule, Activation::Relu);
        }
        check_step(text, &layers, Rule::Drtp, Activation::HardTanh);
        check_step(
            text,
            &layers,
            Rule::Bp(BpPolicy::Recompute),
            Activation::HardTanh,
        );
        check_step(text, &layers, Rule::Local, Activation::HardTanh);
    }
}

/// The projection's parameters, which `run` does not return.
fn all_params(chip: &Chip<locus::hw::datapath::FixedDatapath<i16>>) -> Vec<Vec<i16>> {
    chip.layers()
        .iter()
        .flat_map(|l| {
            let (pw, pb) = l.projection().unwrap_or((&[], &[]));
            [l.w().to_vec(), l.b().to_vec(), pw.to_vec(), pb.to_vec()]
        })
        .collect()
}

/// Buffering policies change what is kept, not what is computed: at batch
/// 1, stash, spill and recompute end with identical fixed-point weights
/// (projections included); at batch 3, stash and spill do, a sample's skip
/// tensor coming back from the stash for the projection's update.
/// (Recompute at batch > 1 recomputes with weights earlier samples of the
/// batch already updated, so it differs by design.)
#[test]
fn backprop_policies_compute_identical_weights_through_residual_blocks() {
    let model = default_model();
    for (text, _) in cases() {
        let net = NetSpec::parse(text, Activation::Relu).expect("parses");
        let weights = |policy, batch: u64| {
            let dp = locus::hw::datapath::FixedDatapath::<i16>::new(&model, 5).expect("datapath");
            let mut chip = Chip::without_classifiers(&model, &net, dp, 9).expect("fits");
            for step in 0..12 / batch {
                let px: Vec<Vec<u8>> = (0..batch)
                    .map(|s| pixels(net.sizes[0], step * batch + s))
                    .collect();
                let samples: Vec<(&[u8], usize)> = px
                    .iter()
                    .enumerate()
                    .map(|(s, p)| (&p[..], s % 3))
                    .collect();
                Rule::Bp(policy)
                    .train_batch(&mut chip, &samples)
                    .expect("trains");
            }
            all_params(&chip)
        };
        let dp = locus::hw::datapath::FixedDatapath::<i16>::new(&model, 5).expect("datapath");
        let start = all_params(&Chip::without_classifiers(&model, &net, dp, 9).expect("fits"));
        for batch in [1, 3] {
            let stash = weights(BpPolicy::Stash, batch);
            assert_ne!(stash, start, "{text}: training moved the weights");
            assert_eq!(stash, weights(BpPolicy::Spill, batch), "{text}: spill");
            if batch == 1 {
                assert_eq!(stash, weights(BpPolicy::Recompute, 1), "{text}: recompute");
            }
        }
    }
}

/// Residual CNNs learn: a one-layer identity block with local errors and
/// backprop, and a deeper net of an identity block and a strided
/// projection block with backprop (the same net without its skips stays at
/// chance with both rules at this size and learning rate: 0.25); fixed
/// point within 0.1 of `f32`.
#[test]
fn residual_cnns_learn_a_synthetic_task_in_fixed_point_and_f32_alike() {
    let (tr, te) = synth();
    let model = default_model();
    let shallow = "1x8x8,conv3x3x4p1,conv3x3x4p1,res1,avgpool2,4";
    let deep = "1x8x8,conv3x3x4p1,conv3x3x4p1,conv3x3x4p1,res2,conv3x3x6s2p1,res1p,avgpool2,4";
    for (text, rule) in [
        (shallow, Rule::Local),
        (shallow, Rule::Bp(BpPolicy::Stash)),
        (deep, Rule::Bp(BpPolicy::Stash)),
    ] {
        let acc = |arith| {
            let cfg = TrainConfig {
                rule,
                net: NetSpec::parse(text, Activation::Relu).expect("parses"),
                epochs: 1,
                batch: 1,
                lr: 1.0 / 32.0,
                seed: 2,
                arith,
                train_limit: None,
                test_limit: None,
                lr_schedule: Default::default(),
                momentum: 0.0,
            };
            let (r, _) = run(&model, &cfg, &tr, &te, &mut |_, _| {}).expect("runs");
            r.epochs[0].test_accuracy
        };
        let (fixed, float) = (acc(Arith::Fixed), acc(Arith::F32));
        let name = format!("{text} {}", rule.label());
        assert!(fixed > 0.6, "{name}: fixed {fixed} near chance 0.25");
        assert!(float > 0.6, "{name}: f32 {float} near chance 0.25");
        assert!(
            (fixed - float).abs() <= 0.1,
            "{name}: fixed {fixed} vs f32 {float}"
        );
    }
}

/// The counts residual blocks add, in closed form (`docs/hw_model.md`,
/// "Residual blocks"): a network with an identity block (layers 1–2, skip
/// `x_1`: 4×8×8 = 256 values) and a one-layer projection block (layer 3,
/// skip `x_3`: 256 values, `1 × 1` stride-2 projection onto 6×4×4, then a
/// 4×4 average pool) against the same network without its skips, one
/// sample, for the rules whose errors reach each layer directly (local,
/// local-learned, DRTP: forward and update terms only; DFA under every
/// policy: with the stash terms) and backprop under every policy (with the
/// errors sent back along the skips). Each difference is
/// derived here term by term from the dataflow; dropping or doubling any
/// term of the chip's residual counts fails it.
#[test]
fn residual_blocks_add_their_closed_form_counts() {
    use locus::hw::counters::{Class, CoreCounts, Phase, Rw, Unit};
    use locus::hw::model::BankRole;
    let model = default_model();
    let with = "2x8x8,conv3x3x4p1,conv3x3x4p1,conv3x3x4p1,res2,conv3x3x6s2p1,res1p,avgpool4,5";
    let without = "2x8x8,conv3x3x4p1,conv3x3x4p1,conv3x3x4p1,conv3x3x6s2p1,avgpool4,5";
    let f = &model.formats;
    let (ab, eb, wb) = (f.activation.bits, f.error.bits, f.weight.bits);
    let words = |role, n: u64, bits| model.bank(role).words_for(n, bits);
    let (a, e, w) = (
        |n| words(BankRole::Activation, n, ab),
        |n| words(BankRole::Error, n, eb),
        |n| words(BankRole::Weight, n, wb),
    );
    let noc = |n: u64, bits| model.interconnect.words_for(n, bits);
    let s = 256u64; // each skip tensor
    // Projection: 16 positions, 4 inputs, 6 outputs; pooled output 6, its
    // average pool's derivative bits over 96 conv outputs.
    let (pos, pin, pout) = (16u64, 4u64, 6u64);
    let pmacs = pos * pout * pin;
    let pool_bits = words(BankRole::Activation, 96, 1);
    let total = |counts: &[CoreCounts]| {
        let mut t = CoreCounts::default();
        for c in counts {
            t = t.checked_add(c).expect("no overflow");
        }
        t
    };
    let mut rules = vec![Rule::Local, Rule::LocalLearned, Rule::Drtp];
    for p in BpPolicy::ALL {
        rules.extend([Rule::Bp(p), Rule::Dfa(p)]);
    }
    for rule in rules {
        let counts = |text| {
            let cfg = TrainConfig::new(rule, NetSpec::parse(text, Activation::Relu).unwrap(), 1);
            total(
                &locus::sim::estimate(&model, &cfg, 1)
                    .expect("estimates")
                    .counts,
            )
        };
        let (r, b) = (counts(with), counts(without));
        let dw = |u: Unit, c: Class, p: Phase, rw: Rw| {
            let i = |t: &CoreCounts| t.words[u.index()][c.index()][p.index()][rw.index()];
            i(&r) - i(&b)
        };
        let d = |x: &[u64; 4], y: &[u64; 4], p: Phase| x[p.index()] - y[p.index()];
        let (fw, bw, up) = (Phase::Forward, Phase::Backward, Phase::Update);
        let (ua, ue, uw, us) = (Unit::Activation, Unit::Error, Unit::Weight, Unit::Stash);
        let (ca, ce, cw) = (Class::Activation, Class::Error, Class::Weight);
        // Backprop sends errors back along the skips; DFA buffers as
        // backprop does but its errors reach each layer directly.
        let sends_back = matches!(rule, Rule::Bp(_));
        let buffers = rule.policy().is_some();
        let recompute = rule.policy() == Some(BpPolicy::Recompute);
        // Recompute re-sends x_1 for layers 1..=4 and x_3 for layers 3..=4,
        // and reruns layer 2's and layer 3's forward passes twice each.
        let (resend1, resend3, rerun) = if recompute { (4, 2, 2) } else { (0, 0, 0) };
        let label = rule.label();
        // Forward: both skips sent on (read at the block's first core,
        // written at its last), x_1 over one hop; the identity read whole,
        // the projection's 16 patches of 4, its kernels and biases, its
        // MACs; one add per conv output (256 and 96).
        assert_eq!(
            dw(ua, ca, fw, Rw::Read),
            2 * a(s) + a(s) + pos * a(pin),
            "{label}"
        );
        assert_eq!(dw(ua, ca, fw, Rw::Write), 2 * a(s), "{label}");
        assert_eq!(dw(uw, cw, fw, Rw::Read), w(pout * pin + pout), "{label}");
        assert_eq!(d(&r.macs, &b.macs, fw), pmacs, "{label}");
        assert_eq!(d(&r.adds, &b.adds, fw), 256 + 96, "{label}");
        assert_eq!(
            d(&r.noc_word_hops, &b.noc_word_hops, fw),
            noc(s, ab),
            "{label}"
        );
        // Update: the projection learns (patches, kernels and biases read
        // and written, positions·out·(in + 1) MACs).
        assert_eq!(dw(ua, ca, up, Rw::Read), pos * a(pin), "{label}");
        assert_eq!(dw(uw, cw, up, Rw::Read), w(pout * pin + pout), "{label}");
        assert_eq!(dw(uw, cw, up, Rw::Write), w(pout * pin + pout), "{label}");
        assert_eq!(d(&r.macs, &b.macs, up), pos * pout * (pin + 1), "{label}");
        if !buffers {
            for (u, c) in [(ua, ca), (ue, ce), (uw, cw)] {
                for rw in [Rw::Read, Rw::Write] {
                    assert_eq!(dw(u, c, bw, rw), 0, "{label}: no backward");
                }
            }
            continue;
        }
        // Backward: each block's last core reads its error again (layer 2:
        // 256 values; layer 3: its 6 pooled errors and pool tensor), the
        // projection's kernels with its MACs, sends 256 errors back (x_1's
        // over one hop) and parks them; each first core reads its parked
        // error and adds it (256 adds each).
        let stash_back = match rule.policy() {
            Some(BpPolicy::Stash) | Some(BpPolicy::Spill) => a(s),
            _ => 0,
        };
        let back = |x: u64| if sends_back { x } else { 0 };
        let errors_read = back(e(s) + e(pout) + 2 * e(s));
        assert_eq!(dw(ue, ce, bw, Rw::Read), errors_read, "{label}");
        assert_eq!(dw(ue, ce, bw, Rw::Write), back(2 * e(s)), "{label}");
        let weights = back(w(pout * pin)) + rerun * w(pout * pin + pout);
        assert_eq!(dw(uw, cw, bw, Rw::Read), weights, "{label}");
        let macs = back(pmacs) + rerun * pmacs;
        assert_eq!(d(&r.macs, &b.macs, bw), macs, "{label}");
        let adds = back(2 * s) + rerun * (256 + 96);
        assert_eq!(d(&r.adds, &b.adds, bw), adds, "{label}");
        let acts = back(pool_bits) + (resend1 + resend3) * a(s) + rerun * (a(s) + pos * a(pin));
        assert_eq!(dw(ua, ca, bw, Rw::Read), acts, "{label}");
        // Unstashing layer 3 restores its projection's skip tensor.
        assert_eq!(
            dw(ua, ca, bw, Rw::Write),
            stash_back + (resend1 + resend3) * a(s),
            "{label}"
        );
        assert_eq!(
            d(&r.noc_word_hops, &b.noc_word_hops, bw),
            back(noc(s, eb)) + resend1 * noc(s, ab),
            "{label}"
        );
        // The stash keeps x_3 with layer 3's input (stash: its bank; spill:
        // DRAM bytes), for the projection's update.
        let stash = words(BankRole::Stash, s, ab);
        let bytes = (s * ab as u64).div_ceil(8);
        let dd = |p: Phase, rw: Rw| {
            r.dram_bytes[p.index()][rw.index()] - b.dram_bytes[p.index()][rw.index()]
        };
        match rule.policy() {
            Some(BpPolicy::Stash) => {
                assert_eq!(dw(us, ca, fw, Rw::Write), stash, "{label}");
                assert_eq!(dw(us, ca, bw, Rw::Read), stash, "{label}");
            }
            Some(BpPolicy::Spill) => {
                // The default stash bank holds this net: spill stays on chip.
                let on_chip = dw(us, ca, fw, Rw::Write);
                assert!(on_chip == stash || dd(fw, Rw::Write) == bytes, "{label}");
            }
            _ => {
                assert_eq!(dw(us, ca, fw, Rw::Write), 0, "{label}");
                assert_eq!(dd(fw, Rw::Write), 0, "{label}");
            }
        }
    }
}
