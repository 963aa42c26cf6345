"""PyTorch peer for `vs-pytorch` (benchmarks/MLNetCnn.Benchmarks): trains the same model on the same data
with the same batch size, threads and optimizer as the library, and prints one JSON line per timed epoch.

Run by the benchmark with Debian's python3-torchvision (PyTorch 1.13):
  /usr/bin/python3 benchmarks/peers/pytorch_train.py --model small --batch 128 --threads 2 --data data/fashion-mnist-subset
"""
import argparse
import gzip
import json
import math
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        magic = struct.unpack(">I", f.read(4))[0]
        dims = [struct.unpack(">I", f.read(4))[0] for _ in range(magic & 0xFF)]
        data = f.read()
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(dims)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock, written out so the widths can be scaled like the library's WidthMultiplier."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity, inplace=True)


class SmallResNet18(nn.Module):
    """ResNet-18 at width 0.25 (16-32-64-128) with the small-input stem (3x3 stride 1, no max pool):
    the library's `resnet18` with WidthMultiplier 0.25 and SmallInputStem (701,178 parameters for 1x28x28, 10 classes)."""

    def __init__(self, channels, classes, width=16):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        layers, inplanes = [], width
        for i, planes in enumerate([width, width * 2, width * 4, width * 8]):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes, 1)))
            inplanes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)), inplace=True)
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Normalized(nn.Module):
    """(x - mean) / std in front of the network, as the library's NormalizedClassifier."""

    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1))
        self.register_buffer("std", std.reshape(1, -1, 1, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="small")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", type=int, default=0, help="random images at 224 (torchvision models) or a subset of the data (small)")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs after one warm-up epoch")
    p.add_argument("--data", default="data/fashion-mnist-subset")
    p.add_argument("--lr", type=float, default=0.05)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)

    if a.model == "small":
        x = read_idx(f"{a.data}/train-images-idx3-ubyte.gz").float().unsqueeze(1)
        y = read_idx(f"{a.data}/train-labels-idx1-ubyte.gz").long()
        if a.images:
            x, y = x[: a.images], y[: a.images]
        net = SmallResNet18(1, 10)
        classes = 10
    else:
        n = a.images or 128
        x = torch.rand(n, 3, 224, 224) * 255
        y = torch.arange(n) % 1000
        net = getattr(torchvision.models, a.model)()
        classes = 1000
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3))
    model = Normalized(net, mean, std)
    params = sum(t.numel() for t in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, weight_decay=5e-4)
    n = x.shape[0]
    steps_per_epoch = (n + a.batch - 1) // a.batch
    total = steps_per_epoch * (a.epochs + 1)
    step = 0
    model.train()
    for epoch in range(a.epochs + 1):
        order = torch.randperm(n)
        correct = torch.zeros((), dtype=torch.long)
        start = time.perf_counter()
        loss_sum = 0.0
        for s in range(0, n, a.batch):
            idx = order[s : s + a.batch]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx)
            for g in opt.param_groups:
                g["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum()
            step += 1
        elapsed = time.perf_counter() - start
        if epoch > 0:
            print(json.dumps({"peer": f"pytorch {torch.__version__}", "model": a.model, "params": params, "classes": classes,
                              "images": n, "batch": a.batch, "threads": torch.get_num_threads(), "epoch": epoch,
                              "seconds": elapsed, "images_per_second": n / elapsed, "loss": loss_sum / n,
                              "accuracy": correct.item() / n}), flush=True)


if __name__ == "__main__":
    main()
