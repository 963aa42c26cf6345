using System.Globalization;
using MLNetCnn.Serving;

namespace MLNetCnn.Examples.ServingApi;

/// <summary>A configuration value that is not a number of the expected kind or is out of range; the message names the key, the value and what is expected.</summary>
public sealed class ServingConfigurationException(string message) : Exception(message);

/// <summary>
/// The service's limits, read from configuration (command line <c>--Key value</c>, environment, appsettings) and
/// checked before the model loads, so a bad value stops the start with one line naming it.
/// </summary>
/// <param name="MaxConnections">Connections Kestrel keeps open (<c>MaxConnections</c>).</param>
/// <param name="MaxImagePixels">The process-wide decode limit (<c>MaxImagePixels</c>); null keeps <see cref="ImageDecodeLimit.DefaultMaxPixels"/>.</param>
/// <param name="MaxConcurrentPredictions">Images decoded and scored at once (<c>MaxConcurrentPredictions</c>).</param>
/// <param name="MaxConcurrentUploads">Bodies read into memory at once (<c>MaxConcurrentUploads</c>).</param>
/// <param name="UploadTimeout">Longest time one body may take to arrive once its upload slot is free (<c>UploadTimeoutSeconds</c>); a body still incomplete then gets 408.</param>
/// <param name="UploadQueueTimeout">Longest wait for an upload slot (<c>UploadQueueTimeoutSeconds</c>); a request still waiting then gets 503 with Retry-After.</param>
/// <param name="RequestHeadersTimeout">Longest time a request's headers may take to arrive (<c>RequestHeadersTimeoutSeconds</c>, Kestrel's <c>RequestHeadersTimeout</c>); Kestrel then closes the connection.</param>
public sealed record ServingSettings(long MaxConnections, long? MaxImagePixels, int MaxConcurrentPredictions, int MaxConcurrentUploads, TimeSpan UploadTimeout, TimeSpan UploadQueueTimeout, TimeSpan RequestHeadersTimeout)
{
    /// <summary>
    /// Open connections Kestrel keeps when configuration <c>MaxConnections</c> does not say: each may hold up to
    /// Kestrel's 1 MB request buffer, so 256 bound that memory to 256 MB (Kestrel's own default is no limit).
    /// </summary>
    public const long DefaultMaxConnections = 256;

    /// <summary>
    /// Default <c>UploadTimeoutSeconds</c>: a 1 MB image then needs about 50 KB/s (an 8 MiB one 420 KB/s), and a client
    /// that trickles bytes just above Kestrel's minimum rate (240 B/s) frees its slot after 20 s instead of holding it for hours.
    /// </summary>
    public const double DefaultUploadTimeoutSeconds = 20;

    /// <summary>
    /// Default <c>UploadQueueTimeoutSeconds</c>: how long a request waits for an upload slot before a 503. Longer than the
    /// upload timeout, so a request queued behind slow uploads gets a slot when their deadlines pass (waiters are served in turn).
    /// </summary>
    public const double DefaultUploadQueueTimeoutSeconds = 30;

    /// <summary>
    /// Default <c>RequestHeadersTimeoutSeconds</c>: a connection whose headers have not all arrived by then is closed. Kestrel's
    /// own 30 s let 256 clients that never finish their headers (<c>MaxConnections</c>) keep every other client out for 35-40 s.
    /// </summary>
    public const double DefaultRequestHeadersTimeoutSeconds = 10;

    /// <summary>Reads and checks every key; defaults for keys that are absent.</summary>
    /// <exception cref="ServingConfigurationException">A value is not a number of the expected kind or is out of range.</exception>
    public static ServingSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        long connections = Integer(configuration, "MaxConnections", 1, long.MaxValue) ?? DefaultMaxConnections;
        long? pixels = Integer(configuration, "MaxImagePixels", 1, ImageDecodeLimit.LargestPossible);
        int predictions = (int)(Integer(configuration, "MaxConcurrentPredictions", 1, int.MaxValue) ?? Environment.ProcessorCount);
        int uploads = (int)(Integer(configuration, "MaxConcurrentUploads", 1, int.MaxValue) ?? Math.Min(2L * predictions, int.MaxValue));
        double upload = Seconds(configuration, "UploadTimeoutSeconds", allowZero: false) ?? DefaultUploadTimeoutSeconds;
        double queue = Seconds(configuration, "UploadQueueTimeoutSeconds", allowZero: true) ?? DefaultUploadQueueTimeoutSeconds;
        double headers = Seconds(configuration, "RequestHeadersTimeoutSeconds", allowZero: false) ?? DefaultRequestHeadersTimeoutSeconds;
        return new ServingSettings(connections, pixels, predictions, uploads, TimeSpan.FromSeconds(upload), TimeSpan.FromSeconds(queue), TimeSpan.FromSeconds(headers));
    }

    private static long? Integer(IConfiguration configuration, string key, long min, long max)
    {
        if (configuration[key] is not { } text)
        {
            return null;
        }

        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) && value >= min && value <= max
            ? value
            : throw new ServingConfigurationException($"Configuration '{key}' is '{text}'; expected a whole number from {min} to {max}.");
    }

    private static double? Seconds(IConfiguration configuration, string key, bool allowZero)
    {
        if (configuration[key] is not { } text)
        {
            return null;
        }

        const double Day = 86_400;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && (allowZero ? value >= 0 : value > 0) && value <= Day
            ? value
            : throw new ServingConfigurationException($"Configuration '{key}' is '{text}'; expected a number of seconds {(allowZero ? "from 0" : "over 0")} to {Day}.");
    }
}
