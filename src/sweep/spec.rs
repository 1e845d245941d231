//! A sweep specification: a base configuration and a list of axes, each a
//! path into the hardware model or the training configuration with the values
//! to try. Its cartesian product is the list of points (last axis fastest).

use crate::hw::core::NetSpec;
use crate::hw::datapath::Activation;
use crate::hw::model::{self, HwModel};
use crate::rules::{BpPolicy, Rule};
use crate::sim::{Arith, LrSchedule, TrainConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Largest number of points a spec may expand to.
pub const MAX_POINTS: usize = 100_000;

/// A sweep as written in its JSON file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Short name shown in reports.
    pub name: String,
    /// The configuration every point starts from.
    pub base: BaseConfig,
    /// The axes of the grid; every combination of their values is a point.
    pub axes: Vec<Axis>,
}

/// The configuration every point starts from. Paths are relative to the
/// spec file's directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseConfig {
    /// Hardware model JSON file.
    pub model: PathBuf,
    /// Dataset directory (IDX files).
    pub data: PathBuf,
    /// Rule: any name of `locus train --rule` / `compare --rules` with one
    /// policy (`local`, `bp/spill`, `fa/stash`, ...); `bp` means `bp/spill`.
    pub rule: String,
    /// The network: layer sizes, input first, or a `--layers` text.
    pub layers: Layers,
    /// Hidden activation.
    pub activation: Activation,
    /// Epochs.
    pub epochs: u32,
    /// Batch size.
    pub batch: usize,
    /// Learning rate (realised as a power of two).
    pub lr: f64,
    /// Seed.
    pub seed: u64,
    /// Arithmetic.
    pub arith: Arith,
    /// Train on the first N samples of each epoch only.
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test samples only.
    pub test_limit: Option<usize>,
    /// Steps of the learning rate between epochs (`milestones`, `gamma`;
    /// as `--lr-milestones`, `--lr-gamma`); absent: constant.
    #[serde(default, skip_serializing_if = "LrSchedule::is_constant")]
    pub lr_schedule: LrSchedule,
}

/// A network in a spec: dense sizes (`[784, 256, 10]`) or the text of
/// `--layers` (`"1x28x28,conv5x5x16,maxpool2,10"`, for networks with
/// convolutions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Layers {
    /// Dense layer sizes, input first.
    Sizes(Vec<usize>),
    /// A layer description as `--layers` takes it.
    Text(String),
}

impl Layers {
    /// The network with hidden activation `activation`, or why it is not one.
    pub fn net(&self, activation: Activation) -> Result<NetSpec, String> {
        match self {
            Layers::Sizes(sizes) => {
                let net = NetSpec::dense(sizes.clone(), activation);
                net.validate().map_err(|e| e.to_string())?;
                Ok(net)
            }
            Layers::Text(text) => NetSpec::parse(text, activation).map_err(|e| e.to_string()),
        }
    }
}

/// One axis: a dotted path and the values it takes.
///
/// Paths start with `model.` (a field of the hardware model, e.g.
/// `model.formats.weight.bits`, or a whole object such as
/// `model.formats.weight` whose object values are merged into it) or with
/// `config.` (a field of [`BaseConfig`], e.g. `config.rule`, `config.seed`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Dotted path of the setting.
    pub path: String,
    /// Values to try, in order.
    pub values: Vec<Value>,
}

/// Why a spec or one of its points is not valid; names the file and field.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The spec file cannot be read.
    #[error("{path}: cannot read: {cause}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The spec file is not a valid spec.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// serde's message with the field path.
        message: String,
    },
    /// A spec-level value is wrong (empty grid, unknown path, ...).
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A point's model or configuration is not valid.
    #[error("{path}: point {index} ({point}): {message}")]
    Point {
        /// The spec file.
        path: String,
        /// Point index.
        index: usize,
        /// The point's axis values.
        point: String,
        /// What is wrong (names the model field).
        message: String,
    },
}

/// A point of the grid, resolved into a model and a configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Index in the grid (last axis fastest).
    pub index: usize,
    /// `(path, value)` of every axis.
    pub settings: Vec<(String, Value)>,
    /// The hardware model of this point.
    pub model: HwModel,
    /// The training configuration of this point.
    pub config: TrainConfig,
    /// Dataset directory.
    pub data: PathBuf,
}

impl Point {
    /// The axis values as a JSON object (`path → value`).
    pub fn settings_json(&self) -> Value {
        Value::Object(self.settings.iter().cloned().collect())
    }
}

/// A spec loaded from a file with its base model, ready to expand.
#[derive(Clone, Debug)]
pub struct LoadedSpec {
    /// The spec.
    pub spec: SweepSpec,
    /// Where it was read from.
    pub path: PathBuf,
    /// Hash of the spec's canonical JSON (stored in every result line).
    pub hash: String,
    /// Every hardware model the grid uses (the base's and those of a
    /// `config.model` axis), by the path written in the spec.
    models: BTreeMap<PathBuf, Value>,
    base_dir: PathBuf,
}

/// 64-bit FNV-1a, hex: a stable fingerprint of a spec (not cryptographic).
fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Parses a rule name of [`Rule::NAMES`] into one rule (`bp` = `bp/spill`).
pub fn parse_rule(s: &str) -> Option<Rule> {
    match s {
        "bp" => Some(Rule::Bp(BpPolicy::Spill)),
        _ => match Rule::expand(s)?.as_slice() {
            [one] => Some(*one),
            _ => None,
        },
    }
}

impl LoadedSpec {
    /// Reads and checks a spec file: parse errors name the field; the grid
    /// must be non-empty and every axis path known.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|cause| SpecError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        Self::from_json_str(&text, path, |model| std::fs::read_to_string(model))
    }

    /// As [`LoadedSpec::load`] for a spec already read into `text`; `path`
    /// names it in errors and anchors its relative paths, and `read_model`
    /// reads a model file (the base's and those of a `config.model` axis; the file system for `load`; a fixed text
    /// for fuzzing).
    pub fn from_json_str(
        text: &str,
        path: &Path,
        read_model: impl Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Self, SpecError> {
        let p = path.display().to_string();
        let spec: SweepSpec = {
            let de = &mut serde_json::Deserializer::from_str(text);
            let spec =
                serde_path_to_error::deserialize(&mut *de).map_err(|e| SpecError::Parse {
                    path: p.clone(),
                    message: format!("{}: {}", e.path(), e.inner()),
                })?;
            // Anything but whitespace after the spec object is an error too.
            de.end().map_err(|e| SpecError::Parse {
                path: p.clone(),
                message: e.to_string(),
            })?;
            spec
        };
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let invalid = |field: &str, message: String| SpecError::Invalid {
            path: p.clone(),
            field: field.to_string(),
            message,
        };
        if spec.axes.is_empty() {
            return Err(invalid(
                "axes",
                "empty: a sweep needs at least one axis".into(),
            ));
        }
        let mut points = 1usize;
        for (k, axis) in spec.axes.iter().enumerate() {
            let field = format!("axes[{k}]");
            if axis.values.is_empty() {
                return Err(invalid(
                    &format!("{field}.values"),
                    format!(
                        "empty for path {}: the grid would have no points",
                        axis.path
                    ),
                ));
            }
            if !(axis.path.starts_with("model.") || axis.path.starts_with("config.")) {
                return Err(invalid(
                    &format!("{field}.path"),
                    format!("{:?}: must start with `model.` or `config.`", axis.path),
                ));
            }
            points = points.saturating_mul(axis.values.len());
        }
        if points > MAX_POINTS {
            return Err(invalid(
                "axes",
                format!("{points} points: at most {MAX_POINTS}"),
            ));
        }
        let read_json = |rel: &Path| -> Result<Value, SpecError> {
            let model_path = base_dir.join(rel);
            let text = read_model(&model_path).map_err(|cause| SpecError::Read {
                path: model_path.display().to_string(),
                cause,
            })?;
            serde_json::from_str(&text).map_err(|e| SpecError::Parse {
                path: model_path.display().to_string(),
                message: e.to_string(),
            })
        };
        let base_model = read_json(&spec.base.model)?;
        let mut models = BTreeMap::new();
        models.insert(spec.base.model.clone(), base_model.clone());
        for (k, axis) in spec.axes.iter().enumerate() {
            if axis.path != "config.model" {
                continue;
            }
            for (j, v) in axis.values.iter().enumerate() {
                let Some(rel) = v.as_str() else {
                    return Err(invalid(
                        &format!("axes[{k}].values[{j}]"),
                        format!("{v}: a hardware model path must be a string"),
                    ));
                };
                let rel = PathBuf::from(rel);
                if let std::collections::btree_map::Entry::Vacant(slot) = models.entry(rel) {
                    let m = read_json(slot.key())
                        .map_err(|e| invalid(&format!("axes[{k}].values[{j}]"), e.to_string()))?;
                    slot.insert(m);
                }
            }
        }
        // The hash covers the spec and the models' contents, so a results
        // file cannot be resumed against an edited model. (Specs without a
        // model axis hash the base model alone, as before.)
        let canonical = if models.len() > 1 {
            serde_json::json!({ "spec": spec, "model": base_model, "models": models })
        } else {
            serde_json::json!({ "spec": spec, "model": base_model })
        };
        let hash = fnv1a_hex(canonical.to_string().as_bytes());
        Ok(LoadedSpec {
            spec,
            path: path.to_path_buf(),
            hash,
            models,
            base_dir,
        })
    }

    /// Number of points in the grid.
    pub fn len(&self) -> usize {
        self.spec.axes.iter().map(|a| a.values.len()).product()
    }

    /// Whether the grid has no points (never true for a loaded spec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The axis values of point `index` (last axis fastest).
    pub fn settings(&self, index: usize) -> Vec<(String, Value)> {
        let mut rest = index;
        let mut out = vec![(String::new(), Value::Null); self.spec.axes.len()];
        for (k, axis) in self.spec.axes.iter().enumerate().rev() {
            let n = axis.values.len();
            out[k] = (axis.path.clone(), axis.values[rest % n].clone());
            rest /= n;
        }
        out
    }

    /// Resolves point `index` into a validated model and configuration.
    pub fn point(&self, index: usize) -> Result<Point, SpecError> {
        let settings = self.settings(index);
        let fail = |message: String| SpecError::Point {
            path: self.path.display().to_string(),
            index,
            point: Value::Object(settings.iter().cloned().collect()).to_string(),
            message,
        };
        let mut config = serde_json::to_value(&self.spec.base).map_err(|e| fail(e.to_string()))?;
        // Configuration first: it may choose the hardware model the
        // `model.` settings then apply to.
        for (path, value) in &settings {
            if let Some(rest) = path.strip_prefix("config.") {
                set_path(&mut config, rest, value.clone())
                    .map_err(|m| fail(format!("{path}: {m}")))?;
            } else if !path.starts_with("model.") {
                return Err(fail(format!(
                    "{path}: must start with `model.` or `config.`"
                )));
            }
        }
        let model_rel = PathBuf::from(config.get("model").and_then(Value::as_str).unwrap_or(""));
        let mut model = self.models.get(&model_rel).cloned().ok_or_else(|| {
            fail(format!(
                "config.model = {}: not loaded",
                model_rel.display()
            ))
        })?;
        // The model's optional fields (`offchip`, `fusion`) can be swept
        // even where the file leaves them out: an axis on one starts from
        // its default.
        for (key, default) in [
            ("offchip", serde_json::json!({"weights": "on_chip"})),
            (
                "fusion",
                serde_json::json!({"update_forward": false, "backward_update": false}),
            ),
        ] {
            let prefix = format!("model.{key}");
            let swept = settings.iter().any(|(p, _)| p.starts_with(&prefix));
            if swept && model.get(key).is_none() {
                model[key] = default;
            }
        }
        for (path, value) in &settings {
            if let Some(rest) = path.strip_prefix("model.") {
                set_path(&mut model, rest, value.clone())
                    .map_err(|m| fail(format!("{path}: {m}")))?;
            }
        }
        // The error already names the spec file and point: the model's
        // part of the message starts with `model:` and the field.
        let model =
            model::from_json_str(&model.to_string(), "model").map_err(|e| fail(e.to_string()))?;
        let base: BaseConfig = {
            let de = config.clone();
            serde_path_to_error::deserialize(de)
                .map_err(|e| fail(format!("config.{}: {}", e.path(), e.inner())))?
        };
        let rule = parse_rule(&base.rule).ok_or_else(|| {
            fail(format!(
                "config.rule = {:?}: must be one of {} (bp = bp/spill)",
                base.rule,
                Rule::NAMES.join(", ")
            ))
        })?;
        let config = TrainConfig {
            rule,
            net: base
                .layers
                .net(base.activation)
                .map_err(|m| fail(format!("config.layers: {m}")))?,
            epochs: base.epochs,
            batch: base.batch,
            lr: base.lr,
            seed: base.seed,
            arith: base.arith,
            train_limit: base.train_limit,
            test_limit: base.test_limit,
            lr_schedule: base.lr_schedule.clone(),
            momentum: 0.0,
        };
        crate::sim::lr_shift(config.lr).map_err(|e| fail(e.to_string()))?;
        crate::sim::lr_shifts(&config).map_err(|e| fail(e.to_string()))?;
        if config.epochs == 0 || config.batch == 0 {
            return Err(fail(
                "config.epochs and config.batch must be at least 1".into(),
            ));
        }
        Ok(Point {
            index,
            settings,
            model,
            config,
            data: self.base_dir.join(&base.data),
        })
    }
}

/// Sets `root.<dotted path>` to `value`; an object value is merged into an
/// existing object. The path must exist in `root`.
fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut cur = root;
    for key in path.split('.') {
        cur = cur
            .get_mut(key)
            .ok_or_else(|| format!("no field `{key}` here"))?;
    }
    match (cur, value) {
        (Value::Object(dst), Value::Object(src)) => {
            for (k, v) in src {
                if !dst.contains_key(&k) {
                    return Err(format!("no field `{k}` here"));
                }
                dst.insert(k, v);
            }
        }
        (slot, v) => *slot = v,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_path_replaces_and_merges() {
        let mut v = json!({"a": {"b": 1, "c": {"d": 2, "e": 3}}});
        set_path(&mut v, "a.b", json!(5)).unwrap();
        set_path(&mut v, "a.c", json!({"e": 9})).unwrap();
        assert_eq!(v, json!({"a": {"b": 5, "c": {"d": 2, "e": 9}}}));
        assert!(
            set_path(&mut v, "a.x", json!(1))
                .unwrap_err()
                .contains("`x`")
        );
        assert!(
            set_path(&mut v, "a.c", json!({"z": 1}))
                .unwrap_err()
                .contains("`z`")
        );
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(fnv1a_hex(b""), "cbf29ce484222325");
        assert_eq!(fnv1a_hex(b"a"), "af63dc4c8601ec8c");
    }

    #[test]
    fn rules_parse() {
        assert_eq!(parse_rule("local"), Some(Rule::Local));
        assert_eq!(
            parse_rule("bp/recompute"),
            Some(Rule::Bp(BpPolicy::Recompute))
        );
        assert_eq!(parse_rule("fa"), Some(Rule::Fa(BpPolicy::Spill)));
        assert_eq!(parse_rule("local-learned"), Some(Rule::LocalLearned));
        assert_eq!(parse_rule("bp"), Some(Rule::Bp(BpPolicy::Spill)));
        assert_eq!(parse_rule("pepita"), Some(Rule::Pepita));
        assert_eq!(parse_rule("predsim"), Some(Rule::Predsim));
    }
}
