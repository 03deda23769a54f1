package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ContentPart;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InspectCommandTest {

  private static final int IMAGE = TinySpec.IMAGE_TOKEN_INDEX;

  @TempDir static Path dir;
  private static Path modelDir;
  private static Path image;
  private static LlavaModel model;

  @BeforeAll
  static void checkpoint() throws Exception {
    modelDir = TinyCheckpoint.write(dir.resolve("model"), TinySpec.tiny());
    image = Cli.png(dir.resolve("a.png"), 48, 32);
    model = LlavaModel.load(modelDir, ModelOptions.defaults().withKvCacheBytes(4 << 20));
  }

  @AfterAll
  static void close() {
    if (model != null) {
      model.close();
    }
  }

  /** {@code inspect} on the test model with a small cache, then {@code args}. */
  private Cli.Run inspect(String... args) {
    List<String> all =
        new java.util.ArrayList<>(
            List.of("inspect", "--model", modelDir.toString(), "--kv-cache-mb", "4"));
    all.addAll(List.of(args));
    return Cli.run(all.toArray(String[]::new));
  }

  @Test
  void chatPromptWritesIdsPixelsAndLogitsOfEveryPosition() throws Exception {
    Path out = dir.resolve("chat");
    Cli.Run run =
        inspect("--image", image.toString(), "--prompt", "What is this?", "--out", out.toString());

    assertEquals(0, run.exit(), run.err());
    assertTrue(
        run.err()
            .contains(
                "tower: clip_vision_model, 56 px in 14 px patches (4 x 4), layer -2, strategy"
                    + " default: 16 positions per image"),
        run.err());
    int[] ids = readIds(out.resolve("prompt_ids.json"));
    assertEquals(1, ids[0], "BOS first");
    assertEquals(1, Arrays.stream(ids).filter(id -> id == IMAGE).count());
    int[] expectedIds =
        model
            .chatPrompt(
                List.of(
                    new ChatMessage(
                        "user",
                        List.of(new ContentPart.Image(), new ContentPart.Text("What is this?")))))
            .ids();
    assertArrayEquals(expectedIds, ids);

    Npy pixels = Npy.read(out.resolve("pixel_values.npy"));
    assertArrayEquals(new long[] {1, 3, 56, 56}, pixels.shape());
    PixelValues expectedPixels = model.preprocess(Files.readAllBytes(image));
    assertArrayEquals(expectedPixels.data(), pixels.data());

    Npy logits = Npy.read(out.resolve("logits.npy"));
    int rows = ids.length + 15;
    assertArrayEquals(new long[] {rows, 32064}, logits.shape());
    float[][] expected = allLogits(ids, List.of(expectedPixels));
    for (int t : new int[] {0, 3, rows / 2, rows - 1}) {
      float[] got = Arrays.copyOfRange(logits.data(), t * 32064, (t + 1) * 32064);
      assertClose(expected[t], got, 1e-4, "logits row " + t);
    }
    assertTrue(run.err().contains("logits [" + rows + ", 32064]"), run.err());
  }

  @Test
  void rawPromptIsTokenizedAsIs() throws Exception {
    Path out = dir.resolve("raw");
    Cli.Run run =
        inspect(
            "--raw",
            "--image",
            image.toString(),
            "--prompt",
            "<image>\nhi",
            "--out",
            out.toString());

    assertEquals(0, run.exit(), run.err());
    int[] ids = readIds(out.resolve("prompt_ids.json"));
    assertArrayEquals(model.tokenizer().encode("<image>\nhi"), ids);
    assertArrayEquals(
        new long[] {ids.length + 15, 32064}, Npy.read(out.resolve("logits.npy")).shape());
  }

  @Test
  void imageCountMismatchInRawModeFails() {
    Cli.Run run =
        inspect(
            "--raw",
            "--image",
            image.toString(),
            "--prompt",
            "hi",
            "--out",
            dir.resolve("bad").toString());

    assertEquals(2, run.exit());
    String line = run.errorLine();
    assertTrue(line.contains("0 image tokens") && line.contains("1 --image"), line);
  }

  /**
   * llava_next: every image's tiles padded to the most tiles of the prompt (zeros past an image's
   * own, as LlavaNextImageProcessor batches them), the images' sizes, and logits over the sequence
   * with each image at its own size's positions.
   */
  @Test
  void llavaNextWritesEveryTileTheImageSizesAndLogitsOfTheExpandedSequence() throws Exception {
    Path nextDir = TinyCheckpoint.write(dir.resolve("next-model"), TinySpec.next());
    Path tall = Cli.png(dir.resolve("tall.png"), 60, 200);
    Path out = dir.resolve("next");
    Cli.Run run =
        Cli.run(
            "inspect",
            "--model",
            nextDir.toString(),
            "--kv-cache-mb",
            "4",
            "--raw",
            "--image",
            image.toString(),
            "--image",
            tall.toString(),
            "--prompt",
            "<image>\n<image>\nhi",
            "--out",
            out.toString());

    assertEquals(0, run.exit(), run.err());
    try (LlavaModel next =
        LlavaModel.load(nextDir, ModelOptions.defaults().withKvCacheBytes(4 << 20))) {
      PixelValues wide = next.preprocess(Files.readAllBytes(image)); // 32 x 48: 1 x 2 grid
      PixelValues high = next.preprocess(Files.readAllBytes(tall)); // 200 x 60: 3 x 1 grid
      assertEquals(3, wide.tiles());
      assertEquals(4, high.tiles());
      Npy pixels = Npy.read(out.resolve("pixel_values.npy"));
      assertArrayEquals(new long[] {2, 4, 3, 56, 56}, pixels.shape());
      int tile = 3 * 56 * 56;
      assertArrayEquals(wide.data(), Arrays.copyOfRange(pixels.data(), 0, 3 * tile));
      assertTrue(
          Arrays.equals(new float[tile], Arrays.copyOfRange(pixels.data(), 3 * tile, 4 * tile)),
          "the first image has no fourth tile: zeros");
      assertArrayEquals(high.data(), Arrays.copyOfRange(pixels.data(), 4 * tile, 8 * tile));
      assertEquals("[[32,48],[200,60]]", Files.readString(out.resolve("image_sizes.json")));

      int[] ids = readIds(out.resolve("prompt_ids.json"));
      int rows = ids.length - 2 + next.imagePositions(wide) + next.imagePositions(high);
      Npy logits = Npy.read(out.resolve("logits.npy"));
      assertArrayEquals(new long[] {rows, 32064}, logits.shape());
      ExpandedPrompt e = next.expand(ids, List.of(wide, high));
      float[][] expected = allLogits(next, e, List.of(wide, high));
      for (int t : new int[] {0, 2, rows / 2, rows - 1}) {
        float[] got = Arrays.copyOfRange(logits.data(), t * 32064, (t + 1) * 32064);
        assertClose(expected[t], got, 1e-4, "logits row " + t);
      }
      assertTrue(run.err().contains("16 positions per tile; 32 x 48: 3 tiles, "), run.err());
    }
  }

  /**
   * llava_onevision: a lone image's tiles (its map reduced, as transformers packs it) and, for two
   * images, one tile each; {@code image_sizes.json}, {@code batch_num_images.json} (the count the
   * model needs to know not to tile), and logits over the sequence with each image at its
   * positions.
   */
  @Test
  void llavaOnevisionWritesALoneImagesTilesOrOneTileEachOfSeveral() throws Exception {
    Path ovDir = TinyCheckpoint.write(dir.resolve("onevision-model"), TinySpec.onevision());
    Path big = Cli.png(dir.resolve("big.png"), 300, 240);
    try (LlavaModel ov =
        LlavaModel.load(ovDir, ModelOptions.defaults().withKvCacheBytes(4 << 20))) {
      Path out = dir.resolve("onevision-one");
      Cli.Run run =
          Cli.run(
              "inspect",
              "--model",
              ovDir.toString(),
              "--kv-cache-mb",
              "4",
              "--raw",
              "--image",
              big.toString(),
              "--prompt",
              "<image>\nhi",
              "--out",
              out.toString());
      assertEquals(0, run.exit(), run.err());
      PixelValues alone = ov.preprocess(Files.readAllBytes(big), 1); // 240 x 300: 4 x 5 grid
      assertEquals(21, alone.tiles());
      Npy pixels = Npy.read(out.resolve("pixel_values.npy"));
      assertArrayEquals(new long[] {1, 21, 3, 60, 60}, pixels.shape());
      assertArrayEquals(alone.data(), pixels.data());
      assertEquals("[[240,300]]", Files.readString(out.resolve("image_sizes.json")));
      assertEquals("[1]", Files.readString(out.resolve("batch_num_images.json")));
      int[] ids = readIds(out.resolve("prompt_ids.json"));
      int rows = ids.length - 1 + 16 + 10 * 13 + 10;
      Npy logits = Npy.read(out.resolve("logits.npy"));
      assertArrayEquals(new long[] {rows, 32064}, logits.shape());
      float[][] expected = allLogits(ov, ov.expand(ids, List.of(alone)), List.of(alone));
      for (int t : new int[] {0, rows / 2, rows - 1}) {
        float[] got = Arrays.copyOfRange(logits.data(), t * 32064, (t + 1) * 32064);
        assertClose(expected[t], got, 1e-4, "logits row " + t);
      }
      assertTrue(run.err().contains("240 x 300: 21 tiles, 156 positions"), run.err());

      Path two = dir.resolve("onevision-two");
      run =
          Cli.run(
              "inspect",
              "--model",
              ovDir.toString(),
              "--kv-cache-mb",
              "4",
              "--raw",
              "--image",
              big.toString(),
              "--image",
              image.toString(),
              "--prompt",
              "<image>\n<image>\nhi",
              "--out",
              two.toString());
      assertEquals(0, run.exit(), run.err());
      PixelValues first = ov.preprocess(Files.readAllBytes(big), 2);
      PixelValues second = ov.preprocess(Files.readAllBytes(image), 2);
      pixels = Npy.read(two.resolve("pixel_values.npy"));
      assertArrayEquals(new long[] {2, 1, 3, 60, 60}, pixels.shape());
      int tile = 3 * 60 * 60;
      assertArrayEquals(first.data(), Arrays.copyOfRange(pixels.data(), 0, tile));
      assertArrayEquals(second.data(), Arrays.copyOfRange(pixels.data(), tile, 2 * tile));
      assertEquals("[[240,300],[32,48]]", Files.readString(two.resolve("image_sizes.json")));
      assertEquals("[2]", Files.readString(two.resolve("batch_num_images.json")));
      ids = readIds(two.resolve("prompt_ids.json"));
      assertArrayEquals(
          new long[] {ids.length - 2 + 17 + 17, 32064},
          Npy.read(two.resolve("logits.npy")).shape());
      assertTrue(run.err().contains("1 tile (one of 2 images), 17 positions"), run.err());
    }
  }

  // --- helpers ---

  private static int[] readIds(Path file) throws Exception {
    return new ObjectMapper().readValue(file.toFile(), int[].class);
  }

  /** The runner's logits at every position of the expanded prompt, in one chunk. */
  private static float[][] allLogits(int[] ids, List<PixelValues> pixels) {
    ExpandedPrompt e =
        ExpandedPrompt.expand(
            ids, model.config().imageTokenIndex(), model.config().imageSeqLength());
    return allLogits(model, e, pixels);
  }

  private static float[][] allLogits(LlavaModel model, ExpandedPrompt e, List<PixelValues> pixels) {
    List<ImageFeatures> features = model.runner().encodeImages(pixels);
    int[] table = new int[model.runner().kvCache().numBlocks()];
    Arrays.setAll(table, i -> i);
    SequenceChunk chunk =
        new SequenceChunk(e.tokens(), 0, table, e.placements(0, e.length(), features));
    StepOutput o = model.runner().execute(new ScheduledBatch(List.of(chunk), true));
    float[][] rows = new float[o.rowCount()][];
    for (int i = 0; i < rows.length; i++) {
      rows[i] = o.row(i);
    }
    return rows;
  }

  private static void assertClose(float[] expected, float[] actual, double tol, String what) {
    assertEquals(expected.length, actual.length, what);
    for (int i = 0; i < expected.length; i++) {
      if (Math.abs(expected[i] - actual[i]) > tol) {
        throw new AssertionError(what + " [" + i + "]: " + expected[i] + " vs " + actual[i]);
      }
    }
  }

  /** A float32 little-endian C-order {@code .npy} file. */
  record Npy(long[] shape, float[] data) {

    private static final Pattern SHAPE = Pattern.compile("'shape': \\(([0-9, ]*)\\)");

    static Npy read(Path file) throws Exception {
      byte[] bytes = Files.readAllBytes(file);
      assertEquals((byte) 0x93, bytes[0]);
      assertEquals("NUMPY", new String(bytes, 1, 5, StandardCharsets.US_ASCII));
      assertEquals(1, bytes[6], "version 1.0");
      int headerLen = (bytes[8] & 0xff) | (bytes[9] & 0xff) << 8;
      assertEquals(0, (10 + headerLen) % 64, "header padded to 64 bytes");
      String header = new String(bytes, 10, headerLen, StandardCharsets.US_ASCII);
      assertTrue(header.contains("'descr': '<f4'"), header);
      assertTrue(header.contains("'fortran_order': False"), header);
      assertTrue(header.endsWith("\n"), header);
      Matcher m = SHAPE.matcher(header);
      assertTrue(m.find(), header);
      long[] shape =
          Arrays.stream(m.group(1).split(","))
              .map(String::strip)
              .filter(s -> !s.isEmpty())
              .mapToLong(Long::parseLong)
              .toArray();
      long count = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
      int dataLen = bytes.length - 10 - headerLen;
      assertEquals(4 * count, dataLen, "data bytes for shape " + Arrays.toString(shape));
      float[] data = new float[(int) count];
      ByteBuffer.wrap(bytes, 10 + headerLen, dataLen)
          .order(ByteOrder.LITTLE_ENDIAN)
          .asFloatBuffer()
          .get(data);
      return new Npy(shape, data);
    }
  }
}
