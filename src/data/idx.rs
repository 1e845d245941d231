//! The IDX file format (as used by MNIST), raw or gzip-compressed.
//!
//! Layout: two zero bytes, an element-type byte (only `0x08`, unsigned byte,
//! is supported), a rank byte, `rank` big-endian `u32` dimensions, then the
//! elements in row-major order. The reader validates every field and reads
//! exactly the number of bytes the header announces, never more than
//! [`MAX_ARRAY_BYTES`], so a bogus header cannot make it allocate or read an
//! unbounded amount. [`write_idx`] writes the same layout.

use flate2::read::MultiGzDecoder;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Write};
use std::path::Path;

/// Largest array the reader accepts, in bytes (1 GiB). MNIST's largest file
/// is 47 MB; the cap only stops a corrupt header from exhausting memory.
pub const MAX_ARRAY_BYTES: u64 = 1 << 30;

/// Largest rank the reader accepts (images are rank 3, labels rank 1).
pub const MAX_RANK: u8 = 4;

/// Element-type byte of unsigned 8-bit data, the only type supported.
const TYPE_U8: u8 = 0x08;

/// The two magic bytes that open every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A decoded IDX array of bytes: its dimensions (outermost first) and its
/// elements in row-major order, `data.len() == dims.iter().product()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first; for MNIST images `[count, 28, 28]`.
    pub dims: Vec<usize>,
    /// The elements, row-major, one byte each.
    pub data: Vec<u8>,
    /// Where the array was read from (a path or a caller-given name); used
    /// to name the file in dataset-level errors.
    pub source: String,
}

/// Why an IDX input could not be read. Every message starts with the path
/// or source name and carries the offending value.
#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {err}")]
    Io {
        /// The path or source name.
        path: String,
        /// The underlying I/O error.
        err: io::Error,
    },
    /// The name ends in `.gz` but the content does not start with the gzip
    /// magic bytes `1f 8b`.
    #[error("{path}: name ends in .gz but the content is not gzip (starts with {})", hex_bytes(.found))]
    NotGzip {
        /// The path.
        path: String,
        /// The first bytes of the file (up to two).
        found: Vec<u8>,
    },
    /// The gzip stream is corrupt (bad header, bad deflate data, bad CRC or
    /// length, or garbage after a member).
    #[error("{path}: corrupt gzip stream: {err}")]
    Gzip {
        /// The path or source name.
        path: String,
        /// The decoder's error.
        err: io::Error,
    },
    /// The input ended inside the header.
    #[error("{path}: truncated header: expected {expected} bytes, found {found}")]
    HeaderTruncated {
        /// The path or source name.
        path: String,
        /// Header length the magic announces, in bytes.
        expected: u64,
        /// Bytes actually present.
        found: u64,
    },
    /// The magic number is not `0x0000_08NN`-shaped at all.
    #[error("{path}: bad magic 0x{found:08x}: expected 0x0000080N (u8 data)")]
    BadMagic {
        /// The path or source name.
        path: String,
        /// The first four bytes, big-endian.
        found: u32,
    },
    /// A valid IDX element type other than `0x08` (u8).
    #[error("{path}: bad magic 0x{magic:08x}: element type 0x{found:02x} ({}) is not supported, expected 0x0000080N (u8 data)", type_name(*.found))]
    UnsupportedType {
        /// The path or source name.
        path: String,
        /// The element-type byte.
        found: u8,
        /// The whole magic number, big-endian.
        magic: u32,
    },
    /// Rank 0 or above [`MAX_RANK`].
    #[error("{path}: rank {found}: must be 1..={MAX_RANK}")]
    BadRank {
        /// The path or source name.
        path: String,
        /// The rank byte.
        found: u8,
    },
    /// A dimension is zero.
    #[error("{path}: dimension {axis} of {} is 0: every dimension must be at least 1", fmt_dims(.dims))]
    ZeroDim {
        /// The path or source name.
        path: String,
        /// Index of the zero dimension, outermost = 0.
        axis: usize,
        /// All dimensions from the header.
        dims: Vec<u64>,
    },
    /// The element count does not fit in 64 bits.
    #[error("{path}: dimensions {} overflow: the element count does not fit in 64 bits", fmt_dims(.dims))]
    Overflow {
        /// The path or source name.
        path: String,
        /// All dimensions from the header.
        dims: Vec<u64>,
    },
    /// The array is larger than [`MAX_ARRAY_BYTES`].
    #[error("{path}: dimensions {} give {bytes} bytes, above the {MAX_ARRAY_BYTES}-byte limit", fmt_dims(.dims))]
    TooLarge {
        /// The path or source name.
        path: String,
        /// All dimensions from the header.
        dims: Vec<u64>,
        /// Their product, in bytes.
        bytes: u64,
    },
    /// Fewer data bytes than the dimensions announce.
    #[error("{path}: truncated data: expected {expected} bytes after the header, found {found}")]
    Truncated {
        /// The path or source name.
        path: String,
        /// Data bytes the dimensions announce.
        expected: u64,
        /// Data bytes present.
        found: u64,
    },
    /// More data bytes than the dimensions announce.
    #[error("{path}: trailing bytes: more than the {expected} data bytes the dimensions announce")]
    TrailingBytes {
        /// The path or source name.
        path: String,
        /// Data bytes the dimensions announce.
        expected: u64,
    },
    /// A dimension does not fit in `usize` on this platform.
    #[error("{path}: dimension {value} does not fit in usize")]
    DimTooBig {
        /// The path or source name.
        path: String,
        /// The dimension.
        value: u64,
    },
}

/// `60000×28×28`.
fn fmt_dims(dims: &[u64]) -> String {
    dims.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

/// `0x1f 0x8b`, or `nothing` for an empty file.
fn hex_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing: the file is empty".to_string();
    }
    bytes
        .iter()
        .map(|b| format!("0x{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The IDX name of an element-type byte.
fn type_name(t: u8) -> &'static str {
    match t {
        0x08 => "u8",
        0x09 => "i8",
        0x0b => "i16",
        0x0c => "i32",
        0x0d => "f32",
        0x0e => "f64",
        _ => "unknown",
    }
}

/// Reads the IDX file at `path`, raw or gzip. Gzip is detected by the magic
/// bytes `1f 8b`, whatever the name; a name ending in `.gz` whose content is
/// not gzip is an error ([`IdxError::NotGzip`]).
pub fn read_idx(path: &Path) -> Result<IdxArray, IdxError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|err| IdxError::Io {
        path: name.clone(),
        err,
    })?;
    let require_gzip = path.extension().is_some_and(|e| e == "gz");
    read_detect(BufReader::new(file), name, require_gzip)
}

/// Reads an IDX array from any reader, raw or gzip (detected by the magic
/// bytes). `source` names the input in error messages.
pub fn read_idx_from<R: Read>(reader: R, source: &str) -> Result<IdxArray, IdxError> {
    read_detect(reader, source.to_string(), false)
}

/// Sniffs the first two bytes for gzip and parses the (decompressed) stream.
fn read_detect<R: Read>(
    mut reader: R,
    path: String,
    require_gzip: bool,
) -> Result<IdxArray, IdxError> {
    let mut head = [0u8; 2];
    let n = read_full(&mut reader, &mut head).map_err(|err| IdxError::Io {
        path: path.clone(),
        err,
    })?;
    let is_gzip = n == 2 && head == GZIP_MAGIC;
    if require_gzip && !is_gzip {
        return Err(IdxError::NotGzip {
            path,
            found: head[..n].to_vec(),
        });
    }
    let stream = Cursor::new(head).take(n as u64).chain(reader);
    if is_gzip {
        parse(MultiGzDecoder::new(stream), path, true)
    } else {
        parse(stream, path, false)
    }
}

/// Parses header and data from a (decompressed) stream. `gzip` selects which
/// error a failed read maps to.
fn parse<R: Read>(mut r: R, path: String, gzip: bool) -> Result<IdxArray, IdxError> {
    let read_err = |path: &String, err: io::Error| {
        if gzip {
            IdxError::Gzip {
                path: path.clone(),
                err,
            }
        } else {
            IdxError::Io {
                path: path.clone(),
                err,
            }
        }
    };

    let mut magic = [0u8; 4];
    let n = read_full(&mut r, &mut magic).map_err(|e| read_err(&path, e))?;
    if n < 4 {
        return Err(IdxError::HeaderTruncated {
            path,
            expected: 4,
            found: n as u64,
        });
    }
    let magic_u32 = u32::from_be_bytes(magic);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(IdxError::BadMagic {
            path,
            found: magic_u32,
        });
    }
    match magic[2] {
        TYPE_U8 => {}
        0x09 | 0x0b | 0x0c | 0x0d | 0x0e => {
            return Err(IdxError::UnsupportedType {
                path,
                found: magic[2],
                magic: magic_u32,
            });
        }
        _ => {
            return Err(IdxError::BadMagic {
                path,
                found: magic_u32,
            });
        }
    }
    let rank = magic[3];
    if rank == 0 || rank > MAX_RANK {
        return Err(IdxError::BadRank { path, found: rank });
    }

    let header_len = 4 + 4 * u64::from(rank);
    let mut dim_bytes = [0u8; 4 * MAX_RANK as usize];
    let dim_bytes = &mut dim_bytes[..4 * rank as usize];
    let n = read_full(&mut r, dim_bytes).map_err(|e| read_err(&path, e))?;
    if n < dim_bytes.len() {
        return Err(IdxError::HeaderTruncated {
            path,
            expected: header_len,
            found: 4 + n as u64,
        });
    }
    let dims64: Vec<u64> = dim_bytes
        .chunks_exact(4)
        .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    if let Some(axis) = dims64.iter().position(|&d| d == 0) {
        return Err(IdxError::ZeroDim {
            path,
            axis,
            dims: dims64,
        });
    }
    let Some(count) = dims64.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)) else {
        return Err(IdxError::Overflow { path, dims: dims64 });
    };
    if count > MAX_ARRAY_BYTES {
        return Err(IdxError::TooLarge {
            path,
            dims: dims64,
            bytes: count,
        });
    }
    let mut dims = Vec::with_capacity(dims64.len());
    for &d in &dims64 {
        let d = usize::try_from(d).map_err(|_| IdxError::DimTooBig {
            path: path.clone(),
            value: d,
        })?;
        dims.push(d);
    }

    // Grow with what is actually read, so a lying header costs no memory.
    let mut data = Vec::with_capacity(count.min(1 << 20) as usize);
    (&mut r)
        .take(count)
        .read_to_end(&mut data)
        .map_err(|e| read_err(&path, e))?;
    if (data.len() as u64) < count {
        return Err(IdxError::Truncated {
            path,
            expected: count,
            found: data.len() as u64,
        });
    }
    // Reading to EOF also makes the gzip decoder check the CRC and length.
    let mut extra = [0u8; 1];
    if read_full(&mut r, &mut extra).map_err(|e| read_err(&path, e))? != 0 {
        return Err(IdxError::TrailingBytes {
            path,
            expected: count,
        });
    }
    Ok(IdxArray {
        dims,
        data,
        source: path,
    })
}

/// Writes a u8 IDX array: magic `0x0000_0800 | rank`, the dimensions as
/// big-endian `u32`s (outermost first), then `data` in row-major order.
/// Writes raw bytes; wrap `w` in a gzip encoder for a `.gz` file.
///
/// Errors with [`io::ErrorKind::InvalidInput`], before writing anything, if
/// the rank is not `1..=`[`MAX_RANK`], a dimension is 0 or above `u32::MAX`,
/// or `data.len()` is not the product of the dimensions; so whatever it
/// writes, [`read_idx_from`] reads back.
pub fn write_idx(w: &mut dyn Write, dims: &[usize], data: &[u8]) -> io::Result<()> {
    let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    let rank = match u8::try_from(dims.len()) {
        Ok(r @ 1..=MAX_RANK) => r,
        _ => return invalid(format!("IDX rank {}: must be 1..={MAX_RANK}", dims.len())),
    };
    let mut header = vec![0, 0, TYPE_U8, rank];
    for (axis, &d) in dims.iter().enumerate() {
        match u32::try_from(d) {
            Ok(d32) if d32 > 0 => header.extend_from_slice(&d32.to_be_bytes()),
            _ => {
                return invalid(format!(
                    "IDX dimension {axis} = {d}: must be 1..=4294967295"
                ));
            }
        }
    }
    let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if count != Some(data.len()) {
        return invalid(format!(
            "IDX data has {} bytes but the dimensions {} give {}",
            data.len(),
            fmt_dims(&dims.iter().map(|&d| d as u64).collect::<Vec<_>>()),
            count.map_or_else(|| "more than usize::MAX".to_string(), |c| c.to_string())
        ));
    }
    w.write_all(&header)?;
    w.write_all(data)
}

/// Reads until `buf` is full or EOF; returns the bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    /// IDX bytes of a u8 array with the given dims and data.
    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, TYPE_U8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn read(bytes: &[u8]) -> Result<IdxArray, IdxError> {
        read_idx_from(bytes, "mem")
    }

    #[test]
    fn good_raw() {
        let data: Vec<u8> = (0..24).collect();
        let a = read(&idx(&[2, 3, 4], &data)).unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        assert_eq!(a.source, "mem");
        let a = read(&idx(&[3], &[7, 8, 9])).unwrap();
        assert_eq!((a.dims, a.data), (vec![3], vec![7, 8, 9]));
    }

    #[test]
    fn good_gzip() {
        let data: Vec<u8> = (0..=255).collect();
        let a = read(&gzip(&idx(&[16, 16], &data))).unwrap();
        assert_eq!(a.dims, vec![16, 16]);
        assert_eq!(a.data, data);
    }

    #[test]
    fn files_raw_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let raw = idx(&[2, 2], &[1, 2, 3, 4]);
        let p = dir.path().join("x-idx2-ubyte");
        std::fs::write(&p, &raw).unwrap();
        assert_eq!(read_idx(&p).unwrap().data, vec![1, 2, 3, 4]);
        let p = dir.path().join("x-idx2-ubyte.gz");
        std::fs::write(&p, gzip(&raw)).unwrap();
        assert_eq!(read_idx(&p).unwrap().data, vec![1, 2, 3, 4]);
        // Gzip content under a name without .gz is still detected.
        let p = dir.path().join("y-idx2-ubyte");
        std::fs::write(&p, gzip(&raw)).unwrap();
        assert_eq!(read_idx(&p).unwrap().dims, vec![2, 2]);
    }

    #[test]
    fn gz_name_without_gzip_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x-idx1-ubyte.gz");
        std::fs::write(&p, idx(&[1], &[5])).unwrap();
        let e = read_idx(&p).unwrap_err();
        assert!(matches!(e, IdxError::NotGzip { ref found, .. } if found == &[0, 0]));
        let msg = e.to_string();
        assert!(msg.starts_with(&p.display().to_string()), "{msg}");
        assert!(msg.contains("not gzip"), "{msg}");
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(
            read_idx(&p).unwrap_err(),
            IdxError::NotGzip { .. }
        ));
    }

    #[test]
    fn missing_file_names_path() {
        let e = read_idx(Path::new("no/such/file-idx1-ubyte")).unwrap_err();
        assert!(matches!(e, IdxError::Io { .. }));
        assert!(
            e.to_string()
                .starts_with("no/such/file-idx1-ubyte: cannot read")
        );
    }

    #[test]
    fn wrong_magic() {
        let mut b = idx(&[1], &[0]);
        b[0] = 0x12;
        let e = read(&b).unwrap_err();
        assert!(matches!(
            e,
            IdxError::BadMagic {
                found: 0x1200_0801,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "mem: bad magic 0x12000801: expected 0x0000080N (u8 data)"
        );
        let mut b = idx(&[1], &[0]);
        b[2] = 0x07;
        assert!(matches!(
            read(&b).unwrap_err(),
            IdxError::BadMagic {
                found: 0x0000_0701,
                ..
            }
        ));
    }

    #[test]
    fn unsupported_type() {
        let mut b = idx(&[2, 2, 2], &[0; 8]);
        b[2] = 0x09;
        let e = read(&b).unwrap_err();
        assert!(matches!(e, IdxError::UnsupportedType { found: 0x09, .. }));
        let msg = e.to_string();
        assert!(msg.starts_with("mem: bad magic 0x00000903"), "{msg}");
        assert!(msg.contains("0x09 (i8)"), "{msg}");
    }

    #[test]
    fn bad_rank() {
        let e = read(&[0, 0, 8, 0]).unwrap_err();
        assert!(matches!(e, IdxError::BadRank { found: 0, .. }));
        assert_eq!(e.to_string(), "mem: rank 0: must be 1..=4");
        let e = read(&idx(&[1, 1, 1, 1, 1], &[0])).unwrap_err();
        assert!(matches!(e, IdxError::BadRank { found: 5, .. }));
    }

    #[test]
    fn truncated_header() {
        let e = read(&[0, 0]).unwrap_err();
        assert!(matches!(
            e,
            IdxError::HeaderTruncated {
                expected: 4,
                found: 2,
                ..
            }
        ));
        let e = read(&[]).unwrap_err();
        assert!(matches!(e, IdxError::HeaderTruncated { found: 0, .. }));
        let b = idx(&[60000, 28, 28], &[]);
        let e = read(&b[..10]).unwrap_err();
        assert!(matches!(
            e,
            IdxError::HeaderTruncated {
                expected: 16,
                found: 10,
                ..
            }
        ));
    }

    #[test]
    fn zero_dim() {
        let e = read(&idx(&[3, 0], &[])).unwrap_err();
        assert!(matches!(e, IdxError::ZeroDim { axis: 1, .. }));
        assert_eq!(
            e.to_string(),
            "mem: dimension 1 of 3×0 is 0: every dimension must be at least 1"
        );
    }

    #[test]
    fn truncated_data() {
        let e = read(&idx(&[2, 3], &[1, 2, 3, 4, 5])).unwrap_err();
        assert!(matches!(
            e,
            IdxError::Truncated {
                expected: 6,
                found: 5,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "mem: truncated data: expected 6 bytes after the header, found 5"
        );
        // Same inside gzip.
        let e = read(&gzip(&idx(&[2, 3], &[1, 2]))).unwrap_err();
        assert!(matches!(
            e,
            IdxError::Truncated {
                expected: 6,
                found: 2,
                ..
            }
        ));
    }

    #[test]
    fn trailing_bytes() {
        let e = read(&idx(&[2], &[1, 2, 3])).unwrap_err();
        assert!(matches!(e, IdxError::TrailingBytes { expected: 2, .. }));
        let e = read(&gzip(&idx(&[2], &[1, 2, 3]))).unwrap_err();
        assert!(matches!(e, IdxError::TrailingBytes { expected: 2, .. }));
    }

    #[test]
    fn overflowing_and_huge_dims() {
        let m = u32::MAX;
        let e = read(&idx(&[m, m, m], &[])).unwrap_err();
        assert!(matches!(e, IdxError::Overflow { .. }));
        assert!(e.to_string().contains("4294967295×4294967295×4294967295"));
        // Fits in u64 but above the cap: rejected before reading any data.
        let e = read(&idx(&[m, 2], &[])).unwrap_err();
        assert!(matches!(
            e,
            IdxError::TooLarge {
                bytes: 8_589_934_590,
                ..
            }
        ));
        // Just under the cap with no data: truncated, without a big allocation.
        let e = read(&idx(&[1 << 15, 1 << 15], &[1])).unwrap_err();
        assert!(matches!(
            e,
            IdxError::Truncated {
                expected: 1_073_741_824,
                found: 1,
                ..
            }
        ));
    }

    #[test]
    fn corrupt_gzip() {
        let good = gzip(&idx(&[64], &[42; 64]));
        // Flip bytes in the deflate body.
        let mut bad = good.clone();
        for b in &mut bad[10..good.len() - 8] {
            *b ^= 0x5a;
        }
        assert!(matches!(read(&bad).unwrap_err(), IdxError::Gzip { .. }));
        // Corrupt CRC trailer.
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 8] ^= 0xff;
        let e = read(&bad).unwrap_err();
        assert!(matches!(e, IdxError::Gzip { .. }), "{e}");
        assert!(e.to_string().starts_with("mem: corrupt gzip stream"));
        // Cut short.
        let e = read(&good[..good.len() / 2]).unwrap_err();
        assert!(
            matches!(e, IdxError::Gzip { .. } | IdxError::Truncated { .. }),
            "{e}"
        );
        // Just the magic.
        assert!(read(&[0x1f, 0x8b]).is_err());
        // Garbage after a complete member.
        let mut bad = good.clone();
        bad.extend_from_slice(b"junk");
        assert!(read(&bad).is_err());
    }

    #[test]
    fn write_then_read_round_trips_raw_and_gzip() {
        for (dims, data) in [
            (vec![3], vec![7u8, 8, 9]),
            (vec![2, 5], (0..10).collect::<Vec<u8>>()),
            (vec![2, 3, 4], (0..24).map(|i| 255 - i).collect()),
            (vec![1, 1, 1, 2], vec![0, 255]),
        ] {
            let mut raw = Vec::new();
            write_idx(&mut raw, &dims, &data).unwrap();
            let dims32: Vec<u32> = dims.iter().map(|&d| d as u32).collect();
            assert_eq!(raw, idx(&dims32, &data), "{dims:?}");
            let a = read(&raw).unwrap();
            assert_eq!((&a.dims, &a.data), (&dims, &data));

            let mut enc = GzEncoder::new(Vec::new(), Compression::default());
            write_idx(&mut enc, &dims, &data).unwrap();
            let gz = enc.finish().unwrap();
            assert_eq!(gz[..2], GZIP_MAGIC);
            let g = read(&gz).unwrap();
            assert_eq!((g.dims, g.data), (dims, data));
        }
    }

    #[test]
    fn write_rejects_what_cannot_be_read_back() {
        let bad: [(&[usize], &[u8], &str); 4] = [
            (&[], &[], "rank 0"),
            (&[1, 1, 1, 1, 1], &[0], "rank 5"),
            (&[2, 0], &[], "dimension 1 = 0"),
            (&[2, 2], &[1, 2, 3], "3 bytes but the dimensions 2×2 give 4"),
        ];
        for (dims, data, want) in bad {
            let mut out = Vec::new();
            let e = write_idx(&mut out, dims, data).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains(want), "{dims:?}: {e}");
            assert!(out.is_empty(), "{dims:?}: wrote before failing");
        }
        #[cfg(target_pointer_width = "64")]
        {
            let e = write_idx(&mut Vec::new(), &[1 << 32], &[]).unwrap_err();
            assert!(e.to_string().contains("dimension 0 = 4294967296"), "{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = read(&bytes);
            let _ = read(&gzip(&bytes));
        }

        #[test]
        fn valid_arrays_round_trip(
            dims in proptest::collection::vec(1u32..5, 1..=4),
            seed in proptest::num::u8::ANY,
        ) {
            let n: u32 = dims.iter().product();
            let data: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(seed)).collect();
            let a = read(&idx(&dims, &data)).unwrap();
            proptest::prop_assert_eq!(&a.data, &data);
            let g = read(&gzip(&idx(&dims, &data))).unwrap();
            proptest::prop_assert_eq!(a, g);
        }
    }
}
