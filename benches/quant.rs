//! Requantising a 1 M-element slice (i32 accumulator values → 16-bit
//! destination) in each rounding mode, and a 1024-element i16 dot product
//! through the accumulator. These are the simulator's inner loops; the
//! figures are recorded in docs/performance.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use locus::quant::{AccFormat, Lfsr, Overflow, OverflowStats, QFormat, Requantizer, Rounding};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const N: usize = 1 << 20;

fn requantise(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let src: Vec<i32> = (0..N)
        .map(|_| rng.random_range(-(1 << 24)..(1 << 24)))
        .collect();
    let mut dst = vec![0i16; N];
    let fmt = QFormat::new(16, 8).unwrap();
    let mut g = c.benchmark_group("requantise_1M_i32_to_i16");
    g.throughput(Throughput::Elements(N as u64));
    for rounding in Rounding::ALL {
        let rq = Requantizer::with_shift(12, fmt, rounding, Overflow::Saturate).unwrap();
        g.bench_function(rounding.name(), |b| {
            let mut lfsr = Lfsr::new(1).unwrap();
            let mut st = OverflowStats::default();
            b.iter(|| {
                rq.apply_slice(black_box(&src), &mut dst, &mut lfsr, &mut st);
                black_box(&dst);
            })
        });
    }
    g.finish();
}

fn dot(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let w: Vec<i16> = (0..1024).map(|_| rng.random_range(-4096..4096)).collect();
    let x: Vec<i16> = (0..1024).map(|_| rng.random_range(0..512)).collect();
    let acc = AccFormat::new(32, Overflow::Saturate).unwrap();
    let mut g = c.benchmark_group("dot_1024_i16");
    g.throughput(Throughput::Elements(1024));
    g.bench_function("acc32_saturate", |b| {
        let mut st = OverflowStats::default();
        b.iter(|| acc.dot(black_box(&w), black_box(&x), &mut st))
    });
    g.finish();
}

criterion_group!(benches, requantise, dot);
criterion_main!(benches);
