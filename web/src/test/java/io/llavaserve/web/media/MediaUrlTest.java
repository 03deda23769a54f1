package io.llavaserve.web.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MediaUrlTest {

  private static final MediaConfig ANY = config(List.of());

  private static MediaConfig config(List<String> hosts) {
    return new MediaConfig(true, hosts, 1000, Duration.ofSeconds(1), 3, false);
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "ftp://example.com/a.png | scheme 'ftp'",
        "file:///etc/passwd | scheme 'file'",
        "gopher://example.com/ | scheme 'gopher'",
        "example.com/a.png | scheme ''",
        "http://user:pw@example.com/a.png | user info",
        "http://user@example.com/a.png | user info",
        "http:///a.png | no host",
        "http://exa mple.com/ | not a valid URL",
      })
  void refused(String url, String message) {
    MediaFetchException e = assertThrows(MediaFetchException.class, () -> MediaUrl.parse(url, ANY));
    assertEquals(400, e.status());
    assertEquals("image_url", e.param());
    assertTrue(e.getMessage().contains(message), e.getMessage());
  }

  @Test
  void partsForTheRequest() {
    MediaUrl u = MediaUrl.parse("HTTPS://Images.Example.COM./a/b.png?x=1&y=%20#frag", ANY);
    assertTrue(u.https());
    assertEquals("images.example.com", u.host());
    assertEquals(443, u.port());
    assertEquals("/a/b.png?x=1&y=%20", u.requestUri());
    assertEquals("images.example.com", u.hostHeader());
    MediaUrl v6 = MediaUrl.parse("http://[2606:4700::1]:8080", ANY);
    assertEquals("2606:4700::1", v6.host());
    assertEquals("/", v6.requestUri());
    assertEquals("[2606:4700::1]:8080", v6.hostHeader());
  }

  @Test
  void allowListWithExactAndWildcardHosts() {
    MediaConfig c = config(List.of("images.example.com", "*.cdn.example.org"));
    MediaUrl.parse("https://images.example.com/a.png", c);
    MediaUrl.parse("https://a.cdn.example.org/a.png", c);
    MediaUrl.parse("https://a.b.cdn.example.org/a.png", c);
    for (String refused :
        List.of(
            "https://cdn.example.org/a.png", // the wildcard does not cover the apex
            "https://evilcdn.example.org/a.png",
            "https://example.com/a.png",
            "https://images.example.com.evil.net/a.png",
            "https://127.0.0.1/a.png")) {
      MediaFetchException e =
          assertThrows(MediaFetchException.class, () -> MediaUrl.parse(refused, c), refused);
      assertTrue(e.getMessage().contains("allow-list"), e.getMessage());
    }
  }

  @Test
  void redirectsAreResolvedAndCheckedAgain() {
    MediaConfig c = config(List.of("a.example.com"));
    MediaUrl u = MediaUrl.parse("http://a.example.com/dir/x.png", c);
    assertEquals("/dir/y.png", u.redirect("y.png", c).requestUri());
    assertEquals("/z.png", u.redirect("/z.png", c).requestUri());
    assertEquals(
        400,
        assertThrows(MediaFetchException.class, () -> u.redirect("http://b.example.com/", c))
            .status());
    assertEquals(
        400,
        assertThrows(MediaFetchException.class, () -> u.redirect("file:///etc/passwd", c))
            .status());
  }

  @Test
  void configFromSettings() {
    assertEquals(MediaConfig.defaults(), MediaConfig.fromSettings(k -> null));
    java.util.Map<String, String> m =
        java.util.Map.of(
            "media.fetch-enabled", "true",
            "media.allowed-hosts", "images.example.com, *.cdn.example.org",
            "media.max-bytes", "1048576",
            "media.timeout-ms", "2500",
            "media.max-redirects", "0");
    MediaConfig c = MediaConfig.fromSettings(m::get);
    assertEquals(
        new MediaConfig(
            true,
            List.of("images.example.com", "*.cdn.example.org"),
            1048576,
            Duration.ofMillis(2500),
            0,
            false),
        c);
    assertThrows(
        IllegalArgumentException.class,
        () -> MediaConfig.fromSettings(java.util.Map.of("media.fetch-enabled", "maybe")::get));
    assertThrows(
        IllegalArgumentException.class,
        () -> MediaConfig.fromSettings(java.util.Map.of("media.max-bytes", "20MB")::get));
  }

  @Test
  void configIsValidated() {
    MediaConfig d = MediaConfig.defaults();
    assertEquals(false, d.fetchEnabled());
    assertEquals(20L * 1024 * 1024, d.maxBytes());
    assertEquals(Duration.ofSeconds(10), d.timeout());
    assertEquals(3, d.maxRedirects());
    assertThrows(IllegalArgumentException.class, () -> config(List.of("*example.com")));
    assertThrows(IllegalArgumentException.class, () -> config(List.of("a.*.example.com")));
    assertThrows(
        IllegalArgumentException.class,
        () -> new MediaConfig(true, List.of(), 0, Duration.ofSeconds(1), 3, false));
    assertThrows(
        IllegalArgumentException.class,
        () -> new MediaConfig(true, List.of(), 1, Duration.ZERO, 3, false));
    assertThrows(
        IllegalArgumentException.class,
        () -> new MediaConfig(true, List.of(), 1, Duration.ofSeconds(1), -1, false));
  }
}
