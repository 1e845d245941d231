#!/usr/bin/env python3
"""Build the network zoo in nets/: weight-stripped ONNX graphs of LeNet-5, a
small MNIST CNN, VGG8b, VGG-16, ResNet-18/50 and MobileNet-V1.

Every weight, bias and batch-norm tensor is a graph input with its full static
shape (no initializer data), after the data input `input`, whose batch
dimension is the symbolic `N`. Opset 13, IR version 8, PyTorch exporter
conventions. For each network the script prints the per-layer multiply-
accumulates (MACs) and parameters, read back from the shape-inferred graph,
and regenerates the tables of nets/README.md. The output is deterministic.

Usage: python3 scripts/make_nets.py
"""

from math import prod
from pathlib import Path

import onnx
from onnx import TensorProto, helper

OUT_DIR = Path(__file__).resolve().parent.parent / "nets"
OPSET, IR_VERSION, BN_EPS = 13, 8, 1e-5


def tensor(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def out_side(n, k, stride, pad):
    """Output side of a k x k window sliding over n pixels (floor mode)."""
    return (n + 2 * pad - k) // stride + 1


class Builder:
    """Appends nodes to a graph under construction. Each node's output tensor
    is named after the node; its per-sample shape (batch omitted) is kept to
    size the next layer's weights. Layers read the last output, `self.x`;
    `conv` may be given another tensor (a residual shortcut)."""

    def __init__(self, name, in_shape):
        self.name, self.nodes, self.params = name, [], []
        self.shapes = {"input": list(in_shape)}
        self.x = "input"

    def _param(self, name, dims):
        self.params.append(tensor(name, dims))
        return name

    def _node(self, op, name, inputs, shape, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        self.shapes[name] = shape
        self.x = name
        return name

    def conv(self, name, out_ch, k, stride=1, pad=0, group=1, bias=True, x=None):
        x = x or self.x
        c, h, w = self.shapes[x]
        inputs = [x, self._param(f"{name}.weight", [out_ch, c // group, k, k])]
        if bias:
            inputs.append(self._param(f"{name}.bias", [out_ch]))
        shape = [out_ch, out_side(h, k, stride, pad), out_side(w, k, stride, pad)]
        return self._node("Conv", name, inputs, shape, kernel_shape=[k, k],
                          strides=[stride, stride], pads=[pad] * 4, group=group,
                          dilations=[1, 1])

    def bn(self, name):
        c = self.shapes[self.x][0]
        stats = [self._param(f"{name}.{p}", [c])
                 for p in ("weight", "bias", "running_mean", "running_var")]
        return self._node("BatchNormalization", name, [self.x] + stats,
                          self.shapes[self.x], epsilon=BN_EPS)

    def relu(self, name):
        return self._node("Relu", name, [self.x], self.shapes[self.x])

    def pool(self, op, name, k, stride, pad=0):
        c, h, w = self.shapes[self.x]
        shape = [c, out_side(h, k, stride, pad), out_side(w, k, stride, pad)]
        return self._node(op, name, [self.x], shape, kernel_shape=[k, k],
                          strides=[stride, stride], pads=[pad] * 4)

    def global_avg_pool(self, name):
        return self._node("GlobalAveragePool", name, [self.x], [self.shapes[self.x][0], 1, 1])

    def flatten(self, name):
        return self._node("Flatten", name, [self.x], [prod(self.shapes[self.x])], axis=1)

    def gemm(self, name, out_f):
        in_f = self.shapes[self.x][0]
        inputs = [self.x, self._param(f"{name}.weight", [out_f, in_f]),
                  self._param(f"{name}.bias", [out_f])]
        return self._node("Gemm", name, inputs, [out_f], alpha=1.0, beta=1.0, transB=1)

    def add(self, name, a, b):
        return self._node("Add", name, [a, b], self.shapes[a])

    def softmax(self, name):
        return self._node("Softmax", name, [self.x], self.shapes[self.x], axis=1)

    def conv_bn_relu(self, prefix, out_ch, k, stride=1, pad=0, group=1):
        self.conv(f"{prefix}conv", out_ch, k, stride, pad, group, bias=False)
        self.bn(f"{prefix}bn")
        return self.relu(f"{prefix}relu")

    def model(self):
        """The checked, shape-inferred model; the last node's output is `output`."""
        last = self.nodes[-1]
        self.shapes["output"] = self.shapes[last.output[0]]
        last.output[0] = "output"
        graph = helper.make_graph(
            self.nodes, self.name,
            [tensor("input", ["N"] + self.shapes["input"])] + self.params,
            [tensor("output", ["N"] + self.shapes["output"])])
        model = helper.make_model(graph, producer_name="locus make_nets.py",
                                  opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model, full_check=True)
        model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
        for v in model.graph.value_info:  # ONNX's shapes must agree with ours
            assert dims(v)[1:] == self.shapes[v.name], (self.name, v.name)
        return model


def lenet5():
    b = Builder("lenet5", [1, 28, 28])
    for i, (ch, pad) in enumerate([(6, 2), (16, 0)], 1):
        b.conv(f"conv{i}", ch, 5, pad=pad)
        b.relu(f"relu{i}")
        b.pool("AveragePool", f"pool{i}", 2, 2)
    b.flatten("flatten")
    for i, out_f in enumerate([120, 84, 10], 1):
        b.gemm(f"fc{i}", out_f)
        if i < 3:
            b.relu(f"relu{i + 2}")
    return b


def mnist_cnn():
    b = Builder("mnist_cnn", [1, 28, 28])
    for i, ch in enumerate([16, 32], 1):
        b.conv(f"conv{i}", ch, 5)
        b.relu(f"relu{i}")
        b.pool("MaxPool", f"pool{i}", 2, 2)
    b.flatten("flatten")
    b.gemm("fc", 10)
    return b


def vgg(name, in_shape, cfg, bn):
    """VGG features: a number is a 3x3 pad-1 conv of that width (+ BN) + ReLU,
    "M" a 2x2 stride-2 max pool; Caffe names conv<stage>_<i>, pool<stage>."""
    b, stage, i = Builder(name, in_shape), 1, 1
    for v in cfg:
        if v == "M":
            b.pool("MaxPool", f"pool{stage}", 2, 2)
            stage, i = stage + 1, 1
            continue
        b.conv(f"conv{stage}_{i}", v, 3, pad=1)
        if bn:
            b.bn(f"bn{stage}_{i}")
        b.relu(f"relu{stage}_{i}")
        i += 1
    b.flatten("flatten")
    return b


def vgg8b():
    b = vgg("vgg8b", [3, 32, 32], [128, 256, "M", 256, 512, "M", 512, "M", 512, "M"], bn=True)
    b.gemm("fc1", 1024)
    b.relu("relu_fc1")
    b.gemm("fc2", 10)
    return b


def vgg16():
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
           512, 512, 512, "M"]
    b = vgg("vgg16", [3, 224, 224], cfg, bn=False)
    for i, out_f in [(6, 4096), (7, 4096), (8, 1000)]:
        b.gemm(f"fc{i}", out_f)
        if i < 8:
            b.relu(f"relu{i}")
    b.softmax("prob")
    return b


def resnet(name, bottleneck, blocks):
    """torchvision's ResNet (v1.5: a bottleneck's stride sits on its 3x3 conv)."""
    b = Builder(name, [3, 224, 224])
    b.conv("conv1", 64, 7, stride=2, pad=3, bias=False)
    b.bn("bn1")
    b.relu("relu")
    b.pool("MaxPool", "maxpool", 3, 2, pad=1)
    for s, (n, width) in enumerate(zip(blocks, [64, 128, 256, 512]), 1):
        for j in range(n):
            p, shortcut = f"layer{s}.{j}.", b.x
            stride = 2 if s > 1 and j == 0 else 1
            # (out channels, kernel, stride, pad) of each conv on the main path
            if bottleneck:
                convs = [(width, 1, 1, 0), (width, 3, stride, 1), (width * 4, 1, 1, 0)]
            else:
                convs = [(width, 3, stride, 1), (width, 3, 1, 1)]
            for k, (ch, ks, st, pad) in enumerate(convs, 1):
                if k > 1:
                    b.relu(f"{p}relu{k - 1}")
                b.conv(f"{p}conv{k}", ch, ks, st, pad, bias=False)
                main = b.bn(f"{p}bn{k}")
            out_ch = convs[-1][0]
            if stride != 1 or b.shapes[shortcut][0] != out_ch:  # projection shortcut
                b.conv(f"{p}downsample.0", out_ch, 1, stride, bias=False, x=shortcut)
                shortcut = b.bn(f"{p}downsample.1")
            b.add(f"{p}add", main, shortcut)
            b.relu(f"{p}relu{len(convs)}")
    b.global_avg_pool("avgpool")
    b.flatten("flatten")
    b.gemm("fc", 1000)
    return b


def mobilenet_v1():
    """Howard et al. 2017, Table 1, width 1.0: (pointwise width, depthwise
    stride) per block; the last block's stride is 1 (7x7 in, 7x7 out)."""
    b = Builder("mobilenet_v1", [3, 224, 224])
    b.conv_bn_relu("stem.", 32, 3, stride=2, pad=1)
    table = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + \
        [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for i, (out_ch, stride) in enumerate(table, 1):
        c = b.shapes[b.x][0]
        b.conv_bn_relu(f"block{i}.dw.", c, 3, stride, pad=1, group=c)
        b.conv_bn_relu(f"block{i}.pw.", out_ch, 1)
    b.global_avg_pool("avgpool")
    b.flatten("flatten")
    b.gemm("fc", 1000)
    return b


# file stem -> (builder, published reference figures)
NETS = {
    "lenet5": (lenet5, "≈ 60 k params"),
    "mnist_cnn": (mnist_cnn, "—"),
    "vgg8": (vgg8b, "8.9 M params"),
    "vgg16": (vgg16, "15.5 G MACs, 138 M params"),
    "resnet18": (lambda: resnet("resnet18", False, [2, 2, 2, 2]), "1.8 G MACs, 11.7 M params"),
    "resnet50": (lambda: resnet("resnet50", True, [3, 4, 6, 3]),
                 "4.1 G MACs (3.8–4.1 G quoted), 25.6 M params"),
    "mobilenet_v1": (mobilenet_v1, "569 M MACs, 4.2 M params"),
}


def dims(value_info):
    return [d.dim_value or d.dim_param for d in value_info.type.tensor_type.shape.dim]


def layer_stats(model):
    """(name, op, output shape, MACs, params, BN γ+β) per Conv, Gemm and
    BatchNormalization node, from the shapes stored in the inferred model."""
    g = model.graph
    shapes = {v.name: dims(v) for v in [*g.input, *g.value_info, *g.output]}
    rows = []
    for n in g.node:
        out, sizes = shapes[n.output[0]], [prod(shapes[t]) for t in n.input[1:]]
        if n.op_type == "Conv":  # W [O, I/group, kH, kW], once per output pixel
            rows.append((n.name, n.op_type, out, sizes[0] * prod(out[2:]), sum(sizes), 0))
        elif n.op_type == "Gemm":  # W [out, in]
            rows.append((n.name, n.op_type, out, sizes[0], sum(sizes), 0))
        elif n.op_type == "BatchNormalization":  # scale and B; mean, var not counted
            rows.append((n.name, n.op_type, out, 0, 0, sizes[0] + sizes[1]))
    return rows


def main():
    OUT_DIR.mkdir(exist_ok=True)
    totals = []
    for stem, (build, ref) in NETS.items():
        model = build().model()
        path = OUT_DIR / f"{stem}.onnx"
        onnx.save(model, path)
        rows = layer_stats(model)
        print(f"\n{stem}.onnx\n{'node':<24} {'op':<18} {'output':<16} {'MACs':>14} "
              f"{'params':>11} {'BN':>7}")
        for name, op, out, macs, params, bn in rows:
            shape = "x".join(map(str, out))
            print(f"{name:<24} {op:<18} {shape:<16} {macs:>14,} {params:>11,} {bn:>7,}")
        macs, params, bn = (sum(r[i] for r in rows) for i in (3, 4, 5))
        print(f"{'total':<60} {macs:>14,} {params:>11,} {bn:>7,}")
        ops = ", ".join(sorted({n.op_type for n in model.graph.node}))
        totals.append(dict(
            stem=stem, ref=ref, macs=macs, params=params, bn=bn, ops=ops,
            conv=sum(r[1] == "Conv" for r in rows), gemm=sum(r[1] == "Gemm" for r in rows),
            size=path.stat().st_size))
    write_readme(totals)


def write_readme(totals):
    """Regenerate the tables between the markers of nets/README.md."""
    path = OUT_DIR / "README.md"
    begin, end = "<!-- generated by scripts/make_nets.py -->", "<!-- end generated -->"
    head, rest = path.read_text(encoding="utf-8").split(begin)
    tail = rest.split(end)[1]
    rows = [f"Generated with onnx {onnx.__version__}.", "",
            "| file | MACs | params (excl. BN) | BN γ, β | Conv | Gemm | bytes | published |",
            "| :--- | ---: | ---: | ---: | ---: | ---: | ---: | :--- |"]
    rows += [f"| `{t['stem']}.onnx` | {t['macs']:,} | {t['params']:,} | {t['bn']:,} "
             f"| {t['conv']} | {t['gemm']} | {t['size']:,} | {t['ref']} |" for t in totals]
    rows += ["", "| file | ops |", "| :--- | :--- |"]
    rows += [f"| `{t['stem']}.onnx` | {t['ops']} |" for t in totals]
    path.write_text(head + begin + "\n" + "\n".join(rows) + "\n" + end + tail,
                    encoding="utf-8")


if __name__ == "__main__":
    main()
