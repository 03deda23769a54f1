package io.llavaserve.web.media;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.function.Function;

/**
 * How image URLs may be fetched.
 *
 * @param fetchEnabled whether http(s) image URLs are fetched at all (off by default)
 * @param allowedHosts exact host names or {@code *.example.com} (any subdomain, not the apex);
 *     empty = any host whose addresses are public
 * @param maxBytes the byte cap on one image, enforced while reading
 * @param timeout the time cap on one fetch, from DNS to the last byte, redirects included
 * @param maxRedirects redirects followed before giving up
 * @param allowPrivateAddresses allow loopback, private, CGNAT and link-local addresses; for tests
 *     only. Metadata, unspecified, multicast and reserved addresses stay refused.
 */
public record MediaConfig(
    boolean fetchEnabled,
    List<String> allowedHosts,
    long maxBytes,
    Duration timeout,
    int maxRedirects,
    boolean allowPrivateAddresses) {

  public static final long DEFAULT_MAX_BYTES = 20L * 1024 * 1024;
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
  public static final int DEFAULT_MAX_REDIRECTS = 3;

  public MediaConfig {
    allowedHosts =
        Objects.requireNonNull(allowedHosts, "allowedHosts").stream()
            .map(h -> h.trim().toLowerCase(Locale.ROOT))
            .filter(h -> !h.isEmpty())
            .toList();
    for (String h : allowedHosts) {
      if (h.indexOf('*') >= 0
          && (!h.startsWith("*.") || h.indexOf('*', 1) >= 0 || h.length() < 3)) {
        throw new IllegalArgumentException(
            "media allowed host '" + h + "': a wildcard must be a leading '*.', as *.example.com");
      }
    }
    if (maxBytes < 1) {
      throw new IllegalArgumentException("media max bytes must be >= 1, got " + maxBytes);
    }
    Objects.requireNonNull(timeout, "timeout");
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("media timeout must be > 0, got " + timeout);
    }
    if (maxRedirects < 0) {
      throw new IllegalArgumentException("media max redirects must be >= 0, got " + maxRedirects);
    }
  }

  /** Fetching disabled; 20 MiB, 10 s and 3 redirects once enabled. */
  public static MediaConfig defaults() {
    return new MediaConfig(
        false, List.of(), DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, DEFAULT_MAX_REDIRECTS, false);
  }

  /**
   * Reads the {@code media.*} keys through {@code lookup} (null = unset, default kept): {@code
   * media.fetch-enabled} (false), {@code media.allowed-hosts} (comma-separated, empty = any public
   * host), {@code media.max-bytes} (20971520), {@code media.timeout-ms} (10000), {@code
   * media.max-redirects} (3). {@code allowPrivateAddresses} is never read from configuration.
   */
  public static MediaConfig fromSettings(Function<String, String> lookup) {
    MediaConfig d = defaults();
    String enabled = value(lookup, "media.fetch-enabled");
    String hosts = value(lookup, "media.allowed-hosts");
    String maxBytes = value(lookup, "media.max-bytes");
    String timeoutMs = value(lookup, "media.timeout-ms");
    String redirects = value(lookup, "media.max-redirects");
    try {
      return new MediaConfig(
          enabled == null ? d.fetchEnabled() : parseBoolean(enabled),
          hosts == null ? d.allowedHosts() : List.of(hosts.split(",")),
          maxBytes == null ? d.maxBytes() : Long.parseLong(maxBytes),
          timeoutMs == null ? d.timeout() : Duration.ofMillis(Long.parseLong(timeoutMs)),
          redirects == null ? d.maxRedirects() : Integer.parseInt(redirects),
          false);
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("media.*: not a number: " + e.getMessage(), e);
    }
  }

  private static String value(Function<String, String> lookup, String key) {
    String v = lookup.apply(key);
    return v == null || v.isBlank() && !key.equals("media.allowed-hosts") ? null : v.trim();
  }

  private static boolean parseBoolean(String v) {
    return switch (v.toLowerCase(Locale.ROOT)) {
      case "true", "yes", "on", "1" -> true;
      case "false", "no", "off", "0" -> false;
      default ->
          throw new IllegalArgumentException(
              "media.fetch-enabled must be true or false, got '" + v + "'");
    };
  }

  /** Whether {@code host} (lower case, no trailing dot) is on the allow-list. */
  boolean hostAllowed(String host) {
    if (allowedHosts.isEmpty()) {
      return true;
    }
    for (String pattern : allowedHosts) {
      if (pattern.startsWith("*.")
          ? host.endsWith(pattern.substring(1)) && host.length() > pattern.length() - 1
          : host.equals(pattern)) {
        return true;
      }
    }
    return false;
  }
}
