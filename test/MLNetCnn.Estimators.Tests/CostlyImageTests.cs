using System.Buffers.Binary;
using System.Diagnostics;
using MLNetCnn.Serving;
using MLNetCnn.TestSupport;
using SkiaSharp;

namespace MLNetCnn.Estimators.Tests;

/// <summary>
/// Found by an outside sweep: images within the decode limit that still cost far more than it promises. A PNG with
/// one large text or unknown chunk took time in the square of its size (8.9 s for 8 MB, 152 s for 32 MB; four posted
/// at once held the serving sample's /predict for 18 s); an interlaced PNG or a progressive JPEG took twice the memory
/// the limit is set for; ICO and WBMP files were decoded although no message or loader named those formats.
/// </summary>
[TestClass]
public sealed class CostlyImageTests
{
    private static byte[] Encoded(SKEncodedImageFormat format, int width = 100, int height = 80)
    {
        using var bitmap = new SKBitmap(width, height);
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                bitmap.SetPixel(x, y, new SKColor((byte)(x * 2), (byte)(y * 3), (byte)(x + y)));
            }
        }

        using var data = bitmap.Encode(format, 90);
        return data.ToArray();
    }

    private static byte[] Pixels(byte[] encoded)
    {
        using var image = ImageDecoding.DecodeBytes(encoded, "image");
        return image.Pixels.ToArray();
    }

    [TestMethod]
    [DataRow("zzZz")]
    [DataRow("tEXt")]
    [DataRow("iCCP")]
    public void ALargeAncillaryPngChunkIsDroppedNotDecodedForMinutes(string type)
    {
        var png = Encoded(SKEncodedImageFormat.Png);
        var padded = CraftedImages.WithChunk(png, type, 16 << 20);
        var clock = Stopwatch.StartNew();
        var pixels = Pixels(padded);
        clock.Stop();

        // Before, a 16 MB chunk took about 35 s here (quadratic: 8.9 s for 8 MB).
        Assert.IsLessThan(TimeSpan.FromSeconds(5), clock.Elapsed, $"{type}: {clock.Elapsed}");
        CollectionAssert.AreEqual(Pixels(png), pixels, "the chunk never changed the pixels");
    }

    /// <summary>
    /// Found by a second outside sweep: the decoder holds every chunk but IDAT whole before reading it, copying what it
    /// has again as each block of the file arrives, so a large critical chunk cost what a large ancillary one did: 8 to
    /// 10 s of CPU for 4 MB (a 100 x 80 PNG with a 4 MB PLTE then decoded; the others were refused only after it).
    /// No critical chunk but IDAT holds more than 768 bytes (a PLTE of 256 colours), so such a file is refused unread.
    /// </summary>
    [TestMethod]
    [DataRow("PLTE")]
    [DataRow("IEND")]
    [DataRow("ZZZZ")]
    public void ALargeCriticalPngChunkIsRefusedNotHeldForSeconds(string type)
    {
        var padded = CraftedImages.WithChunk(Encoded(SKEncodedImageFormat.Png), type, 4 << 20);
        var clock = Stopwatch.StartNew();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(padded, "posted image"));
        clock.Stop();

        StringAssert.Contains(e.Message, $"The posted image ({padded.Length} bytes) is not a decodable image: its PNG chunk '{type}' at byte 33 declares 4,194,304 bytes");
        Assert.IsLessThan(TimeSpan.FromSeconds(2), clock.Elapsed, $"{type}: {clock.Elapsed}");
    }

    /// <summary>
    /// Found by the same sweep: an ancillary chunk whose declared length runs past the end of the file was left for the
    /// decoder, which held the rest of the file as that chunk (10 s for 4 MB) before calling the header cut short.
    /// </summary>
    [TestMethod]
    public void AnAncillaryPngChunkRunningPastTheEndIsDroppedNotHeld()
    {
        const int afterHeader = 33, held = 4 << 20;
        var png = CraftedImages.WithChunk(Encoded(SKEncodedImageFormat.Png), "tEXt", held);
        var cut = png[..(afterHeader + 8 + held)];
        BinaryPrimitives.WriteUInt32BigEndian(cut.AsSpan(afterHeader), 0x7FFFFFF0); // declares 2 GB, of which the file holds 4 MB

        CollectionAssert.AreEqual(cut[..afterHeader], EncodedHeader.WithoutLargePngChunks(cut, "image"), "the file up to that chunk");
        var clock = Stopwatch.StartNew();
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(cut, "posted image"));
        clock.Stop();
        StringAssert.Contains(e.Message, "its header is cut short or invalid");
        Assert.IsLessThan(TimeSpan.FromSeconds(2), clock.Elapsed);

        // Junk after the image data that reads as a critical chunk running past the end decoded before (after holding
        // it); it still does, without holding it.
        var image = Encoded(SKEncodedImageFormat.Png);
        int iend = image.Length - 12;
        byte[] junk = [.. image[..iend], 0x7F, 0xFF, 0xFF, 0xF0, .. "ABCD"u8, .. new byte[held]];
        CollectionAssert.AreEqual(image[..iend], EncodedHeader.WithoutLargePngChunks(junk, "image"));
        CollectionAssert.AreEqual(Pixels(image), Pixels(junk));
    }

    [TestMethod]
    public void SmallAncillaryChunksAndPixelDataAreKeptAsTheyAre()
    {
        var png = Encoded(SKEncodedImageFormat.Png);
        Assert.IsNull(EncodedHeader.WithoutLargePngChunks(CraftedImages.WithChunk(png, "tEXt", EncodedHeader.MaxAncillaryChunkBytes), "image"));
        Assert.IsNull(EncodedHeader.WithoutLargePngChunks(Encoded(SKEncodedImageFormat.Jpeg), "image"), "not a PNG");

        // A critical chunk within 768 bytes is the decoder's to judge, and the rest of the file is copied as it was.
        var withLarge = CraftedImages.WithChunk(png, "zzZz", EncodedHeader.MaxAncillaryChunkBytes + 1);
        CollectionAssert.AreEqual(png, EncodedHeader.WithoutLargePngChunks(withLarge, "image"));
        Assert.IsNull(EncodedHeader.WithoutLargePngChunks(CraftedImages.WithChunk(png, "ZZZZ", EncodedHeader.MaxCriticalChunkBytes), "image"));
    }

    [TestMethod]
    public void InterlacedPngsAndProgressiveJpegsCountTheDecodersSecondBuffer()
    {
        var previous = ImageDecodeLimit.Current;
        try
        {
            ImageDecodeLimit.Current = new ImageDecodeLimit { MaxPixels = 10_000 };

            // 100 x 80 = 8,000 pixels: within the limit as such, but an interlaced 16-bit RGBA PNG holds 8 more bytes a pixel.
            var interlaced = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(CraftedImages.PngHeader(100, 80, 16, 6, interlaced: true), "image"));
            Assert.IsInstanceOfType<ImageTooLargeException>(interlaced.InnerException);
            StringAssert.Contains(interlaced.Message, "100 x 80 = 8,000 pixels, an interlaced PNG, whose decoder holds 8 more bytes a pixel, so it counts as 16,000");
            var plain = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(CraftedImages.PngHeader(100, 80, 16, 6, interlaced: false), "image"));
            Assert.IsNull(plain.InnerException as ImageTooLargeException, "not interlaced: decoded (and found to hold no pixels)");

            // A baseline JPEG of that size decodes; marked progressive (SOF2 for SOF0) it counts 6 more bytes a pixel.
            var jpeg = Encoded(SKEncodedImageFormat.Jpeg);
            Assert.HasCount(100 * 80 * 4, Pixels(jpeg));
            int frame = Enumerable.Range(0, jpeg.Length - 1).First(i => jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0);
            jpeg[frame + 1] = 0xC2;
            var progressive = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(jpeg, "image"));
            StringAssert.Contains(progressive.Message, "a progressive JPEG, whose decoder holds 6 more bytes a pixel, so it counts as 14,000");

            // A reviewer hid the frame from a walk that read a length after every marker with one length-free FF 01
            // after the start; libjpeg skips it, and so does the walk now.
            byte[] hidden = [.. jpeg[..2], 0xFF, 0x01, .. jpeg[2..]];
            var stillCounted = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(hidden, "image"));
            StringAssert.Contains(stillCounted.Message, "a progressive JPEG, whose decoder holds 6 more bytes a pixel");
        }
        finally
        {
            ImageDecodeLimit.Current = previous;
        }
    }

    [TestMethod]
    public void AnIcoIsRefusedAsAFormatTheLibraryDoesNotRead()
    {
        var png = Encoded(SKEncodedImageFormat.Png, 32, 32);
        var ico = new byte[6 + 16 + png.Length];
        ico[2] = 1; // type: icon
        ico[4] = 1; // one image
        (ico[6], ico[7], ico[10], ico[12]) = (32, 32, 1, 32); // 32 x 32, one plane, 32 bits a pixel
        BitConverter.TryWriteBytes(ico.AsSpan(14), png.Length);
        BitConverter.TryWriteBytes(ico.AsSpan(18), 22);
        png.CopyTo(ico, 22);

        using (var codec = SKCodec.Create(new SKMemoryStream(ico)))
        {
            Assert.AreEqual(SKEncodedImageFormat.Ico, codec?.EncodedFormat, "SkiaSharp itself reads it");
        }

        // Refused by its first bytes, before SkiaSharp opens it: its ICO reader loads every directory entry when it opens
        // the file (a reviewer measured 210 MB for 65,535 entries before the refusal that came after).
        var e = Assert.ThrowsExactly<InvalidDataException>(() => ImageDecoding.DecodeBytes(ico, "posted image"));
        StringAssert.Contains(e.Message, "is not a decodable image: it does not begin as a jpg, png, bmp, gif or webp file does (its first bytes: 0000010001002020)");
    }
}
