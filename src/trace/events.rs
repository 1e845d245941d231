//! Event trace: one row per counted access burst, as CSV with a header or as
//! JSON Lines (`docs/formats.md`, "Event trace"). Rows are formatted into a
//! buffer and written in chunks of [`CHUNK_BYTES`], so the trace streams.
//! The first I/O error is kept, writing stops and [`TraceSink::done`]
//! becomes true (the run then stops early); [`EventWriter::finish`] returns
//! the error.

use crate::hw::trace_sink::{AccessEvent, OpEvent, TraceSink};
use std::io::{self, Write};

/// Bytes buffered before a write to the underlying writer.
pub const CHUNK_BYTES: usize = 1 << 16;

/// The CSV header line (without its newline).
pub const CSV_HEADER: &str = "cycle,layer,unit,bank,rw,addr,words,class,phase";

/// Row format of an event trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

named_values!(EventFormat, "row format", {
    Csv => "csv",
    Jsonl => "jsonl",
});

/// Streams access events as CSV or JSONL rows to `W`.
pub struct EventWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    format: EventFormat,
    rows: u64,
    bytes: u64,
    cycle_digits: u64,
    last_cycle: u64,
    error: Option<io::Error>,
}

impl<W: Write> EventWriter<W> {
    /// A writer of `format` rows to `out` (the CSV header is the first line).
    pub fn new(out: W, format: EventFormat) -> Self {
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 256);
        if format == EventFormat::Csv {
            buf.extend_from_slice(CSV_HEADER.as_bytes());
            buf.push(b'\n');
        }
        EventWriter {
            out,
            bytes: buf.len() as u64,
            buf,
            format,
            rows: 0,
            cycle_digits: 0,
            last_cycle: 0,
            error: None,
        }
    }

    /// Rows written (the header not included).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Bytes of text produced so far (before any compression by `W`).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Decimal digits of all `cycle` fields so far (size extrapolation).
    pub fn cycle_digits(&self) -> u64 {
        self.cycle_digits
    }

    /// The largest `cycle` written.
    pub fn last_cycle(&self) -> u64 {
        self.last_cycle
    }

    /// Writes what is buffered and returns the writer, or the first error.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_chunk();
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn flush_chunk(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&self.buf)
        {
            self.error = Some(e);
        }
        self.buf.clear();
    }

    fn row(&mut self, ev: &AccessEvent<'_>) {
        let b = &mut self.buf;
        let start = b.len();
        let mut num = itoa::Buffer::new();
        let cycle = num.format(ev.cycle);
        self.cycle_digits += cycle.len() as u64;
        self.last_cycle = self.last_cycle.max(ev.cycle);
        match self.format {
            EventFormat::Csv => {
                b.extend_from_slice(cycle.as_bytes());
                for (sep, v) in [(b',', ev.layer as u64), (b',', ev.core as u64)] {
                    b.push(sep);
                    b.extend_from_slice(num.format(v).as_bytes());
                }
                b.push(b',');
                b.extend_from_slice(ev.bank.name().as_bytes());
                b.push(b',');
                b.extend_from_slice(ev.rw.name().as_bytes());
                for v in [ev.addr, ev.words] {
                    b.push(b',');
                    b.extend_from_slice(num.format(v).as_bytes());
                }
                b.push(b',');
                b.extend_from_slice(ev.class.name().as_bytes());
                b.push(b',');
                b.extend_from_slice(ev.phase.name().as_bytes());
            }
            EventFormat::Jsonl => {
                b.extend_from_slice(b"{\"cycle\":");
                b.extend_from_slice(cycle.as_bytes());
                let nums = [("layer", ev.layer as u64), ("unit", ev.core as u64)];
                for (k, v) in nums {
                    push_key(b, k);
                    b.extend_from_slice(num.format(v).as_bytes());
                }
                push_str(b, "bank", ev.bank.name());
                push_str(b, "rw", ev.rw.name());
                for (k, v) in [("addr", ev.addr), ("words", ev.words)] {
                    push_key(b, k);
                    b.extend_from_slice(num.format(v).as_bytes());
                }
                push_str(b, "class", ev.class.name());
                push_str(b, "phase", ev.phase.name());
                b.push(b'}');
            }
        }
        b.push(b'\n');
        self.bytes += (b.len() - start) as u64;
        self.rows += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.flush_chunk();
        }
    }
}

fn push_key(b: &mut Vec<u8>, k: &str) {
    b.extend_from_slice(b",\"");
    b.extend_from_slice(k.as_bytes());
    b.extend_from_slice(b"\":");
}

fn push_str(b: &mut Vec<u8>, k: &str, v: &str) {
    push_key(b, k);
    b.push(b'"');
    b.extend_from_slice(v.as_bytes());
    b.push(b'"');
}

impl<W: Write> TraceSink for EventWriter<W> {
    const ENABLED: bool = true;
    fn access(&mut self, ev: &AccessEvent<'_>) {
        if self.error.is_none() {
            self.row(ev);
        }
    }
    fn op(&mut self, _op: &OpEvent) {}
    fn done(&self) -> bool {
        self.error.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::counters::{Class, Phase, Rw};
    use crate::hw::trace_sink::Bank;

    fn ev() -> AccessEvent<'static> {
        AccessEvent {
            cycle: 1234,
            layer: 1,
            core: 1,
            bank: Bank::Weight,
            rw: Rw::Read,
            addr: 0,
            words: 6280,
            class: Class::Weight,
            phase: Phase::Forward,
            data: None,
        }
    }

    #[test]
    fn csv_rows_follow_the_header() {
        let mut w = EventWriter::new(Vec::new(), EventFormat::Csv);
        w.access(&ev());
        assert_eq!((w.rows(), w.cycle_digits()), (1, 4));
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            text,
            "cycle,layer,unit,bank,rw,addr,words,class,phase\n1234,1,1,weight,read,0,6280,weight,forward\n"
        );
    }

    #[test]
    fn jsonl_rows_are_json_objects() {
        let mut w = EventWriter::new(Vec::new(), EventFormat::Jsonl);
        w.access(&ev());
        let n = w.bytes();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(text.len() as u64, n);
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(v["cycle"], 1234);
        assert_eq!(v["unit"], 1);
        assert_eq!(v["bank"], "weight");
        assert_eq!(v["phase"], "forward");
        assert_eq!(
            text,
            "{\"cycle\":1234,\"layer\":1,\"unit\":1,\"bank\":\"weight\",\"rw\":\"read\",\"addr\":0,\"words\":6280,\"class\":\"weight\",\"phase\":\"forward\"}\n"
        );
    }

    #[test]
    fn a_write_error_stops_the_trace_and_is_returned() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("no space left on device"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = EventWriter::new(Full, EventFormat::Csv);
        for _ in 0..CHUNK_BYTES / 20 {
            w.access(&ev());
        }
        assert!(w.done());
        let e = w.finish().err().unwrap();
        assert!(e.to_string().contains("no space"));
    }
}
