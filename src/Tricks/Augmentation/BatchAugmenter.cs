using MLNetCnn.Architectures.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetCnn.Tricks.Augmentation;

/// <summary>
/// Augments a batch of training images on their own device, one image's draws independent of another's.
/// The operations run in this order, each only when <see cref="AugmentationOptions"/> turns it on:
/// <list type="number">
/// <item>random resized crop, horizontal flip and translation, as one affine resample of the whole batch
/// (<c>affine_grid</c> + <c>grid_sample</c>, no antialiasing): bilinear with a crop (border padding, or zeros when
/// translating), nearest otherwise, which makes a flip or a whole-pixel shift exact; a flip alone is a plain mirror;</item>
/// <item>brightness, contrast, saturation, PCA lighting, each clamping to [0, 255] as torchvision's ColorJitter does;</item>
/// <item>random erasing.</item>
/// </list>
/// Random numbers come from a CPU <see cref="Generator"/> seeded by the caller, never from the global torch
/// stream, and every image consumes the same draws whichever operations are on, so turning one on does not
/// change what another does.
/// </summary>
public sealed class BatchAugmenter
{
    private const int CropTries = 10;

    // Uniform draws per image: CropTries (area, log aspect) pairs, the crop offset (x, y), the flip, three colour factors.
    private const int UniformsPerImage = (2 * CropTries) + 2 + 1 + 3;

    // Further uniform draws per image, drawn after the normals so that the draws above keep their values: the shift
    // (x, y), whether to erase, CropTries (area, log aspect) pairs of the erased box and its offset (x, y).
    private const int ExtrasPerImage = 2 + 1 + (2 * CropTries) + 2;

    // AlexNet's PCA of ImageNet RGB pixels (Krizhevsky et al. 2012, section 4.1) as fb.resnet.torch and GluonCV use it;
    // eigenvalues in 0..255 units, one eigenvector a column, rows R, G, B.
    private static readonly double[] EigenValues = { 55.46, 4.794, 1.148 };
    private static readonly double[,] EigenVectors =
    {
        { -0.5675, 0.7192, 0.4009 },
        { -0.5808, -0.0045, -0.8140 },
        { -0.5836, -0.6948, 0.4203 },
    };

    // torchvision's rgb_to_grayscale weights (ITU-R 601 luma).
    private static readonly float[] LumaWeights = { 0.2989f, 0.587f, 0.114f };

    // Clamp bounds of 8-bit pixel values, held for the life of the process (see Scalars).
    private static readonly Scalar PixelMin = 0.ToScalar();
    private static readonly Scalar PixelMax = 255.ToScalar();

    private readonly AugmentationOptions _options;

    /// <summary>Creates an augmenter; throws when <paramref name="options"/> is out of range.</summary>
    public BatchAugmenter(AugmentationOptions options)
    {
        _options = options.Validate();
    }

    /// <summary>
    /// Returns augmented images with the shape, dtype and device of <paramref name="images"/>, which it leaves untouched.
    /// Deterministic: the same images and seed give bitwise the same output on one device; different seeds give
    /// different draws. The result is a new tensor in the caller's dispose scope; for identity options it shares
    /// the input's storage.
    /// </summary>
    /// <param name="images">A float32 tensor [N, C, H, W] of raw 0..255 pixels, C = 1 (grey) or 3 (RGB), on any device.</param>
    /// <param name="seed">Seed of this batch's draws.</param>
    public Tensor Apply(Tensor images, long seed)
    {
        CheckImages(images);
        using var scope = NewDisposeScope();
        long n = images.shape[0];
        if (_options.IsIdentity || n == 0)
        {
            return images.alias().MoveToOuterDisposeScope();
        }

        var draws = Draws.Sample(images.shape, seed, noise: _options.ErasingProbability > 0);
        var x = CropAndFlip(images, draws);
        x = Colour(x, ReferenceEquals(x, images), draws);
        x = Erase(x, draws);
        return (ReferenceEquals(x, images) ? images.alias() : x).MoveToOuterDisposeScope();
    }

    private static void CheckImages(Tensor images)
    {
        if (images.dim() != 4 || images.dtype != ScalarType.Float32 || images.shape[1] is not (1 or 3))
        {
            throw new ArgumentException($"Expected images as a float32 tensor [N, C, H, W] with C = 1 or 3; found {images.dtype} [{string.Join(", ", images.shape)}].", nameof(images));
        }
    }

    /// <summary>Returns <paramref name="x"/> itself when no image is cropped or flipped.</summary>
    private Tensor CropAndFlip(Tensor x, Draws draws)
    {
        long n = x.shape[0];
        var flips = new bool[n];
        for (int i = 0; i < n; i++)
        {
            flips[i] = draws.Uniform(i, (2 * CropTries) + 2) < _options.HorizontalFlipProbability;
        }

        int shift = _options.MaxTranslation;
        if (!_options.RandomResizedCrop && shift == 0)
        {
            // An exact mirror: a resample matches it only where the grid arithmetic is exact in float (power-of-two sizes).
            return flips.Any(f => f) ? where(from_array(flips).reshape(n, 1, 1, 1).to(x.device), x.flip(3), x) : x;
        }

        // theta maps output coordinates in [-1, 1] to input coordinates: the box's scale and centre, a flip negates the
        // x scale, a shift of s pixels adds 2 s / size (the output pixel at column c samples the input at c + s).
        long height = x.shape[2], width = x.shape[3];
        var theta = new float[n * 6];
        for (int i = 0; i < n; i++)
        {
            var (left, top, w, h) = _options.RandomResizedCrop ? CropBox(draws, i, width, height) : (0, 0, width, height);
            double dx = Shift(draws.Extra(i, 0), shift), dy = Shift(draws.Extra(i, 1), shift);
            theta[(i * 6) + 0] = (float)(w / width * (flips[i] ? -1 : 1));
            theta[(i * 6) + 2] = (float)((((2 * (left + dx)) + w) / width) - 1);
            theta[(i * 6) + 4] = (float)(h / height);
            theta[(i * 6) + 5] = (float)((((2 * (top + dy)) + h) / height) - 1);
        }

        // Without a crop every sample lands within float rounding of a pixel centre, so nearest is exact.
        var mode = _options.RandomResizedCrop ? GridSampleMode.Bilinear : GridSampleMode.Nearest;
        var padding = shift > 0 ? GridSamplePaddingMode.Zeros : GridSamplePaddingMode.Border;
        var grid = nn.functional.affine_grid(from_array(theta).reshape(n, 2, 3).to(x.device), x.shape, align_corners: false);
        return nn.functional.grid_sample(x, grid, mode, padding, align_corners: false);
    }

    /// <summary>A whole number of pixels uniform in [-max, max] from one uniform draw in [0, 1).</summary>
    private static int Shift(double uniform, int max) => Math.Min((int)Math.Floor(uniform * ((2 * max) + 1)), 2 * max) - max;

    /// <summary>Random erasing: returns <paramref name="x"/> itself when it is off.</summary>
    private Tensor Erase(Tensor x, Draws draws)
    {
        if (_options.ErasingProbability == 0)
        {
            return x;
        }

        long n = x.shape[0];
        int height = (int)x.shape[2], width = (int)x.shape[3];
        var mask = new bool[n * height * width];
        bool any = false;
        for (int i = 0; i < n; i++)
        {
            if (draws.Extra(i, 2) >= _options.ErasingProbability || ErasedBox(draws, i, width, height) is not { } box)
            {
                continue;
            }

            var (left, top, w, h) = box;
            any = true;
            for (int row = top; row < top + h; row++)
            {
                Array.Fill(mask, true, (int)(((i * height) + row) * width) + left, w);
            }
        }

        return any ? where(from_array(mask).reshape(n, 1, height, width).to(x.device), draws.Noise!.to(x.device), x) : x;
    }

    /// <summary>torchvision's RandomErasing.get_params in whole pixels, or null when no box fits in 10 draws.</summary>
    private (int Left, int Top, int Width, int Height)? ErasedBox(Draws draws, int image, int width, int height)
    {
        double area = (double)width * height;
        double logMax = -Math.Log(_options.ErasingMinAspect);
        for (int t = 0; t < CropTries; t++)
        {
            double target = area * (_options.ErasingMinArea + ((_options.ErasingMaxArea - _options.ErasingMinArea) * draws.Extra(image, 3 + (2 * t))));
            double aspect = Math.Exp(-logMax + (2 * logMax * draws.Extra(image, 4 + (2 * t))));
            int h = (int)Math.Round(Math.Sqrt(target * aspect)), w = (int)Math.Round(Math.Sqrt(target / aspect));
            if (h >= 1 && w >= 1 && h < height && w < width)
            {
                int top = Math.Min((int)(draws.Extra(image, 3 + (2 * CropTries)) * (height - h + 1)), height - h);
                int left = Math.Min((int)(draws.Extra(image, 4 + (2 * CropTries)) * (width - w + 1)), width - w);
                return (left, top, w, h);
            }
        }

        return null;
    }

    /// <summary>torchvision's RandomResizedCrop.get_params with a sub-pixel box: left, top, width, height in pixels.</summary>
    private (double Left, double Top, double Width, double Height) CropBox(Draws draws, int image, long width, long height)
    {
        double area = (double)width * height;
        double logMin = Math.Log(_options.MinAspect), logMax = Math.Log(_options.MaxAspect);
        for (int t = 0; t < CropTries; t++)
        {
            double target = area * (_options.MinArea + ((_options.MaxArea - _options.MinArea) * draws.Uniform(image, 2 * t)));
            double aspect = Math.Exp(logMin + ((logMax - logMin) * draws.Uniform(image, (2 * t) + 1)));
            double w = Math.Sqrt(target * aspect), h = Math.Sqrt(target / aspect);
            if (w <= width && h <= height)
            {
                return (draws.Uniform(image, 2 * CropTries) * (width - w), draws.Uniform(image, (2 * CropTries) + 1) * (height - h), w, h);
            }
        }

        double ratio = (double)width / height;
        var (fw, fh) = ratio < _options.MinAspect ? (width, width / _options.MinAspect)
            : ratio > _options.MaxAspect ? (height * _options.MaxAspect, height)
            : ((double)width, (double)height);
        return ((width - fw) / 2, (height - fh) / 2, fw, fh);
    }

    /// <param name="x">The images so far.</param>
    /// <param name="shared">Whether <paramref name="x"/> is the caller's tensor, which must not be written.</param>
    /// <param name="draws">This batch's draws.</param>
    private Tensor Colour(Tensor x, bool shared, Draws draws)
    {
        bool rgb = x.shape[1] == 3;
        bool saturation = rgb && _options.Saturation > 0, lighting = rgb && _options.PcaLighting > 0;
        if (_options.Brightness == 0 && _options.Contrast == 0 && !saturation && !lighting)
        {
            return x;
        }

        // From here every operation writes in place: one batch-sized buffer however many run.
        if (shared)
        {
            x = x.clone();
        }

        int colourDraw = (2 * CropTries) + 3;
        if (_options.Brightness > 0)
        {
            x.mul_(Factors(draws, colourDraw, _options.Brightness, x.device)).clamp_(PixelMin, PixelMax);
        }

        if (_options.Contrast > 0)
        {
            var factor = Factors(draws, colourDraw + 1, _options.Contrast, x.device);
            var mean = (rgb ? Grey(x) : x).mean(new long[] { 1, 2, 3 }, keepdim: true);
            x.mul_(factor).add_(mean.mul_(Complement(factor)), Scalars.One).clamp_(PixelMin, PixelMax);
        }

        if (saturation)
        {
            var factor = Factors(draws, colourDraw + 2, _options.Saturation, x.device);
            var grey = Grey(x);
            x.mul_(factor).add_(grey.mul_(Complement(factor)), Scalars.One).clamp_(PixelMin, PixelMax);
        }

        if (lighting)
        {
            x.add_(LightingOffsets(draws, x.device), Scalars.One).clamp_(PixelMin, PixelMax);
        }

        return x;
    }

    /// <summary>1 - <paramref name="factor"/>, without a temporary Scalar (see Scalars).</summary>
    private static Tensor Complement(Tensor factor) => factor.neg().add_(Scalars.One, Scalars.One);

    /// <summary>Per-image blend factors [N, 1, 1, 1] uniform in [max(0, 1 - strength), 1 + strength].</summary>
    private static Tensor Factors(Draws draws, int draw, double strength, Device device)
    {
        double low = Math.Max(0, 1 - strength), high = 1 + strength;
        var factors = new float[draws.Count];
        for (int i = 0; i < factors.Length; i++)
        {
            factors[i] = (float)(low + ((high - low) * draws.Uniform(i, draw)));
        }

        return from_array(factors).reshape(factors.Length, 1, 1, 1).to(device);
    }

    /// <summary>Per-image RGB offsets [N, 3, 1, 1]: eigenvectors times (alpha * eigenvalues).</summary>
    private Tensor LightingOffsets(Draws draws, Device device)
    {
        var offsets = new float[draws.Count * 3];
        for (int i = 0; i < draws.Count; i++)
        {
            for (int c = 0; c < 3; c++)
            {
                double sum = 0;
                for (int k = 0; k < 3; k++)
                {
                    sum += EigenVectors[c, k] * _options.PcaLighting * draws.Normal(i, k) * EigenValues[k];
                }

                offsets[(i * 3) + c] = (float)sum;
            }
        }

        return from_array(offsets).reshape(draws.Count, 3, 1, 1).to(device);
    }

    /// <summary>Grey level [N, 1, H, W] of each pixel of RGB images.</summary>
    private static Tensor Grey(Tensor x) => (x * from_array(LumaWeights).reshape(1, 3, 1, 1).to(x.device)).sum(1, keepdim: true);

    /// <summary>All of one batch's random numbers, drawn up front on the host from a seeded CPU generator.</summary>
    private sealed class Draws
    {
        private readonly double[] _uniforms;
        private readonly double[] _normals;
        private readonly double[] _extras;

        private Draws(double[] uniforms, double[] normals, double[] extras, Tensor? noise)
        {
            _uniforms = uniforms;
            _normals = normals;
            _extras = extras;
            Noise = noise;
        }

        public int Count => _normals.Length / 3;

        /// <summary>Erasing noise: uniform raw pixels in [0, 255) with the batch's shape, on the CPU; null when not asked for.</summary>
        public Tensor? Noise { get; }

        /// <summary>Draws, in a fixed order, for a batch of <paramref name="shape"/> [N, C, H, W]; the noise last, only when asked for.</summary>
        public static Draws Sample(long[] shape, long seed, bool noise)
        {
            long count = shape[0];
            using var generator = new Generator(unchecked((ulong)seed));
            using var uniforms = rand(new[] { count, UniformsPerImage }, ScalarType.Float64, generator: generator);
            using var normals = randn(new[] { count, 3L }, ScalarType.Float64, generator: generator);
            using var extras = rand(new[] { count, ExtrasPerImage }, ScalarType.Float64, generator: generator);
            var pixels = noise ? rand(shape, ScalarType.Float32, generator: generator).mul_(PixelMax) : null; // in the caller's dispose scope
            return new Draws(uniforms.data<double>().ToArray(), normals.data<double>().ToArray(), extras.data<double>().ToArray(), pixels);
        }

        public double Uniform(int image, int draw) => _uniforms[(image * UniformsPerImage) + draw];

        public double Normal(int image, int component) => _normals[(image * 3) + component];

        public double Extra(int image, int draw) => _extras[(image * ExtrasPerImage) + draw];
    }
}
