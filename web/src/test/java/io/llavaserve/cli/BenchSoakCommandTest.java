package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class BenchSoakCommandTest {

  private static final Pattern ROW =
      Pattern.compile(
          "^ +(\\d+:\\d\\d) +\\| +(\\d+) +\\d+\\.\\d \\|( +\\d+\\.\\d){2} \\|( +\\d+\\.\\d){2} \\|"
              + "( +\\d+){5} \\|( +\\d+){3} \\| +\\d+ +\\d+ +\\d+ +(\\d+)$",
          Pattern.MULTILINE);

  @TempDir Path dir;

  @Test
  @Timeout(60) // a hang guard: the run takes about 10 s
  void aShortSoakOnTheTinyModelPrintsARowASecondAndPasses() throws Exception {
    String model = TinyCheckpoint.write(dir.resolve("model"), TinySpec.tiny()).toString();

    Cli.Run run =
        Cli.run(
            "bench",
            "soak",
            "--model",
            model,
            "--kv-cache-mb",
            "16",
            "--clients",
            "6",
            "--duration",
            "3s",
            "--interval",
            "1s",
            "--max-tokens",
            "6",
            "--prompt-words",
            "8",
            "--check-prompts",
            "2",
            "--check-share",
            "0.3",
            "--cancel-share",
            "0.3",
            "--batch-size",
            "3",
            "--batch-every",
            "1s",
            "--drain-timeout",
            "20s");

    String out = run.out();
    assertEquals(0, run.exit(), run.err() + out);
    assertTrue(
        out.contains(
            "reference answers: 2 check prompts alone over [SSE, WS, JSON], the wires agree"),
        out);
    assertTrue(out.contains(SoakReport.HEADER_2), out);
    Matcher rows = ROW.matcher(out);
    int count = 0;
    long done = 0;
    while (rows.find()) {
      count++;
      done += Long.parseLong(rows.group(2));
    }
    assertEquals(3, count, "a row per second of a 3 s run:\n" + out);
    assertTrue(done > 0, out);
    assertTrue(line(out, "KV blocks in use after the load: 0 \\(idle after \\d+\\.\\d s; .*"), out);
    assertTrue(line(out, "RSS growth over the second half: [+-]\\d+\\.\\d% .*"), out);
    assertTrue(
        line(
            out, "totals: \\d+ requests completed, \\d+ output tokens .*, [1-9]\\d* batch jobs;.*"),
        out);
    assertTrue(
        line(out, "checks: [1-9]\\d* greedy answers compared with their reference, 0 mismatched"),
        out);
    assertTrue(
        line(out, "cuts: \\d+ cancelled, \\d+ disconnected by the client \\(not errors\\)"), out);
    assertTrue(line(out, "errors: 0"), out);
    assertTrue(line(out, "verdict: PASS"), out);
  }

  private static boolean line(String out, String regex) {
    return Pattern.compile("^" + regex + "$", Pattern.MULTILINE).matcher(out).find();
  }
}
