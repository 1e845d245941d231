//! SCALE-Sim-style address traces (`docs/formats.md`, "SCALE-Sim-style
//! traces"): per core, memory and direction one CSV file whose rows are
//! `cycle,addr,addr,...` — the cycle, then one column per port of the
//! memory, unused ports `-1` — as SCALE-Sim v2 writes its
//! `*_SRAM_TRACE.csv` / `*_DRAM_TRACE.csv` (numpy `savetxt` with
//! `delimiter=","`: no header, no spaces). A burst of `w` words on a memory
//! with `p` ports becomes `ceil(w/p)` rows on consecutive cycles from its
//! issue cycle, word `j·p + k` of the burst in port column `k` of row `j`;
//! a DRAM transfer becomes rows of byte addresses, `bandwidth_bytes_per_cycle`
//! bytes a row. Cycles within one file strictly increase.

use crate::hw::counters::Rw;
use crate::hw::model::HwModel;
use crate::hw::trace_sink::{AccessEvent, Bank, OpEvent, TraceSink};
use std::io::{self, Write};

/// The files of one core, in order: memory, direction and file name.
pub const STREAMS: [(Bank, Rw, &str); 11] = [
    (Bank::Weight, Rw::Read, "WEIGHT_SRAM_READ_TRACE.csv"),
    (Bank::Weight, Rw::Write, "WEIGHT_SRAM_WRITE_TRACE.csv"),
    (Bank::Activation, Rw::Read, "ACTIVATION_SRAM_READ_TRACE.csv"),
    (
        Bank::Activation,
        Rw::Write,
        "ACTIVATION_SRAM_WRITE_TRACE.csv",
    ),
    (Bank::Error, Rw::Read, "ERROR_SRAM_READ_TRACE.csv"),
    (Bank::Error, Rw::Write, "ERROR_SRAM_WRITE_TRACE.csv"),
    (Bank::Stash, Rw::Read, "STASH_SRAM_READ_TRACE.csv"),
    (Bank::Stash, Rw::Write, "STASH_SRAM_WRITE_TRACE.csv"),
    (Bank::Rom, Rw::Read, "ROM_READ_TRACE.csv"),
    (Bank::Dram, Rw::Read, "DRAM_READ_TRACE.csv"),
    (Bank::Dram, Rw::Write, "DRAM_WRITE_TRACE.csv"),
];

/// Path of stream `s` (an index of [`STREAMS`]) of core `core`, relative
/// to the output directory: `core<k>/<NAME>`.
pub fn stream_path(core: usize, s: usize) -> String {
    format!("core{core}/{}", STREAMS[s].2)
}

fn stream_index(bank: Bank, rw: Rw) -> Option<usize> {
    STREAMS.iter().position(|&(b, r, _)| b == bank && r == rw)
}

/// What one file received.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Rows written.
    pub rows: u64,
    /// Addresses written (not counting `-1` padding): words, or bytes for DRAM.
    pub addresses: u64,
    /// Bytes of text written.
    pub bytes: u64,
}

struct StreamFile<W> {
    path: String,
    out: W,
    buf: Vec<u8>,
    /// Port columns.
    cols: u64,
    stats: StreamStats,
}

/// Streams SCALE-Sim-style rows for every core, memory and direction.
pub struct ScaleSimWriter<W: Write> {
    files: Vec<StreamFile<W>>,
    dram_bytes_per_cycle: f64,
    error: Option<io::Error>,
}

const CHUNK_BYTES: usize = 1 << 15;

impl<W: Write> ScaleSimWriter<W> {
    /// Opens the `cores × 11` files through `open(path)` (paths from
    /// [`stream_path`]); every file is created, even if it stays empty.
    pub fn new(
        model: &HwModel,
        cores: usize,
        mut open: impl FnMut(&str) -> io::Result<W>,
    ) -> io::Result<Self> {
        let bw = model.dram.bandwidth_bytes_per_cycle;
        let mut files = Vec::with_capacity(cores * STREAMS.len());
        for core in 0..cores {
            for (s, &(bank, rw, _)) in STREAMS.iter().enumerate() {
                let cols = match bank.unit().and_then(|u| u.bank_role()) {
                    Some(role) => {
                        let b = model.bank(role);
                        match rw {
                            Rw::Read => b.read_ports as u64,
                            Rw::Write => b.write_ports as u64,
                        }
                    }
                    None if bank == Bank::Dram => bw.ceil() as u64,
                    None => 1,
                };
                let path = stream_path(core, s);
                let out = open(&path)?;
                files.push(StreamFile {
                    path,
                    out,
                    buf: Vec::with_capacity(CHUNK_BYTES + 1024),
                    cols,
                    stats: StreamStats::default(),
                });
            }
        }
        Ok(ScaleSimWriter {
            files,
            dram_bytes_per_cycle: bw,
            error: None,
        })
    }

    /// Bytes of text produced so far over all files.
    pub fn bytes(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.stats.bytes + f.buf.len() as u64)
            .sum()
    }

    /// Flushes every file and returns each with its path and statistics,
    /// or the first I/O error.
    pub fn finish(mut self) -> io::Result<Vec<(String, W, StreamStats)>> {
        for i in 0..self.files.len() {
            self.flush_file(i);
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut out = Vec::with_capacity(self.files.len());
        for mut f in self.files {
            f.out.flush()?;
            out.push((f.path, f.out, f.stats));
        }
        Ok(out)
    }

    fn flush_file(&mut self, i: usize) {
        let f = &mut self.files[i];
        if self.error.is_none()
            && let Err(e) = f.out.write_all(&f.buf)
        {
            self.error = Some(e);
        }
        f.stats.bytes += f.buf.len() as u64;
        f.buf.clear();
    }

    fn rows(&mut self, i: usize, ev: &AccessEvent<'_>) {
        let bw = self.dram_bytes_per_cycle;
        let f = &mut self.files[i];
        let mut num = itoa::Buffer::new();
        let mut row = |cycle: u64, first: u64, n: u64| {
            f.buf.extend_from_slice(num.format(cycle).as_bytes());
            for a in first..first + n {
                f.buf.push(b',');
                f.buf.extend_from_slice(num.format(a).as_bytes());
            }
            for _ in n..f.cols {
                f.buf.extend_from_slice(b",-1");
            }
            f.buf.push(b'\n');
            f.stats.rows += 1;
            f.stats.addresses += n;
        };
        if ev.bank == Bank::Dram {
            // Byte k goes to row floor(k / bandwidth).
            let mut j = 0u64;
            loop {
                let lo = ((j as f64 * bw).ceil() as u64).min(ev.words);
                let hi = (((j + 1) as f64 * bw).ceil() as u64).min(ev.words);
                if lo >= ev.words {
                    break;
                }
                if hi > lo {
                    row(ev.cycle + j, ev.addr + lo, hi - lo);
                }
                j += 1;
            }
        } else {
            let p = f.cols;
            for j in 0..ev.words.div_ceil(p) {
                let n = p.min(ev.words - j * p);
                row(ev.cycle + j, ev.addr + j * p, n);
            }
        }
        if self.files[i].buf.len() >= CHUNK_BYTES {
            self.flush_file(i);
        }
    }
}

impl<W: Write> TraceSink for ScaleSimWriter<W> {
    const ENABLED: bool = true;
    fn access(&mut self, ev: &AccessEvent<'_>) {
        if self.error.is_some() {
            return;
        }
        if let Some(s) = stream_index(ev.bank, ev.rw) {
            let i = ev.core as usize * STREAMS.len() + s;
            if i < self.files.len() {
                self.rows(i, ev);
            }
        }
    }
    fn op(&mut self, _op: &OpEvent) {}
    fn done(&self) -> bool {
        self.error.is_some()
    }
}
