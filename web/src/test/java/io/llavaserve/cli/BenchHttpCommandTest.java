package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class BenchHttpCommandTest {

  @TempDir Path dir;

  @Test
  @Timeout(60) // a hang guard: the run takes about 8 s, 13 s on a busy machine
  void ssePassOnTheTinyModelPrintsTheTableAndTheRatioToTheEngine() throws Exception {
    String model = TinyCheckpoint.write(dir.resolve("model"), TinySpec.tiny()).toString();

    Cli.Run run =
        Cli.run(
            "bench",
            "http",
            "--model",
            model,
            "--kv-cache-mb",
            "16",
            "--concurrency",
            "2",
            "--max-tokens",
            "4",
            "--requests-per-client",
            "1",
            "--transport",
            "sse");

    assertEquals(0, run.exit(), run.err() + run.out());
    String out = run.out();
    assertTrue(out.contains("transport  clients   req/s  output tok/s"), out);
    assertTrue(line(out, "sse +2 +\\d+\\.\\d\\d +\\d+\\.\\d( +\\d+\\.\\d){9}"), out);
    assertTrue(line(out, "engine +2 +\\d+\\.\\d\\d +\\d+\\.\\d( +\\d+\\.\\d){9}"), out);
    // 2 clients x 1 request x 4 tokens, as the usage chunks report them.
    assertTrue(line(out, "token events / usage completion_tokens: sse \\d+/8, engine \\d+/8"), out);
    assertTrue(line(out, "HTTP / in-process output tok/s \\(target >= 0.95\\):"), out);
    assertTrue(line(out, " +2 clients: sse \\d+\\.\\d\\d"), out);
    assertFalse(out.contains("failed"), out);
    assertFalse(out.contains("websocket"), out); // not asked for
  }

  @Test
  @Timeout(60)
  void repeatedImagesFromAPoolAreFoundInThePrefixCacheAndTheRateIsPrinted() throws Exception {
    String model = TinyCheckpoint.write(dir.resolve("model"), TinySpec.tiny()).toString();

    Cli.Run run =
        Cli.run(
            "bench",
            "http",
            "--model",
            model,
            "--kv-cache-mb",
            "16",
            "--concurrency",
            "1",
            "--max-tokens",
            "2",
            "--requests-per-client",
            "3",
            "--transport",
            "sse",
            "--image",
            "--image-pool",
            "1");

    assertEquals(0, run.exit(), run.err() + run.out());
    String out = run.out();
    assertTrue(out.contains("+ one of 1 PNGs"), out);
    var m =
        Pattern.compile(
                "^prompt tokens found in the prefix cache \\(usage cached_tokens / prompt_tokens\\):"
                    + " sse at 1 clients (\\d+\\.\\d)% \\((\\d+) of (\\d+)\\), engine at 1 clients",
                Pattern.MULTILINE)
            .matcher(out);
    assertTrue(m.find(), out);
    // The one image was seen by the warm-up already: every request finds its blocks cached.
    assertTrue(Integer.parseInt(m.group(2)) >= 3 * 16, out);

    Cli.Run bad = Cli.run("bench", "http", "--model", model, "--image-pool", "2");
    assertTrue(bad.exit() != 0, bad.out());
  }

  private static boolean line(String out, String regex) {
    return Pattern.compile("^" + regex + "$", Pattern.MULTILINE).matcher(out).find();
  }
}
