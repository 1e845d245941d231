//! The IDX reader on arbitrary bytes, raw and gzip. The first input byte
//! picks the mode: even — the rest is read as given (a gzip stream is then
//! only found by chance); odd — the rest is gzip-compressed first, so the
//! fuzzer explores IDX headers and data behind a valid gzip layer. Either
//! way the reader must return `Ok` or an error naming the source, never
//! panic; an `Ok` array must be consistent and write back to the same bytes.

#![no_main]

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use locus::data::{read_idx_from, write_idx};
use std::io::Write;

const SOURCE: &str = "fuzz.idx";

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 1 {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(rest).expect("writing to a Vec cannot fail");
        gz.finish().expect("writing to a Vec cannot fail")
    } else {
        rest.to_vec()
    };
    match read_idx_from(&bytes[..], SOURCE) {
        Ok(a) => {
            let count: usize = a.dims.iter().product();
            assert_eq!(a.data.len(), count, "data length is the product of dims");
            assert_eq!(a.source, SOURCE);
            // What was read writes back to the same IDX bytes.
            let mut out = Vec::new();
            write_idx(&mut out, &a.dims, &a.data).expect("a read array is writable");
            let plain = if mode % 2 == 1 { rest } else { &bytes[..] };
            if plain.first() != Some(&0x1f) {
                assert_eq!(out, plain, "write_idx(read_idx(x)) == x");
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(SOURCE), "error names the source: {msg}");
        }
    }
});
