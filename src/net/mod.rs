//! The network: its description ([`spec`]: dense sizes or CNN layers, shape
//! arithmetic, validation) and the readers that turn a user's file into it
//! ([`onnx`], [`scalesim`], or a file holding `--layers` text). Each reader
//! turns its format into layer tokens and nothing else; none knows the
//! hardware.

pub mod onnx;
pub mod scalesim;
pub mod spec;

use spec::{Activation, LayerSpec, NetSpec, NetSpecError};
use std::path::Path;

/// A network file that cannot be read: one line naming the file and, where
/// there is one, the node, row or token.
#[derive(Debug, thiserror::Error)]
pub enum NetFileError {
    /// The file cannot be read (the I/O error follows as the source).
    #[error("{file}: cannot read")]
    Read {
        /// The path as given.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file's contents are not a network locus can read.
    #[error("{file}: {what}")]
    Format {
        /// The path as given.
        file: String,
        /// What is wrong, naming the node, row or field.
        what: String,
    },
    /// The layers read are not a valid network description (the
    /// description's error follows as the source).
    #[error("{file}")]
    Spec {
        /// The path as given.
        file: String,
        /// The description's error.
        source: NetSpecError,
    },
}

/// The format of a network file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetFormat {
    /// An ONNX model (`.onnx`).
    Onnx,
    /// A SCALE-Sim topology CSV (`.csv`).
    ScaleSim,
    /// The `--layers` text (any other extension, e.g. `.txt`).
    Layers,
}

impl NetFormat {
    /// The format a path's extension names.
    pub fn of(path: &Path) -> NetFormat {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("onnx") => NetFormat::Onnx,
            Some("csv") => NetFormat::ScaleSim,
            _ => NetFormat::Layers,
        }
    }
}

/// A network read from a file, with what the reader folded or ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedNet {
    /// The network (its activation: the file's, else `default_activation`).
    pub spec: NetSpec,
    /// Whether the file named the activation (a hidden `Relu`, `Clip`, …).
    pub activation_from_file: bool,
    /// Notes for the user, one line each.
    pub notes: Vec<String>,
    /// A name per weight layer: the ONNX node's, the SCALE-Sim row's, or
    /// the layer's tokens ([`NetSpec::layer_labels`]).
    pub names: Vec<String>,
}

/// Reads the network in `path` (format by extension: [`NetFormat::of`]).
/// `input` (`[c, h, w]`) fills in input sizes an ONNX file leaves open, or
/// gives a SCALE-Sim topology's input channels' image; `default_activation`
/// applies where the file names none.
pub fn load(
    path: &Path,
    input: Option<[usize; 3]>,
    default_activation: Activation,
) -> Result<LoadedNet, NetFileError> {
    let file = path.display().to_string();
    let read_error = |source| NetFileError::Read {
        file: file.clone(),
        source,
    };
    let read = || std::fs::read(path).map_err(read_error);
    let format = |what: String| NetFileError::Format {
        file: file.clone(),
        what,
    };
    let text = |bytes: Vec<u8>| {
        String::from_utf8(bytes).map_err(|e| format(format!("not UTF-8 text ({})", e.utf8_error())))
    };
    let (stack, activation, notes, names): (
        Vec<LayerSpec>,
        Option<Activation>,
        Vec<String>,
        Vec<String>,
    ) = match NetFormat::of(path) {
        NetFormat::Onnx => {
            let bytes = onnx_bytes(path).map_err(read_error)?;
            let got = onnx::read(bytes, input).map_err(format)?;
            (got.stack, got.activation, got.notes, got.names)
        }
        NetFormat::ScaleSim => {
            let rows =
                scalesim::parse_topology(&text(read()?)?).map_err(|e| format(e.to_string()))?;
            let (stack, notes) = scalesim::to_stack(&rows, input).map_err(format)?;
            // Every row is one weight layer (a conv or a dense layer).
            let names = rows.iter().map(|r| r.name().to_string()).collect();
            (stack, None, notes, names)
        }
        NetFormat::Layers => {
            if input.is_some() {
                return Err(format(
                    "--input is for ONNX and SCALE-Sim files; a layer text names its input".into(),
                ));
            }
            let t = text(read()?)?;
            let spec = NetSpec::parse(t.trim(), default_activation).map_err(|source| {
                NetFileError::Spec {
                    file: file.clone(),
                    source,
                }
            })?;
            return Ok(LoadedNet {
                names: spec.layer_labels(),
                spec,
                activation_from_file: false,
                notes: Vec::new(),
            });
        }
    };
    let spec = NetSpec::from_stack(stack, activation.unwrap_or(default_activation))
        .map_err(|source| NetFileError::Spec { file, source })?;
    Ok(LoadedNet {
        spec,
        activation_from_file: activation.is_some(),
        notes,
        names,
    })
}

/// Files at least this large are mapped into memory rather than read:
/// 64 MiB.
const MAP_FROM_BYTES: u64 = 64 << 20;

/// An ONNX file's bytes. A large one (weights included) is mapped, not
/// read: the decoder slices the weights' bytes without touching them, so
/// they never become resident.
fn onnx_bytes(path: &Path) -> std::io::Result<prost::bytes::Bytes> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len < MAP_FROM_BYTES {
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)?;
        return Ok(bytes.into());
    }
    // SAFETY: the map is read-only and private to this process, which only
    // reads it. As with any mapped file, another process truncating the
    // file while it is decoded would fault; a network file is not expected
    // to change under a run.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(prost::bytes::Bytes::from_owner(map))
}
