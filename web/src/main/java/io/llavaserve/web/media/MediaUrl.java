package io.llavaserve.web.media;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.Locale;

/**
 * An image URL that passed the static checks: http(s), a host, no user info, the host on the
 * allow-list. Addresses are checked later, after resolution.
 *
 * @param https whether to use TLS
 * @param host lower-case host name or IP literal (IPv6 without brackets), no trailing dot
 * @param port explicit or default port
 * @param requestUri path and query to send, {@code /} at least
 * @param uri the parsed URL, to resolve redirects against
 */
record MediaUrl(boolean https, String host, int port, String requestUri, URI uri) {

  /**
   * Parses and checks {@code url}, or throws {@link MediaFetchException} 400 naming the problem.
   */
  static MediaUrl parse(String url, MediaConfig config) {
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      throw MediaFetchException.refused("image_url is not a valid URL: " + e.getReason());
    }
    return of(uri, config);
  }

  static MediaUrl of(URI uri, MediaConfig config) {
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!scheme.equals("http") && !scheme.equals("https")) {
      throw MediaFetchException.refused(
          "image_url scheme '" + scheme + "' is not allowed; use http, https or a data: URI");
    }
    if (uri.getRawUserInfo() != null) {
      throw MediaFetchException.refused("image_url must not contain user info (user:password@)");
    }
    String host = uri.getHost();
    if (host == null || host.isEmpty()) {
      throw MediaFetchException.refused("image_url has no host");
    }
    host = host.toLowerCase(Locale.ROOT);
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    while (host.endsWith(".")) {
      host = host.substring(0, host.length() - 1);
    }
    if (!config.hostAllowed(host)) {
      throw MediaFetchException.refused(
          "image_url host '" + host + "' is not on this server's media allow-list");
    }
    boolean https = scheme.equals("https");
    int port = uri.getPort() == -1 ? (https ? 443 : 80) : uri.getPort();
    String path = uri.getRawPath() == null || uri.getRawPath().isEmpty() ? "/" : uri.getRawPath();
    String requestUri = uri.getRawQuery() == null ? path : path + "?" + uri.getRawQuery();
    return new MediaUrl(https, host, port, requestUri, uri);
  }

  /** The target of a redirect from this URL, checked like the original. */
  MediaUrl redirect(String location, MediaConfig config) {
    URI target;
    try {
      target = uri.resolve(new URI(location));
    } catch (URISyntaxException | IllegalArgumentException e) {
      throw new MediaFetchException(502, "image_url redirected to an invalid URL: " + location);
    }
    return of(target, config);
  }

  /** The {@code Host} header: the name as given, with the port when not the default. */
  String hostHeader() {
    String h = host.indexOf(':') >= 0 ? "[" + host + "]" : host;
    return port == (https ? 443 : 80) ? h : h + ":" + port;
  }
}
