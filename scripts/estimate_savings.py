#!/usr/bin/env python3
"""Savings of local, DRTP and DFA against the best backprop policy, per
training sample, from `locus estimate` on hw_models/large.json: the table of
docs/results.md ("Where local learning's savings grow"). Run from the
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
# Residual networks train with local and bp only (docs/rules.md).
RESIDUAL = {"ResNet-18 3x224x224", "ResNet-50 3x224x224"}
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


def saving(best, x):
    return "—" if best == 0 else f"{100 * (best - x) / best:.1f} %"


def main():
    tmp = tempfile.mkdtemp()
    print("| network | rule | SRAM bytes | DRAM bytes | MACs | energy | peak buffer at batch "
          + ", ".join(map(str, BATCHES)) + " (best bp) |")
    print("|---|---|---|---|---|---|---|")
    for name, net in NETS.items():
        residual = name in RESIDUAL
        rules = "local,bp" if residual else "local,drtp,dfa,bp"
        runs = {b: estimate(net, b, f"{tmp}/{b}.json", rules) for b in BATCHES}
        for rule in (["local"] if residual else RULES):
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


if __name__ == "__main__":
    main()
