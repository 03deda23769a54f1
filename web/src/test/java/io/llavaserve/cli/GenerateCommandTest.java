package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.generate.GenerationResult;
import io.llavaserve.engine.generate.Generator;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ContentPart;
import io.llavaserve.engine.sampling.SamplingParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerateCommandTest {

  @TempDir static Path dir;
  private static String model;
  private static String image;
  private static LlavaModel loaded;

  @BeforeAll
  static void checkpoint() throws Exception {
    model = TinyCheckpoint.write(dir.resolve("model"), TinySpec.tiny()).toString();
    image = Cli.png(dir.resolve("a.png"), 20, 20).toString();
    loaded = LlavaModel.load(Path.of(model), ModelOptions.defaults().withKvCacheBytes(4 << 20));
  }

  @AfterAll
  static void close() {
    if (loaded != null) {
      loaded.close();
    }
  }

  private static Cli.Run generate(String... args) {
    String[] all = new String[args.length + 5];
    all[0] = "generate";
    all[1] = "--model";
    all[2] = model;
    all[3] = "--kv-cache-mb";
    all[4] = "4";
    System.arraycopy(args, 0, all, 5, args.length);
    return Cli.run(all);
  }

  @Test
  void printsTheGreedyAnswerAndStatsOnStderr() throws Exception {
    Cli.Run run = generate("--prompt", "hi", "--max-tokens", "5");

    assertEquals(0, run.exit(), run.err());
    assertTrue(run.err().contains("prefill") && run.err().contains("decode"), run.err());
    assertTrue(run.err().contains("finish: "), run.err());
    GenerationResult expected =
        new Generator(loaded)
            .generate(
                loaded.chatPrompt(List.of(ChatMessage.text("user", "hi"))).ids(),
                List.of(),
                SamplingParams.greedy(5),
                s -> {});
    assertEquals(expected.text() + System.lineSeparator(), run.out());
    assertTrue(run.err().contains(expected.tokens().size() + " tokens generated"), run.err());
  }

  @Test
  void withAnImageThePromptGrowsByTheImageRows() {
    Cli.Run run = generate("--image", image, "--prompt", "What is this?", "--max-tokens", "2");

    assertEquals(0, run.exit(), run.err());
    int[] ids =
        loaded
            .chatPrompt(
                List.of(
                    new ChatMessage(
                        "user",
                        List.of(new ContentPart.Image(), new ContentPart.Text("What is this?")))))
            .ids();
    assertEquals(ids.length + 15, promptPositions(run.err()), run.err());
  }

  @Test
  void missingPromptIsAUsageError() {
    Cli.Run run = generate("--max-tokens", "5");

    assertNotEquals(0, run.exit());
    String first = run.err().lines().findFirst().orElse("");
    assertTrue(first.contains("Missing required option") && first.contains("--prompt"), run.err());
  }

  @Test
  void missingModelFolderIsNamed() {
    Path missing = dir.resolve("no-such-model");
    Cli.Run run = Cli.run("generate", "--model", missing.toString(), "--prompt", "hi");

    assertEquals(2, run.exit());
    assertTrue(run.errorLine().contains(missing.toString()), run.err());
  }

  @Test
  void fileThatIsNotAnImageIsNamed() throws Exception {
    Path notImage = Files.writeString(dir.resolve("notes.png"), "this is text, not pixels");
    Cli.Run run = generate("--image", notImage.toString(), "--prompt", "hi");

    assertEquals(2, run.exit());
    assertTrue(run.errorLine().contains(notImage.toString()), run.err());
    assertEquals("", run.out());
  }

  @Test
  void missingImageFileIsNamed() {
    Path missing = dir.resolve("missing.png");
    Cli.Run run = generate("--image", missing.toString(), "--prompt", "hi");

    assertEquals(2, run.exit());
    String line = run.errorLine();
    assertTrue(line.contains(missing.toString()) && line.contains("no such file"), line);
  }

  @Test
  void temperatureOutOfRangeIsNamed() {
    Cli.Run run = generate("--prompt", "hi", "--temperature", "5");

    assertEquals(2, run.exit());
    String line = run.errorLine();
    assertTrue(line.contains("temperature") && line.contains("5"), line);
  }

  @Test
  void rawPromptWithoutImageTokenButWithAnImageFails() {
    Cli.Run run = generate("--raw", "--prompt", "hi", "--image", image);

    assertEquals(2, run.exit());
    String line = run.errorLine();
    assertTrue(line.contains("0 image tokens") && line.contains("1 images"), line);
    assertEquals("", run.out());
  }

  /** The "prompt N positions" of the stats line. */
  private static int promptPositions(String err) {
    Matcher m = Pattern.compile("prompt (\\d+) positions").matcher(err);
    assertTrue(m.find(), err);
    return Integer.parseInt(m.group(1));
  }
}
