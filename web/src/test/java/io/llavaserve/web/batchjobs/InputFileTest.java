package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InputFileTest {

  @TempDir Path dir;

  private static final String GOOD =
      "{\"custom_id\":\"%s\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
          + "\"body\":{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}";

  private InputFile.Checked check(byte[] content) throws Exception {
    Path file = dir.resolve("input.jsonl");
    Files.write(file, content);
    return InputFile.check(file, "/v1/chat/completions");
  }

  @Test
  void goodLinesWithCrLfAndBlankLinesAreRead() throws Exception {
    String text = GOOD.formatted("a") + "\r\n\n" + GOOD.formatted("b") + "\n";
    InputFile.Checked c = check(text.getBytes(StandardCharsets.UTF_8));
    assertTrue(c.errors().isEmpty(), c.errors().toString());
    assertEquals(2, c.lines().size());
    assertEquals(3, c.lines().get(1).line());
  }

  @Test
  void aLineThatIsNotUtf8IsALineErrorNotAFailure() throws Exception {
    byte[] good = (GOOD.formatted("a") + "\n").getBytes(StandardCharsets.UTF_8);
    byte[] bad = {'{', (byte) 0xC3, '}', '\n'};
    byte[] content = new byte[good.length + bad.length];
    System.arraycopy(good, 0, content, 0, good.length);
    System.arraycopy(bad, 0, content, good.length, bad.length);
    InputFile.Checked c = check(content);
    assertEquals(1, c.errors().size(), c.errors().toString());
    assertEquals(2, c.errors().get(0).line());
    assertTrue(c.errors().get(0).message().contains("not valid UTF-8"), c.errors().toString());
    assertTrue(c.lines().isEmpty(), "a refused file runs no line");
  }
}
