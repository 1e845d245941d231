#!/usr/bin/env python3
"""Savings of local, DRTP and DFA against the best backprop policy, per
training sample, from `locus estimate` on hw_models/large.json: the table of
docs/results.md ("Where local learning's savings grow") on stdout, and its
plot, docs/estimate-savings.svg (local's savings at batch 32). Run from the
repository root after `cargo build --release`."""

import json
import subprocess
import tempfile

# Each network as the options that name it: a --layers text or a --net file.
NETS = {
    "MLP 784-1024-1024-10": ["--layers", "784,1024,1024,10"],
    "LeNet-5 1x28x28": ["--net", "nets/lenet5.onnx"],
    "VGG-8 3x32x32": ["--net", "nets/vgg8.onnx"],
    "VGG-16 3x224x224": ["--net", "nets/vgg16.onnx"],
    "MobileNet-V1 3x224x224": ["--net", "nets/mobilenet_v1.onnx"],
    "ResNet-18 3x224x224": ["--net", "nets/resnet18.onnx"],
    "ResNet-50 3x224x224": ["--net", "nets/resnet50.onnx"],
}
# Residual networks: FA is not modelled on them, and drtp, dfa, local
# and bp run as on the others (docs/rules.md, "Residual blocks").
BATCHES = [1, 8, 32, 128]
RULES = ["local", "drtp", "dfa/spill"]


def label(run):
    c = run["run"]["config"]["rule"]
    return c["rule"] + ("/" + c["policy"] if "policy" in c else "")


def metrics(run):
    t, n = run["measured"]["totals"], run["measured"]["samples"]
    return {
        "sram": (t["sram_bytes"]["read"] + t["sram_bytes"]["write"]) / n,
        "dram": (t["dram_bytes"]["read"] + t["dram_bytes"]["write"]) / n,
        "macs": t["macs"] / n,
        "buffer": t["peak_stash_bytes"] + t["peak_spill_bytes"],
        "energy": run["estimated"]["energy_per_sample_pj"],
    }


def estimate(net, batch, out, rules):
    subprocess.run(
        ["./target/release/locus", "estimate", "--model", "hw_models/large.json"] + net
        + ["--rules", rules, "--batch", str(batch),
           "--samples", "1000", "--out", out],
        check=True, capture_output=True)
    report = json.load(open(out))
    return {label(r): metrics(r) for r in report["runs"]}


def pct(best, x):
    return 0.0 if best == 0 else 100 * (best - x) / best


def plot(rows, path):
    """Grouped bars, one group per network: local's saving (%) in SRAM
    bytes, MACs, energy and peak buffer against the best backprop policy
    (negative: local costs more). Plain SVG, no plotting package needed."""
    keys = [("sram", "SRAM bytes", "#4878cf"), ("macs", "MACs", "#d65f5f"),
            ("energy", "energy", "#6acc65"), ("buffer", "peak buffer", "#b47cc7")]
    lo, hi = -150, 100  # bars below -150 % are cut, their value written in them
    w, h, left, top, bottom = 860, 420, 60, 40, 110
    gw = (w - left - 20) / len(rows)
    bw = gw / (len(keys) + 1)
    y = lambda v: top + (hi - v) / (hi - lo) * (h - top - bottom)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
           'font-family="sans-serif" font-size="11">',
           f'<text x="{w / 2}" y="18" text-anchor="middle" font-size="13">'
           "local errors vs the best backprop policy, per sample, batch 32 "
           "(hw_models/large.json)</text>"]
    for t in range(int(lo // 20) * 20, hi + 1, 20):
        if t < lo:
            continue
        out.append(f'<line x1="{left}" x2="{w - 20}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
                   f'stroke="{"#000" if t == 0 else "#ddd"}"/>')
        out.append(f'<text x="{left - 4}" y="{y(t) + 4:.1f}" text-anchor="end">{t} %</text>')
    for g, (name, vals) in enumerate(rows):
        x0 = left + g * gw + bw / 2
        for k, (key, _, colour) in enumerate(keys):
            v = vals[key]
            ya, yb = sorted([y(0), y(max(lo, v))])
            out.append(f'<rect x="{x0 + k * bw:.1f}" y="{ya:.1f}" width="{bw * 0.9:.1f}" '
                       f'height="{yb - ya:.1f}" fill="{colour}"><title>{name} {key}: '
                       f'{v:.1f} %</title></rect>')
            if v < lo:
                out.append(f'<text x="{x0 + k * bw + bw * 0.45:.1f}" y="{yb - 5:.1f}" '
                           f'text-anchor="middle" font-size="9" fill="#fff">{v:.0f}</text>')
        out.append(f'<text x="{x0 + 2 * bw:.1f}" y="{h - bottom + 16}" '
                   f'text-anchor="middle">{name.split(" ")[0]}</text>')
        out.append(f'<text x="{x0 + 2 * bw:.1f}" y="{h - bottom + 30}" '
                   f'text-anchor="middle" fill="#555">{name.split(" ", 1)[1]}</text>')
    for k, (_, label_, colour) in enumerate(keys):
        lx = left + k * 150
        out.append(f'<rect x="{lx}" y="{h - 40}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{lx + 16}" y="{h - 30}">{label_} saved</text>')
    out.append(f'<text x="{left}" y="{h - 10}" fill="#555">bars below 0: local costs '
               "more (its 1000-class classifier on every layer of the ImageNet networks)</text>")
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def saving(best, x):
    return "—" if best == 0 else f"{100 * (best - x) / best:.1f} %"


def main():
    tmp = tempfile.mkdtemp()
    print("| network | rule | SRAM bytes | DRAM bytes | MACs | energy | peak buffer at batch "
          + ", ".join(map(str, BATCHES)) + " (best bp) |")
    print("|---|---|---|---|---|---|---|")
    bars = []
    for name, net in NETS.items():
        runs = {b: estimate(net, b, f"{tmp}/{b}.json", "local,drtp,dfa,bp") for b in BATCHES}
        for rule in RULES:
            cells = []
            for k in ["sram", "dram", "macs", "energy"]:
                per_batch = set()
                for b in BATCHES:
                    best = min(v[k] for r, v in runs[b].items() if r.startswith("bp"))
                    per_batch.add(saving(best, runs[b][rule][k]))
                cells.append(" / ".join(sorted(per_batch)))
            buffers = []
            for b in BATCHES:
                best = min(v["buffer"] for r, v in runs[b].items() if r.startswith("bp"))
                buffers.append(f"{runs[b][rule]['buffer'] / 1e6:.3g} MB ({best / 1e6:.3g} MB)")
            print(f"| {name} | {rule} | " + " | ".join(cells) + " | " + ", ".join(buffers) + " |")
        at = runs[32]
        bars.append((name, {k: pct(min(v[k] for r, v in at.items() if r.startswith("bp")),
                                   at["local"][k])
                            for k in ["sram", "macs", "energy", "buffer"]}))
    plot(bars, "docs/estimate-savings.svg")


if __name__ == "__main__":
    main()
