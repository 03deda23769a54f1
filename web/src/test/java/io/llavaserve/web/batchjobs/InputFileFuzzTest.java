package io.llavaserve.web.batchjobs;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Any uploaded batch input file through the validator: lines to run or line errors to report, never
 * an exception.
 */
class InputFileFuzzTest {

  @FuzzTest(maxDuration = "10m")
  void anyFile(byte[] content) throws IOException {
    Path file = Files.createTempFile("batch-input", ".jsonl");
    try {
      Files.write(file, content);
      InputFile.Checked checked = InputFile.check(file, "/v1/chat/completions");
      if (checked.lines().isEmpty() && checked.errors().isEmpty() && content.length > 0) {
        boolean blank = new String(content, java.nio.charset.StandardCharsets.UTF_8).isBlank();
        if (!blank) {
          throw new AssertionError("neither lines nor errors for a non-blank file");
        }
      }
    } finally {
      Files.delete(file);
    }
  }
}
