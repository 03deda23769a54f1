package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class BenchBatchCommandTest {

  @TempDir Path dir;

  @Test
  @Timeout(60)
  void comparesABatchJobWithTheOnlinePath() throws Exception {
    String model = TinyCheckpoint.write(dir.resolve("model"), TinySpec.tiny()).toString();
    Cli.Run run =
        Cli.run(
            "bench",
            "batch",
            "--model",
            model,
            "--kv-cache-mb",
            "16",
            "--requests",
            "6",
            "--concurrency",
            "3",
            "--max-tokens",
            "3");
    assertEquals(0, run.exit(), run.err() + run.out());
    String out = run.out();
    assertTrue(line(out, "online SSE +6 +\\d+\\.\\d\\d +\\d+\\.\\d +\\d+\\.\\d"), out);
    assertTrue(line(out, "batch job +6 +\\d+\\.\\d\\d +\\d+\\.\\d +\\d+\\.\\d"), out);
    assertTrue(line(out, "batch job / online output tok/s: \\d+\\.\\d\\d"), out);
  }

  private static boolean line(String out, String regex) {
    return Pattern.compile("^" + regex + "$", Pattern.MULTILINE).matcher(out).find();
  }
}
