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

class BenchAccuracyCommandTest {

  @TempDir Path dir;

  private static final Pattern RESULT =
      Pattern.compile(
          "positions (\\d+): logit RMS error (\\S+) of the logits' spread \\(worst position"
              + " (\\S+)\\), largest error (\\S+), top-1 agreement (\\S+)%, mean KL divergence"
              + " (\\S+) nats");

  @Test
  @Timeout(300)
  void int8AndInt4WeightsAreCloseToFloat32AndFloat32IsFloat32() throws Exception {
    String model = TinyCheckpoint.write(dir.resolve("model"), TinySpec.tiny()).toString();
    Matcher int8 = result("--model", model, "--quantization", "int8");
    assertEquals(3 * 16, Integer.parseInt(int8.group(1)));
    double rms = Double.parseDouble(int8.group(2));
    assertTrue(rms > 1e-4 && rms < 0.05, "int8 RMS error " + rms);
    assertTrue(Double.parseDouble(int8.group(5)) >= 80, "top-1 agreement " + int8.group(5));

    Matcher int4 = result("--model", model, "--quantization", "int4");
    double int4Rms = Double.parseDouble(int4.group(2));
    assertTrue(int4Rms > 2 * rms && int4Rms < 0.5, "int4 RMS error " + int4Rms);
    assertTrue(Double.parseDouble(int4.group(5)) >= 50, "top-1 agreement " + int4.group(5));

    Matcher exact =
        result("--model", model, "--matmul-precision", "float32", "--kv-cache-dtype", "float32");
    assertTrue(Double.parseDouble(exact.group(2)) < 1e-5, "float32 against itself");
    assertEquals("100.0", exact.group(5));
  }

  private static Matcher result(String... flags) {
    String[] args = new String[flags.length + 6];
    args[0] = "bench";
    args[1] = "accuracy";
    args[2] = "--prompts";
    args[3] = "3";
    args[4] = "--prompt-tokens";
    args[5] = "16";
    System.arraycopy(flags, 0, args, 6, flags.length);
    Cli.Run run = Cli.run(args);
    assertEquals(0, run.exit(), run.err() + run.out());
    Matcher m = RESULT.matcher(run.out());
    assertTrue(m.find(), run.out());
    return m;
  }
}
