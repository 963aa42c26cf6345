using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Training;

/// <summary>Turns a <see cref="ComputeDevice"/> choice into a TorchSharp device.</summary>
public static class Devices
{
    /// <summary>CUDA when requested or (for Auto) available; CPU otherwise.</summary>
    public static Device Resolve(ComputeDevice choice)
    {
        bool cuda = cuda_is_available();
        return choice switch
        {
            ComputeDevice.Cpu => CPU,
            ComputeDevice.Cuda when !cuda => throw new InvalidOperationException("Device 'Cuda' was requested but no CUDA device is usable: this build references libtorch-cpu, or no GPU is present. Use ComputeDevice.Auto or Cpu, or build with the CUDA libtorch package (see docs/platform.md, GPU)."),
            ComputeDevice.Cuda => CUDA,
            _ => cuda ? CUDA : CPU,
        };
    }
}
