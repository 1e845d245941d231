//! Value change dump (IEEE 1364 VCD) of the cores' ports for a window of
//! cycles (`docs/formats.md`, "VCD window").
//!
//! [`VcdWindow`] is a trace sink. From the start of the run it keeps a
//! shadow copy of every on-chip memory (initial weights and ROM contents,
//! then every write's values), so that a read inside the window shows the
//! data the memory holds; inside the window it records, per cycle, which
//! ports are enabled with which address and data, and which primitive each
//! core runs. Once every core has issued work past the window it reports
//! [`TraceSink::done`] and the run stops. [`VcdWindow::write_vcd`] then
//! writes the VCD. Memory use grows with the window, not the run.

use crate::hw::counters::{Rw, Unit};
use crate::hw::model::HwModel;
use crate::hw::trace_sink::{AccessEvent, Bank, OpEvent, TraceSink, Values};
use std::io::{self, Write};
use vcd::{IdCode, TimescaleUnit};

use super::pack_words;

/// A VCD window that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum VcdError {
    /// The window starts at or after the run's last cycle.
    #[error(
        "--from-cycle {from} is past the end of the run: its last cycle is {last} (the run takes {end} cycles)"
    )]
    WindowPastEnd {
        /// First cycle asked for.
        from: u64,
        /// Cycles the run takes (its last cycle is `end − 1`).
        end: u64,
        /// `end − 1`, or 0 for an empty run.
        last: u64,
    },
    /// Writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Geometry of one on-chip memory's ports.
#[derive(Clone, Copy, Debug)]
struct Geom {
    word_bits: u32,
    limbs: usize,
    ports: [u32; 2],
    addr_bits: u32,
}

/// Contents of one memory as far as the trace knows them.
#[derive(Clone, Debug, Default)]
struct Shadow {
    limbs: Vec<u64>,
    known: Vec<bool>,
}

impl Shadow {
    fn ensure(&mut self, words: u64, limbs: usize) {
        let n = words as usize;
        if self.known.len() < n {
            self.known.resize(n, false);
            self.limbs.resize(n * limbs, 0);
        }
    }
}

/// One port active in one cycle.
#[derive(Clone, Copy, Debug)]
struct Beat {
    cycle: u64,
    /// Dense port index (see [`VcdWindow::port_index`]).
    port: u32,
    addr: u64,
    /// Offset of the data word in the arena, `usize::MAX` if unknown.
    data: usize,
}

/// Collects a window `[from, from + cycles)` of port activity; a
/// [`TraceSink`].
pub struct VcdWindow {
    from: u64,
    to: u64,
    cores: usize,
    layers: usize,
    geom: [Geom; Unit::COUNT],
    period_ps: u64,
    /// `[core][unit]`.
    shadow: Vec<Vec<Shadow>>,
    /// First dense port index of `[core][unit][rw]`.
    port_base: Vec<[[u32; 2]; Unit::COUNT]>,
    ports: u32,
    beats: Vec<Beat>,
    arena: Vec<u64>,
    ops: Vec<OpEvent>,
    before: Vec<Option<OpEvent>>,
    past: Vec<bool>,
    end: u64,
    scratch: Vec<u64>,
    version: String,
}

impl VcdWindow {
    /// A window of `cycles` cycles from `from_cycle`, for a network of
    /// `layers` layers on `model`.
    pub fn new(model: &HwModel, layers: usize, from_cycle: u64, cycles: u64) -> Self {
        let cores = model.mapping.cores(layers as u32) as usize;
        let geom = std::array::from_fn(|u| {
            let unit = Unit::ALL[u];
            let (word_bits, ports, cap) = match unit.bank_role() {
                Some(role) => {
                    let b = model.bank(role);
                    (
                        b.word_bits,
                        [b.read_ports, b.write_ports],
                        b.capacity_words(),
                    )
                }
                None => (model.rom.word_bits, [1, 0], model.rom.capacity_words()),
            };
            Geom {
                word_bits,
                limbs: word_bits.div_ceil(64) as usize,
                ports,
                addr_bits: (64 - cap.saturating_sub(1).leading_zeros()).max(1),
            }
        });
        let mut port_base = Vec::with_capacity(cores);
        let mut ports = 0u32;
        for _ in 0..cores {
            let mut b = [[0u32; 2]; Unit::COUNT];
            for (bu, g) in b.iter_mut().zip(&geom) {
                for (first, n) in bu.iter_mut().zip(g.ports) {
                    *first = ports;
                    ports += n;
                }
            }
            port_base.push(b);
        }
        // One clock period in picoseconds, even so that the clock's low half
        // starts on a whole picosecond.
        let half = (5e5 / model.clock_mhz).round().max(1.0) as u64;
        VcdWindow {
            from: from_cycle,
            to: from_cycle.saturating_add(cycles),
            cores,
            layers,
            geom,
            period_ps: 2 * half,
            shadow: vec![vec![Shadow::default(); Unit::COUNT]; cores],
            port_base,
            ports,
            beats: Vec::new(),
            arena: Vec::new(),
            ops: Vec::new(),
            before: vec![None; cores],
            past: vec![false; cores],
            end: 0,
            scratch: Vec::new(),
            version: format!("locus {}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Clock period in picoseconds (the VCD's timescale is 1 ps).
    pub fn period_ps(&self) -> u64 {
        self.period_ps
    }

    /// Cycles the run took so far (one past the last busy cycle of any core).
    pub fn run_cycles(&self) -> u64 {
        self.end
    }

    fn port_index(&self, core: usize, unit: Unit, rw: Rw, port: u64) -> u32 {
        self.port_base[core][unit.index()][rw.index()] + port as u32
    }

    fn store(&mut self, core: usize, unit: Unit, addr: u64, words: u64, packed: Option<&[u64]>) {
        let limbs = self.geom[unit.index()].limbs;
        let sh = &mut self.shadow[core][unit.index()];
        sh.ensure(addr + words, limbs);
        let (a, n) = (addr as usize, words as usize);
        match packed {
            Some(p) => {
                sh.limbs[a * limbs..(a + n) * limbs].copy_from_slice(&p[..n * limbs]);
                sh.known[a..a + n].fill(true);
            }
            None => sh.known[a..a + n].fill(false),
        }
    }

    /// Writes the VCD of the window to `out` (after the run; it can be
    /// written more than once). Fails when the window starts at or after the
    /// end of the run; a window reaching past the end is cut at the end.
    pub fn write_vcd<W: Write>(&mut self, out: W) -> Result<W, VcdError> {
        if self.from >= self.end {
            return Err(VcdError::WindowPastEnd {
                from: self.from,
                end: self.end,
                last: self.end.saturating_sub(1),
            });
        }
        Ok(self.write(out)?)
    }

    /// The last cycle (exclusive) the VCD covers: the window cut at the end
    /// of the run.
    pub fn window_end(&self) -> u64 {
        self.to.min(self.end)
    }

    fn write<W: Write>(&mut self, mut out: W) -> io::Result<W> {
        let to = self.window_end();
        let layer_bits = (64 - (self.layers.max(2) as u64 - 1).leading_zeros()).max(1);
        let mut w = vcd::Writer::new(&mut out);
        w.version(&self.version)?;
        w.comment(&format!(
            "cycles {}..{} of a locus training run; one cycle = {} ps",
            self.from, to, self.period_ps
        ))?;
        w.timescale(1, TimescaleUnit::PS)?;
        w.add_module("locus")?;
        let clk = w.add_wire(1, "clk")?;
        // Dense signal table: (id, width) and their current values.
        let mut sigs: Vec<(IdCode, u32)> = Vec::new();
        let mut core_sig = Vec::with_capacity(self.cores);
        let mut port_sig = vec![[0usize; 4]; self.ports as usize];
        let mut port_geom = vec![0usize; self.ports as usize];
        let mut add = |w: &mut vcd::Writer<&mut W>, width: u32, name: &str| -> io::Result<usize> {
            let idx = if width == 1 {
                None
            } else {
                Some(vcd::ReferenceIndex::Range(width as i32 - 1, 0))
            };
            let id = w.add_var(vcd::VarType::Wire, width, name, idx)?;
            sigs.push((id, width));
            Ok(sigs.len() - 1)
        };
        for c in 0..self.cores {
            w.add_module(&format!("core{c}"))?;
            let busy = add(&mut w, 1, "busy")?;
            let phase = add(&mut w, 2, "phase")?;
            let layer = add(&mut w, layer_bits, "layer")?;
            let mac = add(&mut w, 1, "mac_valid")?;
            core_sig.push([busy, phase, layer, mac]);
            for unit in Unit::ALL {
                let g = self.geom[unit.index()];
                w.add_module(unit.name())?;
                for rw in Rw::ALL {
                    for k in 0..g.ports[rw.index()] {
                        let (prefix, data) = match rw {
                            Rw::Read => ("rd", "rdata"),
                            Rw::Write => ("wr", "wdata"),
                        };
                        w.add_module(&format!("{prefix}{k}"))?;
                        let p = self.port_index(c, *unit, *rw, k as u64) as usize;
                        port_sig[p] = [
                            add(&mut w, 1, "en")?,
                            add(&mut w, 1, "we")?,
                            add(&mut w, g.addr_bits, "addr")?,
                            add(&mut w, g.word_bits, data)?,
                        ];
                        port_geom[p] = unit.index();
                        w.upscope()?;
                    }
                }
                w.upscope()?;
            }
            w.upscope()?;
        }
        w.upscope()?;
        w.enddefinitions()?;

        // Per-port constant `we` and the values in force.
        let mut port_we = vec![0u64; self.ports as usize];
        for c in 0..self.cores {
            for u in 0..Unit::COUNT {
                let b = self.port_base[c][u][1];
                for k in 0..self.geom[u].ports[1] {
                    port_we[(b + k) as usize] = 1;
                }
            }
        }
        let mut cur: Vec<Option<Val>> = vec![None; sigs.len()];
        self.beats.sort_by_key(|b| (b.cycle, b.port));
        self.ops.sort_by_key(|o| (o.core, o.cycle));
        let mut op_at: Vec<usize> = (0..self.cores)
            .map(|c| self.ops.partition_point(|o| (o.core as usize) < c))
            .collect();
        let mut last_op: Vec<Option<OpEvent>> = self.before.clone();
        let mut active = vec![u64::MAX; self.ports as usize];
        let mut beat_of = vec![0usize; self.ports as usize];
        let mut bi = 0usize;
        let mut line = Vec::with_capacity(1024);
        let half = self.period_ps / 2;
        let mut next: Vec<(usize, Val)> = Vec::new();
        for cycle in self.from..to {
            let t = cycle * self.period_ps;
            next.clear();
            // Core signals.
            for c in 0..self.cores {
                let mut i = op_at[c];
                while i < self.ops.len()
                    && self.ops[i].core as usize == c
                    && self.ops[i].cycle + self.ops[i].cycles <= cycle
                {
                    last_op[c] = Some(self.ops[i]);
                    i += 1;
                }
                op_at[c] = i;
                let running = (i < self.ops.len()
                    && self.ops[i].core as usize == c
                    && self.ops[i].cycle <= cycle)
                    .then(|| self.ops[i]);
                let [busy, phase, layer, mac] = core_sig[c];
                match running {
                    Some(op) => {
                        next.push((busy, Val::Bits(1)));
                        next.push((phase, Val::Bits(op.phase.index() as u64)));
                        next.push((layer, Val::Bits(op.layer as u64)));
                        let on = cycle < op.cycle + op.mac_cycles;
                        next.push((mac, Val::Bits(on as u64)));
                    }
                    None => {
                        next.push((busy, Val::Bits(0)));
                        next.push((mac, Val::Bits(0)));
                        let (p, l) = last_op[c].map_or((0, 0), |o| (o.phase.index(), o.layer));
                        next.push((phase, Val::Bits(p as u64)));
                        next.push((layer, Val::Bits(l as u64)));
                    }
                }
            }
            // Ports.
            while bi < self.beats.len() && self.beats[bi].cycle == cycle {
                let b = self.beats[bi];
                active[b.port as usize] = cycle;
                beat_of[b.port as usize] = bi;
                bi += 1;
            }
            for p in 0..self.ports as usize {
                let [en, we, addr, data] = port_sig[p];
                next.push((we, Val::Bits(port_we[p])));
                if active[p] == cycle {
                    let b = self.beats[beat_of[p]];
                    next.push((en, Val::Bits(1)));
                    next.push((addr, Val::Bits(b.addr)));
                    let limbs = self.geom[port_geom[p]].limbs;
                    let v = if b.data == usize::MAX {
                        Val::X
                    } else {
                        Val::Wide(self.arena[b.data..b.data + limbs].to_vec())
                    };
                    next.push((data, v));
                } else {
                    next.push((en, Val::Bits(0)));
                    if cur[data].is_none() {
                        next.push((data, Val::X));
                        next.push((addr, Val::Bits(0)));
                    }
                }
            }
            w.timestamp(t)?;
            let first = cycle == self.from;
            if first {
                w.begin(vcd::SimulationCommand::Dumpvars)?;
            }
            w.change_scalar(clk, vcd::Value::V1)?;
            for (s, v) in next.drain(..) {
                if cur[s].as_ref() != Some(&v) {
                    let (id, width) = sigs[s];
                    line.clear();
                    v.render(width, &mut line);
                    write!(line, "{id}")?;
                    line.push(b'\n');
                    w.writer().write_all(&line)?;
                    cur[s] = Some(v);
                }
            }
            if first {
                w.end()?;
            }
            w.timestamp(t + half)?;
            w.change_scalar(clk, vcd::Value::V0)?;
        }
        w.timestamp(to * self.period_ps)?;
        w.flush()?;
        Ok(out)
    }
}

/// A signal value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Val {
    /// Up to 64 bits.
    Bits(u64),
    /// Little-endian limbs.
    Wide(Vec<u64>),
    /// Unknown.
    X,
}

impl Val {
    fn bit(&self, i: u32) -> u8 {
        match self {
            Val::Bits(v) => {
                if i < 64 && (v >> i) & 1 == 1 {
                    b'1'
                } else {
                    b'0'
                }
            }
            Val::Wide(l) => {
                let (k, o) = ((i / 64) as usize, i % 64);
                if k < l.len() && (l[k] >> o) & 1 == 1 {
                    b'1'
                } else {
                    b'0'
                }
            }
            Val::X => b'x',
        }
    }

    /// `0`/`1`/`x` for a scalar, `b<bits MSB first> ` for a vector.
    fn render(&self, width: u32, out: &mut Vec<u8>) {
        if width == 1 {
            out.push(self.bit(0));
        } else {
            out.push(b'b');
            for i in (0..width).rev() {
                out.push(self.bit(i));
            }
            out.push(b' ');
        }
    }
}

impl TraceSink for VcdWindow {
    const ENABLED: bool = true;

    fn wants_data(&self) -> bool {
        !self.done()
    }

    fn access(&mut self, ev: &AccessEvent<'_>) {
        let Some(unit) = ev.bank.unit() else {
            return;
        };
        if ev.bank == Bank::Noc || ev.cycle >= self.to {
            return;
        }
        let core = ev.core as usize;
        let g = self.geom[unit.index()];
        // Pack a write's values.
        let mut packed = None;
        if ev.rw == Rw::Write
            && let Some(Values { raw, bits }) = ev.data
        {
            self.scratch.clear();
            if pack_words(raw, bits, g.word_bits, &mut self.scratch) == ev.words {
                packed = Some(std::mem::take(&mut self.scratch));
            }
        }
        let ports = g.ports[ev.rw.index()].max(1) as u64;
        let rows = ev.words.div_ceil(ports);
        if ev.cycle + rows > self.from {
            let j0 = self.from.saturating_sub(ev.cycle);
            let j1 = rows.min(self.to - ev.cycle);
            let sh = &self.shadow[core][unit.index()];
            for j in j0..j1 {
                for k in 0..ports.min(ev.words - j * ports) {
                    let word = j * ports + k;
                    let addr = ev.addr + word;
                    let src: Option<&[u64]> = match (ev.rw, &packed) {
                        (Rw::Write, Some(p)) => {
                            let o = word as usize * g.limbs;
                            Some(&p[o..o + g.limbs])
                        }
                        (Rw::Write, None) => None,
                        (Rw::Read, _) => {
                            let a = addr as usize;
                            (sh.known.get(a) == Some(&true))
                                .then(|| &sh.limbs[a * g.limbs..(a + 1) * g.limbs])
                        }
                    };
                    let data = match src {
                        Some(s) => {
                            self.arena.extend_from_slice(s);
                            self.arena.len() - g.limbs
                        }
                        None => usize::MAX,
                    };
                    let port = self.port_index(core, unit, ev.rw, k);
                    self.beats.push(Beat {
                        cycle: ev.cycle + j,
                        port,
                        addr,
                        data,
                    });
                }
            }
        }
        if ev.rw == Rw::Write {
            self.store(core, unit, ev.addr, ev.words, packed.as_deref());
            if let Some(p) = packed {
                self.scratch = p;
            }
        }
    }

    fn op(&mut self, op: &OpEvent) {
        let c = op.core as usize;
        let end = op.cycle + op.cycles;
        self.end = self.end.max(end);
        if op.cycle >= self.to {
            self.past[c] = true;
        } else if end > self.from {
            self.ops.push(*op);
        } else if self.before[c].is_none_or(|b| b.cycle <= op.cycle) {
            self.before[c] = Some(*op);
        }
    }

    fn preload(&mut self, core: u32, bank: Bank, addr: u64, data: Values<'_>) {
        let Some(unit) = bank.unit() else {
            return;
        };
        let g = self.geom[unit.index()];
        let mut packed = Vec::new();
        let words = pack_words(data.raw, data.bits, g.word_bits, &mut packed);
        self.store(core as usize, unit, addr, words, Some(&packed));
    }

    fn done(&self) -> bool {
        self.past.iter().all(|&p| p)
    }
}
