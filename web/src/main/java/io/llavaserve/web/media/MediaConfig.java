package io.llavaserve.web.media;

import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

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
      if (h.indexOf('*') >= 0 && (!h.startsWith("*.") || h.indexOf('*', 1) >= 0 || h.length() < 3)) {
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
