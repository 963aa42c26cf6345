using System.Runtime.InteropServices;

namespace MLNetCnn.TestSupport;

/// <summary>
/// Lets a test see a folder of mode 000 as unreadable even when it runs as root (as CI does): root reads any folder
/// through the capabilities CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, which Linux keeps per thread. This lowers them
/// in the calling thread's effective set for the length of one call and raises them again after. Linked into the test
/// projects that need it.
/// </summary>
internal static class FilePermissions
{
    private const uint CapabilityVersion3 = 0x20080522;
    private const uint DacOverrides = (1u << 1) | (1u << 2); // CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH

    /// <summary>Runs <paramref name="action"/> on this thread with the permission overrides lowered (as is, where there are none or this is not Linux).</summary>
    public static T Enforced<T>(Func<T> action)
    {
        var header = new CapHeader { Version = CapabilityVersion3 };
        var sets = new CapData[2];
        if (!OperatingSystem.IsLinux() || capget(ref header, sets) != 0 || (sets[0].Effective & DacOverrides) == 0)
        {
            return action();
        }

        uint saved = sets[0].Effective;
        sets[0].Effective &= ~DacOverrides;
        if (capset(ref header, sets) != 0)
        {
            throw new InvalidOperationException($"capset failed (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            return action();
        }
        finally
        {
            sets[0].Effective = saved;
            capset(ref header, sets);
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int capget(ref CapHeader header, [In, Out] CapData[] data);

    [DllImport("libc", SetLastError = true)]
    private static extern int capset(ref CapHeader header, CapData[] data);

    [StructLayout(LayoutKind.Sequential)]
    private struct CapHeader
    {
        public uint Version;
        public int Pid;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct CapData
    {
        public uint Effective;
        public uint Permitted;
        public uint Inheritable;
    }
}
