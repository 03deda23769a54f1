package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code bench serve} builds its prompts from the model's own ids: the image placeholder, BOS and
 * newline of a LLaMA tokenizer and of a Qwen2 one (no BOS, another placeholder id) alike.
 */
class BenchServeCommandTest {

  @TempDir Path dir;

  /** {@code bench serve} with 8-token prompts and 4-token answers. */
  private static Cli.Run benchServe(String model, String concurrency, String imageTrials)
      throws Exception {
    return Cli.run(
        "bench",
        "serve",
        "--model",
        model,
        "--concurrency",
        concurrency,
        "--image-trials",
        imageTrials,
        "--prompt-tokens",
        "8",
        "--output-tokens",
        "4");
  }

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"tiny", "siglip-qwen2"})
  @Timeout(300)
  void timesTextAndImagePromptsOnEveryFamilysIds(String preset) throws Exception {
    TinySpec spec = preset.equals("tiny") ? TinySpec.tiny() : TinySpec.siglipQwen2();
    String model = TinyCheckpoint.write(dir.resolve(preset), spec).toString();

    Cli.Run run = benchServe(model, "1,2", "1");

    assertEquals(0, run.exit(), run.err() + run.out());
    assertTrue(run.out().contains("image + prompt TTFT: cold"), run.out());
  }

  @Test
  @Timeout(300)
  void zeroImageTrialsTimesTheTextPromptsOnly() throws Exception {
    String model = TinyCheckpoint.write(dir.resolve("tiny"), TinySpec.tiny()).toString();

    Cli.Run run = benchServe(model, "2", "0");

    assertEquals(0, run.exit(), run.err() + run.out());
    assertFalse(run.out().contains("image + prompt TTFT"), run.out());
    assertTrue(run.out().contains("preemptions 0"), run.out());
  }

  @Test
  @Timeout(300)
  void negativeImageTrialsAreRefused() throws Exception {
    String model = TinyCheckpoint.write(dir.resolve("tiny"), TinySpec.tiny()).toString();

    Cli.Run run = Cli.run("bench", "serve", "--model", model, "--image-trials", "-1");

    assertNotEquals(0, run.exit(), run.out());
    assertTrue(run.err().contains("--image-trials must be >= 0"), run.err());
  }
}
