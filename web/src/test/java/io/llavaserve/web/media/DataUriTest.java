package io.llavaserve.web.media;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DataUriTest {

  private static final byte[] PNG_MAGIC = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

  @Test
  void goodPng() {
    String b64 = Base64.getEncoder().encodeToString(PNG_MAGIC);
    DataUri d = DataUri.parse("data:image/png;base64," + b64);
    assertEquals("image/png", d.mediaType());
    assertArrayEquals(PNG_MAGIC, d.bytes());
    DataUri spaced =
        DataUri.parse(
            "DATA:Image/PNG;charset=x;base64," + b64.substring(0, 4) + "\n " + b64.substring(4));
    assertEquals("image/png", spaced.mediaType());
    assertArrayEquals(PNG_MAGIC, spaced.bytes());
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(
      delimiter = '|',
      value = {
        "data:image/png,iVBORw0KGgo= | must be base64-encoded",
        "data:image/png;base64,iVBOR*w0KGgo= | not valid base64",
        "data:image/png;base64,iVBORw0KG | not valid base64",
        "data:text/plain;base64,aGVsbG8= | 'text/plain' is not an image type",
        "data:image/;base64,aGVsbG8= | not an image type",
        "data:;base64,aGVsbG8= | no media type",
        "data:image/png;base64, | no image data",
        "data:image/png;base64 | no ','",
        "https://example.com/a.png | must be a data: URI",
      })
  void refused(String uri, String message) {
    MediaFetchException e = assertThrows(MediaFetchException.class, () -> DataUri.parse(uri));
    assertEquals(400, e.status());
    assertEquals("image_url", e.param());
    assertTrue(e.getMessage().contains(message), e.getMessage());
  }

  @Test
  void emptyAndNull() {
    assertEquals(400, assertThrows(MediaFetchException.class, () -> DataUri.parse("")).status());
    assertEquals(400, assertThrows(MediaFetchException.class, () -> DataUri.parse(null)).status());
  }

  @Test
  void overTheCapIs413() {
    String b64 = Base64.getEncoder().encodeToString(new byte[300]);
    assertEquals(300, DataUri.parse("data:image/png;base64," + b64, 300).bytes().length);
    MediaFetchException e =
        assertThrows(
            MediaFetchException.class, () -> DataUri.parse("data:image/png;base64," + b64, 299));
    assertEquals(413, e.status());
  }
}
