//! The weight layers of the small test CNNs, worked out by hand from the
//! network texts (independently of `src/hw`): shared by the count tests and
//! the training tests, with the default model and the synthetic task the
//! training tests learn.
#![allow(dead_code)]

/// `hw_models/default.json`.
pub fn default_model() -> locus::hw::model::HwModel {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hw_models/default.json");
    locus::hw::model::load(&path).expect("default model loads")
}

/// A chip in `f32` (learning rate 1, seed 3) for one step of `rule` on
/// `net`, its feedback attached, with what the rule's reference needs from
/// before the step: per layer the learned classifier (`classes × rows`,
/// then biases), the fixed feedback matrix (DFA: `classes × cols_i` for
/// layer `i ≥ 1`; empty where none) and the fixed classifier's values.
#[allow(clippy::type_complexity)]
pub fn float_chip(
    net: &locus::hw::core::NetSpec,
    rule: locus::rules::Rule,
) -> (
    locus::hw::core::Chip<locus::hw::datapath::FloatDatapath>,
    Vec<(Vec<f64>, Vec<f64>)>,
    Vec<Vec<f64>>,
    Vec<Vec<f64>>,
) {
    use locus::hw::core::Chip;
    let model = default_model();
    let dp = locus::hw::datapath::FloatDatapath::new(0);
    let mut chip = if rule.uses_classifiers() {
        Chip::new(&model, net, dp, 3).expect("fits")
    } else {
        Chip::without_classifiers(&model, net, dp, 3).expect("fits")
    };
    if let Some(kind) = rule.feedback() {
        chip.attach_feedback(kind, 3).expect("feedback fits");
    }
    let n = chip.num_layers();
    let learned = (0..n).map(|i| chip.learned_classifier(i)).collect();
    let feedback = (0..n)
        .map(|i| chip.feedback_matrix(i).unwrap_or_default())
        .collect();
    let classifiers = chip
        .layers()
        .iter()
        .map(|l| l.classifier().iter().map(|&v| v as f64).collect())
        .collect();
    (chip, learned, feedback, classifiers)
}

/// 4 classes of noisy 8×8 prototypes (400 training, 200 test samples):
/// chance is 25 %.
pub fn synth() -> (locus::data::Dataset, locus::data::Dataset) {
    locus::data::generate(&locus::data::SyntheticSpec {
        classes: 4,
        sample_len: 64,
        train: 400,
        test: 200,
        noise: 40,
        seed: 4,
    })
    .expect("synthetic data")
}

/// One weight layer as the tests see it.
#[derive(Clone, Copy, Debug)]
pub enum Lay {
    /// `r × c` dense.
    Dense { r: usize, c: usize },
    /// Conv of an `ic × h × w` map by `o` kernels `k × k` over the `ic/g`
    /// channels of their group (`g` groups), stride `s`, padding `p`, then
    /// pooling `(max?, n)` or none.
    Conv {
        g: usize,
        ic: usize,
        h: usize,
        w: usize,
        k: usize,
        o: usize,
        s: usize,
        p: usize,
        pool: Option<(bool, usize)>,
        /// Pooling stride and padding (`n` and 0: windows tile the map).
        ps: usize,
        pp: usize,
    },
}

/// A conv layer on a square `ic × hw × hw` input.
pub fn conv(
    ic: usize,
    hw: usize,
    k: usize,
    o: usize,
    s: usize,
    p: usize,
    pool: Option<(bool, usize)>,
) -> Lay {
    grouped(ic, hw, k, o, s, p, 1, pool)
}

/// A conv layer of `g` groups on a square `ic × hw × hw` input.
#[allow(clippy::too_many_arguments)]
pub fn grouped(
    ic: usize,
    hw: usize,
    k: usize,
    o: usize,
    s: usize,
    p: usize,
    g: usize,
    pool: Option<(bool, usize)>,
) -> Lay {
    Lay::Conv {
        g,
        ic,
        h: hw,
        w: hw,
        k,
        o,
        s,
        p,
        pool,
        ps: pool.map_or(1, |(_, n)| n),
        pp: 0,
    }
}

impl Lay {
    /// This conv layer with its max pool at stride `ps`, padding `pp`
    /// (overlapping windows).
    pub fn pool_at(self, ps_: usize, pp_: usize) -> Lay {
        match self {
            Lay::Conv {
                g,
                ic,
                h,
                w,
                k,
                o,
                s,
                p,
                pool,
                ..
            } => Lay::Conv {
                g,
                ic,
                h,
                w,
                k,
                o,
                s,
                p,
                pool,
                ps: ps_,
                pp: pp_,
            },
            d => d,
        }
    }
    /// Pooled side of a conv output side `a`.
    pub fn pooled_side(&self, a: usize) -> usize {
        match *self {
            Lay::Conv {
                pool: Some((_, n)),
                ps,
                pp,
                ..
            } => (a + 2 * pp - n) / ps + 1,
            _ => a,
        }
    }
    /// Whether the pool windows overlap or are padded (the map is stored).
    pub fn overlapping(&self) -> bool {
        matches!(*self, Lay::Conv { pool: Some((_, n)), ps, pp, .. } if ps != n || pp != 0)
    }
    /// Conv output height and width, before pooling (a dense layer: 1 × 1).
    pub fn conv_hw(&self) -> (usize, usize) {
        match *self {
            Lay::Conv { h, w, k, s, p, .. } => ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1),
            Lay::Dense { .. } => (1, 1),
        }
    }

    /// Output positions `P` of a conv (a dense layer: 1).
    pub fn positions(&self) -> usize {
        let (a, b) = self.conv_hw();
        a * b
    }
}
