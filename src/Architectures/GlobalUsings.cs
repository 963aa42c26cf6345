// The library's BatchNorm2d (see Layers/BatchNorm2d.cs) instead of TorchSharp.Modules.BatchNorm2d.
global using BatchNorm2d = MLNetCnn.Architectures.Layers.BatchNorm2d;
