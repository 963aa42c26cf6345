namespace MLNetCnn.Serving;

/// <summary>The CRC-32 of zip files (IEEE 802.3, reflected polynomial 0xEDB88320), computed a byte at a time from a table.</summary>
internal static class Crc32
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>The state before the first byte.</summary>
    public const uint Start = uint.MaxValue;

    /// <summary>The CRC-32 of <paramref name="bytes"/>.</summary>
    public static uint Of(ReadOnlySpan<byte> bytes) => Finish(Append(Start, bytes));

    /// <summary>The state after <paramref name="bytes"/> follow the bytes that gave <paramref name="state"/>.</summary>
    public static uint Append(uint state, ReadOnlySpan<byte> bytes)
    {
        foreach (byte b in bytes)
        {
            state = Table[(state ^ b) & 0xFF] ^ (state >> 8);
        }

        return state;
    }

    /// <summary>The CRC-32 of the bytes that gave <paramref name="state"/>.</summary>
    public static uint Finish(uint state) => ~state;

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
