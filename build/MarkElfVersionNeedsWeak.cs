#nullable enable
// Sets VER_FLG_WEAK on chosen entries of an ELF64 library's .gnu.version_r section, unless the
// system's libstdc++ already defines those versions. See TorchSharpNativeFix.targets for why.
// One file, two users: the MSBuild inline task below (RoslynCodeTaskFactory compiles this file for
// every build that imports TorchSharpNativeFix.targets), and MLNetCnn.Architectures, which compiles
// ElfVersionPatch alone (MLNETCNN_ARCHITECTURES) to patch a copy at run time where no build ran
// (notebooks and scripts that load TorchSharp straight from the NuGet cache).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
#if !MLNETCNN_ARCHITECTURES
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
#endif

#if MLNETCNN_ARCHITECTURES
namespace MLNetCnn.Architectures.Runtime;
#endif

/// <summary>Reads and marks the version needs (<c>.gnu.version_r</c>) of 64-bit little-endian ELF libraries.</summary>
internal static class ElfVersionPatch
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlagWeak = 0x2;

    private static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
    };

    /// <summary>The system's libstdc++, or null where none is found.</summary>
    public static string? SystemLibStdCxx => LibStdCxxCandidates.FirstOrDefault(File.Exists);

    /// <summary>The <paramref name="versions"/> that <paramref name="libStdCxx"/> does not define.</summary>
    public static HashSet<string> MissingFrom(string libStdCxx, IEnumerable<string> versions)
    {
        byte[] library = File.ReadAllBytes(libStdCxx);
        return new HashSet<string>(versions.Where(v => IndexOf(library, Encoding.ASCII.GetBytes(v + "\0")) < 0), StringComparer.Ordinal);
    }

    /// <summary>Marks the needs for <paramref name="versions"/> weak in <paramref name="elf"/>, in place; returns how many changed (0 when all were already weak).</summary>
    public static int MarkWeak(byte[] elf, ISet<string> versions)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
        {
            throw new InvalidDataException("not an ELF file");
        }

        if (elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException("only 64-bit little-endian ELF files are supported");
        }

        long shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        int changed = 0;
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + ((long)s * shentsize);
            if (BitConverter.ToUInt32(elf, (int)sh + 4) != ShtGnuVerneed)
            {
                continue;
            }

            long offset = (long)BitConverter.ToUInt64(elf, (int)sh + 24);
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 40);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 44);
            long strtab = (long)BitConverter.ToUInt64(elf, (int)(shoff + ((long)link * shentsize) + 24));

            long need = offset;
            for (int n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, (int)need + 2);
                long aux = need + BitConverter.ToUInt32(elf, (int)need + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    string name = ReadCString(elf, strtab + BitConverter.ToUInt32(elf, (int)aux + 8));
                    ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                    if (versions.Contains(name) && (flags & VerFlagWeak) == 0)
                    {
                        BitConverter.GetBytes((ushort)(flags | VerFlagWeak)).CopyTo(elf, (int)aux + 4);
                        changed++;
                    }

                    aux += BitConverter.ToUInt32(elf, (int)aux + 12);
                }

                need += BitConverter.ToUInt32(elf, (int)need + 12);
            }
        }

        return changed;
    }

    private static string ReadCString(byte[] data, long start)
    {
        long end = start;
        while (end < data.Length && data[end] != 0)
        {
            end++;
        }

        return Encoding.ASCII.GetString(data, (int)start, (int)(end - start));
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i <= haystack.Length - needle.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j])
            {
                j++;
            }

            if (j == needle.Length)
            {
                return i;
            }
        }

        return -1;
    }
}

#if !MLNETCNN_ARCHITECTURES
/// <summary>The MSBuild task: patches each of <see cref="Files"/> in place (the copies in an output folder).</summary>
public sealed class MarkElfVersionNeedsWeak : Task
{
    [Required]
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    [Required]
    public string Versions { get; set; } = string.Empty;

    public override bool Execute()
    {
        var wanted = Versions.Split(new[] { ';', ',' }, StringSplitOptions.RemoveEmptyEntries).Select(v => v.Trim()).ToList();
        string? libStdCxx = ElfVersionPatch.SystemLibStdCxx;
        if (libStdCxx is null)
        {
            Log.LogMessage(MessageImportance.Low, "MarkElfVersionNeedsWeak: no system libstdc++ found; nothing to do.");
            return true;
        }

        var missing = ElfVersionPatch.MissingFrom(libStdCxx, wanted);
        if (missing.Count == 0)
        {
            Log.LogMessage(MessageImportance.Low, $"MarkElfVersionNeedsWeak: {libStdCxx} provides {Versions}; libraries left untouched.");
            return true;
        }

        foreach (var item in Files)
        {
            string path = item.ItemSpec;
            try
            {
                byte[] elf = File.ReadAllBytes(path);
                int patched = ElfVersionPatch.MarkWeak(elf, missing);
                if (patched > 0)
                {
                    // Write a new file and rename it over the old one: the output folder's copy may
                    // be a hard link into the NuGet cache, which must never be changed in place.
                    string temp = path + ".weak-tmp";
                    File.WriteAllBytes(temp, elf);
                    File.Delete(path);
                    File.Move(temp, path);
                    Log.LogMessage(MessageImportance.Normal, $"MarkElfVersionNeedsWeak: marked {patched} version need(s) weak in {path}.");
                }
            }
            catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
            {
                Log.LogError($"MarkElfVersionNeedsWeak: cannot patch '{path}': {e.Message}");
            }
        }

        return !Log.HasLoggedErrors;
    }
}
#endif
