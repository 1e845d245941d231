//! Reader for SCALE-Sim topology files, so that the workloads shipped with
//! SCALE-Sim (repositories `scalesim-project/scale-sim-v2` and `scale-sim-v3`,
//! `topologies/conv_nets/*.csv`, `topologies/GEMM_mnk/*.csv` and others) run
//! here.
//!
//! A topology is comma-separated text: one header row, then one layer per row,
//! in one of two forms, told apart by the header's second column:
//!
//! - **Conv**: `Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter
//!   Width, Channels, Num Filter, Strides,` with rows such as
//!   `Conv1,224,224,7,7,3,64,2,`. There is no padding column: the IFMAP sizes
//!   are those of the padded input. The one stride applies in both directions.
//! - **GEMM**: `Layer Name, M, N, K,` with rows such as `fc1,1,1000,2048,`
//!   (see [`TopologyLayer::Gemm`] for what M, N and K are).
//!
//! Like SCALE-Sim, fields are read by position. The header must name the
//! columns in that order, compared case-insensitively and ignoring whitespace,
//! with the variants found in SCALE-Sim's own files: any title for the first
//! (name) column (`Layer name`, `Layer`, `L`), singular or plural `Channels`,
//! `Num Filter`, `Strides`, and `IFMAP Width` for the first IFMAP column (a
//! slip in its DeepBench files). Tolerated quirks: trailing commas; further
//! columns, empty or not, after the required ones (`Resnet50.csv` has
//! `,,Eh,Ew,e2` after `Strides`, version 3 files a sparsity ratio); blank lines
//! and lines of only commas and whitespace (the second row of `Resnet50.csv`);
//! whitespace around fields; CRLF line endings; a UTF-8 byte-order mark. There
//! is no quoting: a comma always separates.
//!
//! Anything else is refused with a one-line [`TopologyError`] naming the row
//! (line number and layer name), the column and the offending value: a header
//! of neither form or lacking a column, a missing field or empty name, a field
//! that is not a whole number from 1 to 2^32, a filter larger than its IFMAP,
//! more than 2^48 multiply-accumulates in a layer, no data rows. Unlike
//! SCALE-Sim, a layer named `…DP…` is not split into one convolution per
//! channel.

use super::spec::LayerSpec;

/// The largest value accepted in a numeric field: 2^32. SCALE-Sim layers are
/// many orders of magnitude smaller; anything above is a typo or garbage.
const MAX_FIELD: u64 = 1 << 32;

/// The most multiply-accumulates one layer may have: 2^48, so that
/// [`TopologyLayer::macs`] and sums of a few layers' MACs stay far from u64
/// overflow.
const MAX_MACS: u64 = 1 << 48;

/// The longest value (in characters) quoted in full in an error message.
const QUOTE_CHARS: usize = 40;

/// One layer of a SCALE-Sim topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopologyLayer {
    /// A convolution: `ifmap_h × ifmap_w` (padded) input of `channels`,
    /// `num_filter` filters of `filter_h × filter_w × channels`, stride
    /// `stride` in both directions. Sizes are in elements; `name` is the row's
    /// first field (trimmed) and `line` the row's 1-based line in the file.
    Conv {
        name: String,
        line: usize,
        ifmap_h: usize,
        ifmap_w: usize,
        filter_h: usize,
        filter_w: usize,
        channels: usize,
        num_filter: usize,
        stride: usize,
    },
    /// A matrix product `C = A · B` with `A` of `m × k`, `B` of `k × n` and
    /// `C` of `m × n`: `m` is the number of output rows (the batch, or the
    /// output positions of a convolution lowered to a GEMM), `n` the number of
    /// output columns (the output features or filters), and `k` the reduction
    /// dimension (the length of each dot product). SCALE-Sim (version 3,
    /// `topology_utils.load_arrays_gemm`) runs such a row as a convolution of
    /// an `m × k` IFMAP of 1 channel with `n` filters of `1 × k`, stride 1.
    /// `name` and `line` as for `Conv`.
    Gemm {
        name: String,
        line: usize,
        m: usize,
        n: usize,
        k: usize,
    },
}

impl TopologyLayer {
    /// The layer's name as written in its row (trimmed).
    pub fn name(&self) -> &str {
        match self {
            Self::Conv { name, .. } | Self::Gemm { name, .. } => name,
        }
    }

    /// The 1-based line number of the layer's row in the file, for messages.
    pub fn line(&self) -> usize {
        match self {
            Self::Conv { line, .. } | Self::Gemm { line, .. } => *line,
        }
    }

    /// Output height and width of a conv row, in elements:
    /// `(ifmap − filter) / stride + 1`, rounded down, i.e. the windows that
    /// fit wholly inside the (padded) IFMAP. SCALE-Sim itself computes
    /// `ceil((ifmap − filter + stride) / stride)`, one more when the stride
    /// does not divide `ifmap − filter` (Conv1 of ResNet-50, 224/7/2: 110
    /// there, 109 here). For GEMM rows (1, 1), although SCALE-Sim's lowering
    /// to a convolution gives (m, 1). Never panics: a hand-built row with a
    /// zero stride or a filter larger than its IFMAP gives 0.
    pub fn ofmap_hw(&self) -> (usize, usize) {
        match *self {
            Self::Conv {
                ifmap_h,
                ifmap_w,
                filter_h,
                filter_w,
                stride,
                ..
            } => (
                out_size(ifmap_h, filter_h, stride),
                out_size(ifmap_w, filter_w, stride),
            ),
            Self::Gemm { .. } => (1, 1),
        }
    }

    /// Multiply-accumulates of the row (conv: oh·ow·fh·fw·channels·num_filter;
    /// gemm: m·n·k). At most 2^48 for every layer [`parse_topology`] returns;
    /// saturates at `u64::MAX` for a hand-built layer that would overflow.
    pub fn macs(&self) -> u64 {
        let (oh, ow) = self.ofmap_hw();
        let factors = match *self {
            Self::Conv {
                filter_h,
                filter_w,
                channels,
                num_filter,
                ..
            } => [oh, ow, filter_h, filter_w, channels, num_filter],
            Self::Gemm { m, n, k, .. } => [m, n, k, 1, 1, 1],
        };
        factors
            .into_iter()
            .map(|f| u64::try_from(f).unwrap_or(u64::MAX))
            .fold(1, u64::saturating_mul)
    }
}

/// One output dimension: whole windows of `filter` at `stride` in `input`.
fn out_size(input: usize, filter: usize, stride: usize) -> usize {
    input
        .checked_sub(filter)
        .and_then(|room| room.checked_div(stride))
        .map_or(0, |steps| steps.saturating_add(1))
}

/// Why a topology cannot be read. The message is one line naming the row
/// (`row 7 (Conv3)`), the column and the offending value; the caller prefixes
/// the file name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what}")]
pub struct TopologyError {
    /// The 1-based line number of the offending row, or `None` when the
    /// problem is the file as a whole (empty, no data rows).
    pub line: Option<usize>,
    /// The complete message, row and column included.
    pub what: String,
}

/// The form of a topology, told by its header.
#[derive(Clone, Copy, Debug)]
enum Form {
    Conv,
    Gemm,
}

/// A numeric column: its title in messages and the header names accepted
/// for it (lowercase, without whitespace).
type Column = (&'static str, &'static [&'static str]);

/// The numeric columns of the conv form, in order after the name. The first
/// may be labelled `IFMAP Width`, as in SCALE-Sim's DeepBench files; SCALE-Sim
/// reads it as the height whatever its label.
const CONV_COLUMNS: [Column; 7] = [
    ("IFMAP Height", &["ifmapheight", "ifmapwidth"]),
    ("IFMAP Width", &["ifmapwidth"]),
    ("Filter Height", &["filterheight"]),
    ("Filter Width", &["filterwidth"]),
    ("Channels", &["channels", "channel"]),
    ("Num Filter", &["numfilter", "numfilters"]),
    ("Strides", &["strides", "stride"]),
];

/// The numeric columns of the GEMM form, in order after the name.
const GEMM_COLUMNS: [Column; 3] = [("M", &["m"]), ("N", &["n"]), ("K", &["k"])];

/// Parses a SCALE-Sim topology (conv or GEMM form, told apart by the header)
/// into its layers, in file order. `text` is the whole file; see the module
/// documentation for what is tolerated and what is refused.
pub fn parse_topology(text: &str) -> Result<Vec<TopologyLayer>, TopologyError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = text
        .lines()
        .enumerate()
        .map(|(i, row)| (i + 1, row))
        .filter(|(_, row)| row.split(',').any(|f| !f.trim().is_empty()));
    let Some((header_line, header)) = rows.next() else {
        return Err(TopologyError {
            line: None,
            what: "no header row: the topology is empty".to_string(),
        });
    };
    let form = read_header(header_line, header)?;
    let layers = rows
        .map(|(line, row)| read_layer(form, line, row))
        .collect::<Result<Vec<_>, _>>()?;
    if layers.is_empty() {
        return Err(TopologyError {
            line: None,
            what: format!("no data rows after the header (row {header_line})"),
        });
    }
    Ok(layers)
}

/// Tells the form from the header (by its second column) and checks that the
/// header names that form's columns in order.
fn read_header(line: usize, header: &str) -> Result<Form, TopologyError> {
    let fields: Vec<&str> = header.split(',').map(str::trim).collect();
    let key = |f: &str| f.split_whitespace().collect::<String>().to_lowercase();
    let fail = |why: String| TopologyError {
        line: Some(line),
        what: format!("row {line} (header): {why}"),
    };
    let (form, columns): (_, &[Column]) = match fields.get(1).map(|f| key(f)).as_deref() {
        Some("m") => (Form::Gemm, &GEMM_COLUMNS),
        Some("ifmapheight" | "ifmapwidth") => (Form::Conv, &CONV_COLUMNS),
        _ => {
            return Err(fail(format!(
                "unrecognised header {}: expected SCALE-Sim's `Layer name, IFMAP Height, \
                 IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides` \
                 or `Layer Name, M, N, K`",
                quoted(header.trim())
            )));
        }
    };
    for (index, &(title, names)) in columns.iter().enumerate() {
        match fields.get(index + 1) {
            Some(field) if names.contains(&key(field).as_str()) => {}
            Some(field) => {
                let found = quoted(field);
                return Err(fail(format!("expected column \"{title}\", found {found}")));
            }
            None => return Err(fail(format!("column \"{title}\" is missing"))),
        }
    }
    Ok(form)
}

/// An error about the row at `line` named `name` (which may be empty) and,
/// if given, its `column`.
fn row_error(line: usize, name: &str, column: Option<&str>, why: &str) -> TopologyError {
    let (short, more) = clip(name);
    let name = match name {
        "" => String::new(),
        _ => format!(" ({}{more})", short.escape_debug()),
    };
    let column = column
        .map(|c| format!(": column \"{c}\""))
        .unwrap_or_default();
    let what = format!("row {line}{name}{column}: {why}");
    TopologyError {
        line: Some(line),
        what,
    }
}

/// Splits a data row into its name (the first field) and the numbers of the
/// `columns` that follow it.
fn read_row<'a, const N: usize>(
    columns: &[Column; N],
    line: usize,
    row: &'a str,
) -> Result<(&'a str, [usize; N]), TopologyError> {
    let fields: Vec<&str> = row.split(',').map(str::trim).collect();
    let name = fields.first().copied().unwrap_or_default();
    if name.is_empty() {
        let why = "expected a layer name, found \"\"";
        return Err(row_error(line, name, Some("Layer name"), why));
    }
    let mut values = [0; N];
    for (index, (value, &(title, _))) in values.iter_mut().zip(columns).enumerate() {
        let fail = |why: &str| row_error(line, name, Some(title), why);
        let Some(&field) = fields.get(index + 1) else {
            let why = format!("missing, the row ends at column {}", fields.len());
            return Err(fail(&why));
        };
        *value = parse_count(field).map_err(|why| fail(&why))?;
    }
    Ok((name, values))
}

/// Reads one data row as a layer of `form` and checks it.
fn read_layer(form: Form, line: usize, row: &str) -> Result<TopologyLayer, TopologyError> {
    let layer = match form {
        Form::Conv => {
            let (name, [ih, iw, fh, fw, channels, num_filter, stride]) =
                read_row(&CONV_COLUMNS, line, row)?;
            for (filter, ifmap, title, ifmap_title) in [
                (fh, ih, "Filter Height", "IFMAP Height"),
                (fw, iw, "Filter Width", "IFMAP Width"),
            ] {
                if filter > ifmap {
                    let why = format!("{filter} is larger than the {ifmap_title} of {ifmap}");
                    return Err(row_error(line, name, Some(title), &why));
                }
            }
            TopologyLayer::Conv {
                name: name.to_string(),
                line,
                ifmap_h: ih,
                ifmap_w: iw,
                filter_h: fh,
                filter_w: fw,
                channels,
                num_filter,
                stride,
            }
        }
        Form::Gemm => {
            let (name, [m, n, k]) = read_row(&GEMM_COLUMNS, line, row)?;
            let name = name.to_string();
            TopologyLayer::Gemm {
                name,
                line,
                m,
                n,
                k,
            }
        }
    };
    if layer.macs() > MAX_MACS {
        let why = "more than 2^48 multiply-accumulates, absurd for a SCALE-Sim layer";
        return Err(row_error(line, layer.name(), None, why));
    }
    Ok(layer)
}

/// Parses a whole number from 1 to 2^32 (ASCII digits only), or says why not.
fn parse_count(field: &str) -> Result<usize, String> {
    let digits = !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit());
    let found = quoted(field);
    let absurd = || format!("{found} is absurdly large for a SCALE-Sim layer (over 2^32)");
    match (digits, field.parse::<u64>()) {
        (true, Ok(value @ 1..=MAX_FIELD)) => usize::try_from(value).map_err(|_| absurd()),
        (true, Ok(1..) | Err(_)) => Err(absurd()),
        _ => Err(format!("expected a whole number >= 1, found {found}")),
    }
}

/// `s` cut to its first [`QUOTE_CHARS`] characters, and `…` if that cut
/// anything off, for a one-line message.
fn clip(s: &str) -> (&str, &str) {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => (s.get(..cut).unwrap_or(s), "…"),
        None => (s, ""),
    }
}

/// `s` clipped and in double quotes, control characters escaped.
fn quoted(s: &str) -> String {
    let (short, more) = clip(s);
    format!("{short:?}{more}")
}

/// The layer tokens of a topology read as a chain: each row's input is the
/// previous row's output, either as it is, zero-padded on every side (the
/// row's IFMAP is the padded size), or max-pooled by a whole factor `n` in
/// 2..=16 and then padded (a pool between two rows, which SCALE-Sim does not
/// list). `input` (`[c, h, w]`) is the image before the first row's
/// padding; without it the first row's IFMAP is taken unpadded. GEMM rows are
/// dense layers of `K` inputs and `N` outputs per sample (`M`, the rows of
/// the batch, is left to `--batch`). Returns the tokens and notes for the
/// user; a row that does not follow from the one before is an error naming
/// both (a topology carries no connectivity, so a branch cannot be read).
pub fn to_stack(
    rows: &[TopologyLayer],
    input: Option<[usize; 3]>,
) -> Result<(Vec<LayerSpec>, Vec<String>), String> {
    let mut stack = Vec::with_capacity(rows.len() + 1);
    let mut notes = Vec::new();
    // The previous output: (c, h, w) of a map, or a vector's length.
    let mut map: Option<(usize, usize, usize)> = None;
    let mut flat: Option<usize> = None;
    let label = |r: &TopologyLayer| format!("row {} ({})", r.line(), r.name());
    for (i, r) in rows.iter().enumerate() {
        match *r {
            TopologyLayer::Conv {
                ref name,
                ifmap_h,
                ifmap_w,
                filter_h,
                filter_w,
                channels,
                num_filter,
                stride,
                ..
            } => {
                if filter_h != filter_w || ifmap_h != ifmap_w {
                    return Err(format!(
                        "{}: filter {filter_h}x{filter_w} on IFMAP {ifmap_h}x{ifmap_w}: locus models square kernels and maps",
                        label(r)
                    ));
                }
                // A fully connected layer written as a 1x1 filter on a 1x1
                // IFMAP whose channels are the previous output flattened,
                // maybe after a max pool by a whole factor.
                if ifmap_h == 1 && filter_h == 1 {
                    let pool = match (map, flat) {
                        (Some((c, h, w)), _) => (1..=16usize).find(|&n| {
                            h % n == 0 && w % n == 0 && c * (h / n) * (w / n) == channels
                        }),
                        (None, Some(f)) => (f == channels).then_some(1),
                        (None, None) => None,
                    };
                    if let Some(n) = pool {
                        if n > 1 {
                            stack.push(LayerSpec::tiling_max_pool(n));
                            notes.push(format!("a {n}x{n} max pool before {}", label(r)));
                        }
                        stack.push(LayerSpec::Dense(num_filter));
                        map = None;
                        flat = Some(num_filter);
                        continue;
                    }
                }
                if name.contains("DP") {
                    return Err(format!(
                        "{}: a depthwise row (`DP` in its name) is not supported yet",
                        label(r)
                    ));
                }
                let (c, side) = match (map, flat, i) {
                    (_, Some(_), _) => {
                        return Err(format!(
                            "{}: a convolution after a GEMM row is not a chain locus reads",
                            label(r)
                        ));
                    }
                    (None, None, _) => {
                        let [c, h, w] = input.unwrap_or([channels, ifmap_h, ifmap_w]);
                        if c != channels || h != w {
                            return Err(format!(
                                "--input {c}x{h}x{w} does not fit {} with {channels} channels on a square IFMAP",
                                label(r)
                            ));
                        }
                        stack.push(LayerSpec::Input { c, h, w });
                        (c, h)
                    }
                    (Some((c, h, _)), None, _) => (c, h),
                };
                let prev = || label(&rows[i - 1]);
                if c != channels {
                    return Err(format!(
                        "{}: {channels} input channels do not follow {}, which has {c} outputs (locus reads the rows as a chain)",
                        label(r),
                        prev()
                    ));
                }
                // The row's IFMAP from the map before it: pooled by n, padded by p.
                let fits = (1..=16usize).find_map(|n| {
                    let pooled = side / n;
                    (side % n == 0
                        && ifmap_h >= pooled
                        && (ifmap_h - pooled) % 2 == 0
                        && (ifmap_h - pooled) / 2 < filter_h
                        && (n == 1 || map.is_some()))
                    .then(|| (n, (ifmap_h - pooled) / 2))
                });
                let Some((n, pad)) = fits else {
                    return Err(format!(
                        "{}: IFMAP {ifmap_h}x{ifmap_w} does not follow from a {side}x{side} map ({}), padded by less than the filter side or max-pooled by a whole factor (locus reads the rows as a chain; a topology carries no connectivity)",
                        label(r),
                        if i == 0 {
                            "--input".to_string()
                        } else {
                            prev()
                        }
                    ));
                };
                if n > 1 {
                    stack.push(LayerSpec::tiling_max_pool(n));
                    notes.push(format!("a {n}x{n} max pool before {} (its IFMAP is the previous output divided by {n})", label(r)));
                }
                stack.push(LayerSpec::Conv {
                    k: filter_h,
                    out: num_filter,
                    stride,
                    pad,
                    groups: 1,
                });
                let (oh, ow) = r.ofmap_hw();
                map = Some((num_filter, oh, ow));
            }
            TopologyLayer::Gemm { m, n, k, .. } => {
                let have = match (map, flat) {
                    (Some((c, h, w)), _) => c * h * w,
                    (None, Some(f)) => f,
                    (None, None) => {
                        stack.push(LayerSpec::Dense(k));
                        k
                    }
                };
                if have != k {
                    return Err(format!(
                        "{}: K = {k} inputs do not follow {}, which gives {have} values (locus reads the rows as a chain)",
                        label(r),
                        label(&rows[i - 1])
                    ));
                }
                if m != 1 {
                    notes.push(format!(
                        "{}: M = {m} rows are left to --batch; counted per sample",
                        label(r)
                    ));
                }
                stack.push(LayerSpec::Dense(n));
                map = None;
                flat = Some(n);
            }
        }
    }
    Ok((stack, notes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CONV_HEADER: &str = "Layer name, IFMAP Height, IFMAP Width, Filter Height, \
                               Filter Width, Channels, Num Filter, Strides,";

    /// The style of SCALE-Sim's `Resnet50.csv`: extra columns after
    /// `Strides`, some filled, and a row of only commas second.
    const RESNET_STYLE: &str = "\
Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, \
 Num Filter, Strides,,,Eh,Ew,e2
,,,,,,,,,,,,
Conv1,224,224,7,7,3,64,2,,,110,110,12100
CB2a_1,56,56,1,1,64,64,1,,,,,
CB2a_2,56,56,3,3,64,64,1,,,,,

FC6,1,1,1,1,2048,1000,1,,,,,
";

    const GEMM: &str = "Layer Name, M, N, K,\nfc1,1,1000,2048,\nTest 1, 256, 128, 256,";

    /// Tokens of a topology as the `--layers` text.
    fn chain(text: &str, input: Option<[usize; 3]>) -> Result<String, String> {
        let rows = parse_topology(text).map_err(|e| e.to_string())?;
        let (stack, _) = to_stack(&rows, input)?;
        Ok(stack
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(","))
    }

    const CONV: &str = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n";

    #[test]
    fn rows_chain_through_padding_pools_and_fc_rows() {
        let text = format!(
            "{CONV}c1,30,30,3,3,3,8,1,\nc2,30,30,3,3,8,8,1,\nc3,16,16,3,3,8,16,1,\nfc1,1,1,1,1,3136,10,1,\n"
        );
        // c1 on the unpadded 30x30 gives 28x28; c2's 30x30 is that padded by
        // 1; c3's 16x16 is c2's 28x28 pooled by 2 and padded by 1; fc1 takes
        // c3's 16x14x14 flattened.
        assert_eq!(
            chain(&text, None).unwrap(),
            "3x30x30,conv3x3x8,conv3x3x8p1,maxpool2,conv3x3x16p1,10"
        );
        // With --input the first row's IFMAP is the padded input.
        assert_eq!(
            chain(&text, Some([3, 28, 28])).unwrap(),
            "3x28x28,conv3x3x8p1,conv3x3x8p1,maxpool2,conv3x3x16p1,10"
        );
        let gemm = "Layer, M, N, K,\nfc1,1,64,784,\nfc2,4,10,64,\n";
        assert_eq!(chain(gemm, None).unwrap(), "784,64,10");
    }

    #[test]
    fn rows_that_do_not_chain_are_refused_naming_both() {
        let text = format!("{CONV}c1,30,30,3,3,3,8,1,\nc2,13,13,3,3,8,8,1,\n");
        let e = chain(&text, None).unwrap_err();
        assert!(
            e.contains("row 3 (c2)") && e.contains("row 2 (c1)") && e.contains("28x28"),
            "{e}"
        );
        let text = format!("{CONV}c1,30,30,3,3,3,8,1,\nc2,28,28,3,3,4,8,1,\n");
        let e = chain(&text, None).unwrap_err();
        assert!(
            e.contains("4 input channels") && e.contains("8 outputs"),
            "{e}"
        );
        let e = chain("Layer, M, N, K,\nfc1,1,64,784,\nfc2,1,10,65,\n", None).unwrap_err();
        assert!(e.contains("K = 65") && e.contains("64 values"), "{e}");
        let e = chain(&format!("{CONV}c1,30,30,3,3,3,8,1,\n"), Some([1, 28, 28])).unwrap_err();
        assert!(e.contains("--input 1x28x28"), "{e}");
    }

    #[test]
    fn resnet_style_file() {
        let layers = parse_topology(RESNET_STYLE).unwrap();
        let names: Vec<_> = layers.iter().map(TopologyLayer::name).collect();
        assert_eq!(names, ["Conv1", "CB2a_1", "CB2a_2", "FC6"]);
        let lines: Vec<_> = layers.iter().map(TopologyLayer::line).collect();
        assert_eq!(lines, [3, 4, 5, 7]);
        assert_eq!(layers[0].ofmap_hw(), (109, 109)); // SCALE-Sim: 110

        assert_eq!(layers[0].macs(), 109 * 109 * 7 * 7 * 3 * 64);
        assert_eq!(layers[2].ofmap_hw(), (54, 54));
        assert_eq!(layers[3].ofmap_hw(), (1, 1));
        assert_eq!(layers[3].macs(), 2048 * 1000);
    }

    #[test]
    fn gemm_files() {
        let layers = parse_topology(GEMM).unwrap();
        assert!(matches!(
            layers[0],
            TopologyLayer::Gemm { m: 1, n: 1000, .. }
        ));
        assert_eq!((layers[0].name(), layers[0].macs()), ("fc1", 2_048_000));
        assert_eq!((layers[1].name(), layers[1].line()), ("Test 1", 3));
        assert_eq!(layers[1].ofmap_hw(), (1, 1));
        // The style of SCALE-Sim's `NCF.csv`: `Layer` and no trailing commas.
        let ncf = parse_topology("Layer,M,N,K\n1,256,128,2048\n").unwrap();
        assert_eq!(ncf[0].macs(), 256 * 128 * 2048);
    }

    #[test]
    fn crlf_bom_whitespace_and_case() {
        // The header as in SCALE-Sim's DeepBench and dlrm files, spaced out.
        let text = "\u{feff} Layer ,IFMAP  width,ifmap width,filter height,\
                    Filter Width,CHANNEL,num filters,STRIDES\r\n \t, ,\r\n\r\n\
                    Conv1     ,224   ,224 ,11 ,11 ,3 ,96 ,4 ,\r\n";
        let layers = parse_topology(text).unwrap();
        assert_eq!((layers.len(), layers[0].name()), (1, "Conv1"));
        assert_eq!((layers[0].line(), layers[0].ofmap_hw()), (4, (54, 54)));
    }

    #[test]
    fn bad_number_names_row_column_and_value() {
        let rows = "C1,8,8,3,3,1,1,1,\n\nC2,8,8,3,3,1,1,1,\n,,,\n\nConv3,8,8,x,3,1,1,1,";
        let e = parse_topology(&format!("{CONV_HEADER}\n{rows}")).unwrap_err();
        assert_eq!(e.line, Some(7));
        assert_eq!(
            e.to_string(),
            r#"row 7 (Conv3): column "Filter Height": expected a whole number >= 1, found "x""#
        );
    }

    /// Each case: a bad text (`;` for a line break, `@` for the conv header)
    /// `=>` its message (`$` for `row 2 (C): column `), or the start of it
    /// if it ends in `…`.
    #[test]
    fn refusals_name_row_column_and_value() {
        let cases = [
            r#"@;C,8,8,3,3,1,1,0, => $"Strides": expected a whole number >= 1, found "0""#,
            r#"@;C,8,-8,3,3,1,1,1 => $"IFMAP Width": expected a whole number >= 1, found "-8""#,
            r#"@;C,8,8,3,3,+1,1,1 => $"Channels": expected a whole number >= 1, found "+1""#,
            r#"@;C,8,8,3,3,1.5,1,1 => $"Channels": expected a whole number >= 1, found "1.5""#,
            r#"@;C,8,8,3,3,1,,1 => $"Num Filter": expected a whole number >= 1, found """#,
            r#"@;C,8,8,9,3,1,1,1 => $"Filter Height": 9 is larger than the IFMAP Height of 8"#,
            r#"@;C,8,4,3,5,1,1,1 => $"Filter Width": 5 is larger than the IFMAP Width of 4"#,
            r#"@;C,8,8,3,3,1,1 => $"Strides": missing, the row ends at column 7"#,
            r#"@; ,8,8,3,3,1,1,1 => row 2: column "Layer name": expected a layer name, found """#,
            r#"@;C,4294967297,8,3,3,1,1,1 => $"IFMAP Height": "4294967297" is absurdly large…"#,
            r#"@;C,99999999999999999999,1,1,1,1,1,1 => $"IFMAP Height": "99999999999999999999"…"#,
            "Layer,M,N,K;;x,65536,65536,65537 => row 3 (x): more than 2^48 multiply…",
            r#"Layer,IFMAP Height;x,1 => row 1 (header): column "IFMAP Width" is missing…"#,
            r#";name,a;x,1 => row 2 (header): unrecognised header "name,a": expected…"#,
            r#"L,ifmapheight,ifmapwidth,channels;x => row 1 (header): expected column "Filter…"#,
            r#"Layer,M,K,N;x,1,1,1 => row 1 (header): expected column "N", found "K""#,
            "@;,,,; => no data rows after the header (row 1)",
            "\u{feff}\r;\t , => no header row: the topology is empty",
        ];
        for case in cases {
            let (text, expected) = case.split_once(" => ").unwrap();
            let text = text.replace('@', CONV_HEADER).replace(';', "\n");
            let expected = expected.replace('$', "row 2 (C): column ");
            let e = parse_topology(&text).unwrap_err();
            let msg = e.to_string();
            match expected.strip_suffix('…') {
                Some(start) => assert!(msg.starts_with(start), "{msg}"),
                None => assert_eq!(msg, expected),
            }
            let row = expected
                .strip_prefix("row ")
                .and_then(|r| r.split([' ', ':']).next());
            let line = row.map(|n| n.parse().unwrap());
            assert_eq!(e.line, line, "{case}");
        }
    }

    #[test]
    fn limits_are_inclusive_and_macs_never_overflow() {
        let text = "Layer,M,N,K\nbig,4294967296,1,1\nedge,65536,65536,65536\n";
        let mut layers = parse_topology(text).unwrap();
        assert_eq!((layers[0].macs(), layers[1].macs()), (1 << 32, 1 << 48));
        if let TopologyLayer::Gemm { m, n, .. } = &mut layers[1] {
            (*m, *n) = (usize::MAX, usize::MAX);
        }
        assert_eq!(layers[1].macs(), u64::MAX);
        let mut conv = parse_topology(RESNET_STYLE).unwrap().swap_remove(0);
        if let TopologyLayer::Conv { stride, .. } = &mut conv {
            *stride = 0;
        }
        assert_eq!((conv.ofmap_hw(), conv.macs()), ((0, 0), 0));
    }

    /// What every parse must satisfy, whatever the input: no panic, and
    /// layers within the documented bounds.
    fn check(text: &str) {
        for layer in parse_topology(text).unwrap_or_default() {
            let (oh, ow) = layer.ofmap_hw();
            assert!(oh >= 1 && ow >= 1 && (1..=MAX_MACS).contains(&layer.macs()));
        }
    }

    /// Edits of a file: at an arbitrary place, delete a byte (`None`) or
    /// insert a comma, digit, line break, space or stray UTF-8 lead byte.
    fn edits() -> impl Strategy<Value = Vec<(usize, Option<u8>)>> {
        let byte = prop::sample::select(b",,0123456789\n\r \xef".to_vec());
        prop::collection::vec((any::<usize>(), prop::option::of(byte)), 0..12)
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            check(&text);
        }

        #[test]
        fn csv_like_text_never_panics(text in "[A-Za-z0-9, \r\n\u{feff}:.-]{0,200}") {
            check(&text);
        }

        #[test]
        fn mutated_files_never_panic(gemm in any::<bool>(), edits in edits()) {
            let mut bytes = if gemm { GEMM } else { RESNET_STYLE }.as_bytes().to_vec();
            for (at, edit) in edits {
                match edit {
                    Some(b) => bytes.insert(at % (bytes.len() + 1), b),
                    None if !bytes.is_empty() => drop(bytes.remove(at % bytes.len())),
                    None => {}
                }
            }
            check(&String::from_utf8_lossy(&bytes));
        }
    }
}
