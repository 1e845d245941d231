//! `locus model check FILE`: load and validate a hardware model, then print a
//! summary of its formats, banks, memories and energy table.
//! `locus model import-ert ERT.yaml --model BASE --out NEW`: a model whose
//! energy table comes from an Accelergy energy reference table.

use locus::hw::{BankRole, HwModel, RomStorage, TensorClass, load};
use std::io::{self, Write};
use std::path::Path;

/// Validates the model at `file` and prints a summary to stdout. Any load or
/// validation error is returned as is: its message already names the file.
pub fn check(file: &Path) -> anyhow::Result<()> {
    let model = load(file)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    write_summary(&mut out, &model, file)?;
    out.flush()?;
    Ok(())
}

/// Reads the Accelergy ERT at `ert`, sets the energies of the model at
/// `base` from it (`hw::model::ert`), validates the result and writes it to
/// `out` atomically; prints what was set.
pub fn import_ert(ert: &Path, base: &Path, out: &Path) -> anyhow::Result<()> {
    let mut model = load(base)?;
    let text = std::fs::read_to_string(ert)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", ert.display()))?;
    let file = ert.display().to_string();
    let import = locus::hw::model::ert::import_ert(&mut model, &text, &file)?;
    model
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
    let json = serde_json::to_string_pretty(&model)?;
    locus::output::write_atomic(out, |w| writeln!(w, "{json}"))?;
    let mut stdout = io::stdout().lock();
    write!(stdout, "{}", import.summary())?;
    writeln!(
        stdout,
        "wrote {} ({} entries from {}, the rest from {})",
        out.display(),
        import.set.len(),
        ert.display(),
        base.display()
    )?;
    Ok(())
}

/// Writes the human-readable summary of a validated model.
fn write_summary(w: &mut impl Write, m: &HwModel, file: &Path) -> io::Result<()> {
    writeln!(
        w,
        "{}: valid hardware model (schema version {})",
        file.display(),
        m.version
    )?;
    writeln!(w)?;
    writeln!(w, "name          {}", m.name)?;
    writeln!(w, "description   {}", m.description)?;
    writeln!(w, "clock         {} MHz", m.clock_mhz)?;
    let mapping_note = match &m.mapping {
        locus::hw::Mapping::CorePerLayer => "one core per layer",
        locus::hw::Mapping::SharedCore => "one core shared by all layers",
        locus::hw::Mapping::Cores(_) => {
            "each core a contiguous run of layers, about an equal share of the weights"
        }
        locus::hw::Mapping::LayerCores(_) => "each layer on the core its list entry names",
    };
    writeln!(w, "mapping       {} ({mapping_note})", m.mapping)?;
    writeln!(w, "MAC lanes     {} MACs per cycle per core", m.mac_lanes)?;
    writeln!(w, "LFSR seed     {} (0x{:08X})", m.lfsr_seed, m.lfsr_seed)?;
    let weights_note = match m.offchip.weights {
        locus::hw::WeightStorage::OnChip => "must fit each core's weight bank",
        locus::hw::WeightStorage::Stream => {
            "on chip where they fit, else streamed from DRAM in tiles of the weight bank"
        }
    };
    writeln!(
        w,
        "weights       {} ({weights_note})",
        m.offchip.weights.name()
    )?;
    let f = m.fusion;
    let fused: Vec<&str> = [
        (
            f.update_forward,
            "update-forward (local, drtp, local-learned, pepita)",
        ),
        (f.backward_update, "backward-update (bp, gaitprop)"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect();
    let fused = if fused.is_empty() {
        "none".to_string()
    } else {
        fused.join(", ")
    };
    writeln!(w, "fusion        {fused}")?;

    writeln!(w)?;
    writeln!(w, "formats")?;
    writeln!(
        w,
        "  {:<12} {:<8} {:>4} {:>4}  {:<26} {:<12} {:<10} overflow",
        "class", "Q", "bits", "frac", "range", "resolution", "rounding"
    )?;
    for class in TensorClass::ALL {
        let f = m.format(class);
        let q = f.qformat();
        let range = format!("[{}, {}]", num(q.min_value()), num(q.max_value()));
        writeln!(
            w,
            "  {:<12} {:<8} {:>4} {:>4}  {:<26} {:<12} {:<10} {}",
            class.name(),
            q.to_string(),
            q.bits,
            q.frac,
            range,
            format!("2^-{}", q.frac),
            f.rounding.name(),
            f.overflow.name()
        )?;
    }
    let acc = m.formats.accumulator;
    writeln!(
        w,
        "  {:<12} {:<8} {:>4} {:>4}  {:<26} {:<12} {:<10} {}",
        "accumulator",
        "-",
        acc.bits,
        "-",
        format!("[-2^{0}, 2^{0}-1] (integer)", acc.bits - 1),
        "-",
        "-",
        acc.overflow
    )?;

    writeln!(w)?;
    writeln!(w, "SRAM banks (per core)")?;
    writeln!(
        w,
        "  {:<11} {:>12} {:>9} {:>10} {:>10} {:>11} {:>10} {:>10} {:>8}",
        "role", "capacity", "word", "words", "read", "write", "pJ/read", "pJ/write", "latency"
    )?;
    writeln!(
        w,
        "  {:<11} {:>12} {:>9} {:>10} {:>10} {:>11} {:>10} {:>10} {:>8}",
        "", "KiB", "bits", "", "ports", "ports", "", "", "cycles"
    )?;
    for role in BankRole::ALL {
        let b = m.bank(role);
        writeln!(
            w,
            "  {:<11} {:>12} {:>9} {:>10} {:>10} {:>11} {:>10} {:>10} {:>8}",
            role.name(),
            num(b.capacity_bytes as f64 / 1024.0),
            b.word_bits,
            b.capacity_words(),
            b.read_ports,
            b.write_ports,
            num(b.read_energy_pj.pj),
            num(b.write_energy_pj.pj),
            b.latency_cycles
        )?;
    }

    writeln!(w)?;
    let r = &m.rom;
    let storage = match r.storage {
        RomStorage::SignBits => "sign_bits (1 bit per classifier entry)".to_string(),
        RomStorage::Values { bits } => format!("values ({bits} bits per classifier entry)"),
        RomStorage::Lfsr => "lfsr (entries regenerated on use; ROM not read)".to_string(),
    };
    writeln!(w, "ROM (per core)")?;
    writeln!(w, "  storage     {storage}")?;
    writeln!(
        w,
        "  capacity    {} KiB ({} words of {} bits), {} pJ/read",
        num(r.capacity_bytes as f64 / 1024.0),
        r.capacity_words(),
        r.word_bits,
        num(r.read_energy_pj.pj)
    )?;

    writeln!(w)?;
    let d = &m.dram;
    writeln!(w, "DRAM")?;
    writeln!(
        w,
        "  bandwidth   {} bytes/cycle ({} GB/s at {} MHz)",
        num(d.bandwidth_bytes_per_cycle),
        num(d.bandwidth_bytes_per_cycle * m.clock_mhz / 1000.0),
        m.clock_mhz
    )?;
    writeln!(w, "  burst       {} bytes", d.burst_bytes)?;
    writeln!(w, "  latency     {} cycles", d.latency_cycles)?;
    writeln!(
        w,
        "  energy      {} pJ/byte read, {} pJ/byte written",
        num(d.read_energy_pj_per_byte.pj),
        num(d.write_energy_pj_per_byte.pj)
    )?;

    writeln!(w)?;
    let i = &m.interconnect;
    writeln!(w, "interconnect")?;
    writeln!(
        w,
        "  {}-bit words, {} cycle(s) per hop, {} pJ per word per hop",
        i.word_bits,
        i.hop_latency_cycles,
        num(i.energy_pj_per_word_hop.pj)
    )?;

    writeln!(w)?;
    writeln!(w, "energy table")?;
    let entries = m.energy_entries();
    let width = entries.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    writeln!(w, "  {:<width$} {:>10}  source", "entry", "pJ")?;
    for (field, e) in entries {
        writeln!(w, "  {:<width$} {:>10}  {}", field, num(e.pj), e.source)?;
    }
    Ok(())
}

/// A number for people: at most six decimals, trailing zeros dropped.
fn num(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}
