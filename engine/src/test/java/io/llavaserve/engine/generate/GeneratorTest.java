package io.llavaserve.engine.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.sampling.FinishReason;
import io.llavaserve.engine.sampling.SampledToken;
import io.llavaserve.engine.sampling.SamplingParams;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The single-sequence generator against a greedy loop written here over the raw runner. */
class GeneratorTest {

  /** 1 MiB of KV holds 128 blocks of 16 tokens: 2048 positions, below the 4096 of the config. */
  private static final long KV_BYTES = 1 << 20;

  @TempDir static Path dir;

  private static LlavaModel model;
  private static Generator generator;

  @BeforeAll
  static void load() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny());
    model = LlavaModel.load(dir, ModelOptions.defaults().withKvCacheBytes(KV_BYTES));
    generator = new Generator(model);
  }

  @AfterAll
  static void close() {
    if (model != null) {
      model.close();
    }
  }

  @Test
  void greedyMatchesAManualArgmaxLoopAndIsDeterministic() {
    int[] ids = model.rawPrompt("USER: Describe the weather.\nASSISTANT:").ids();
    Manual manual = manualGreedy(ids, List.of(), 12);

    GenerationResult first = generate(ids, List.of(), SamplingParams.greedy(12), new ArrayList<>());
    GenerationResult second =
        generate(ids, List.of(), SamplingParams.greedy(12), new ArrayList<>());

    assertArrayEquals(manual.upToEos(model.tokenizer().eosId()), tokenIds(first));
    assertArrayEquals(tokenIds(first), tokenIds(second));
    assertEquals(first.text(), second.text());
    assertEquals(ids.length, first.promptTokens());
  }

  @Test
  void streamedPiecesConcatenateToTheResultText() {
    int[] ids = model.rawPrompt("Once upon a time").ids();
    List<String> pieces = new ArrayList<>();
    GenerationResult r = generate(ids, List.of(), SamplingParams.greedy(16), pieces);

    assertFalse(r.text().isEmpty(), "the tiny model should produce some text");
    assertFalse(pieces.contains(""), "no empty pieces are streamed");
    assertEquals(r.text(), String.join("", pieces));
    assertEquals(model.tokenizer().decode(tokenIds(r), true), r.text());
  }

  @Test
  void maxTokensEndsWithLengthAfterExactlyThatManyTokens() {
    int[] ids = model.rawPrompt("Count: one two three").ids();
    SamplingParams params =
        SamplingParams.builder().temperature(0).maxTokens(7).ignoreEos(true).build();
    GenerationResult r = generate(ids, List.of(), params, new ArrayList<>());

    assertEquals(FinishReason.LENGTH, r.finishReason());
    assertEquals(7, r.tokens().size());
  }

  @Test
  void stopStringEndsWithStopAndCutsTheTextBeforeIt() {
    int[] ids = model.rawPrompt("USER: Tell me a story.\nASSISTANT:").ids();
    SamplingParams base =
        SamplingParams.builder().temperature(0).maxTokens(24).ignoreEos(true).build();
    GenerationResult full = generate(ids, List.of(), base, new ArrayList<>());
    String text = full.text();
    String stop = middleSubstring(text);
    int at = text.indexOf(stop);

    List<String> pieces = new ArrayList<>();
    GenerationResult r = generate(ids, List.of(), base.toBuilder().stop(stop).build(), pieces);

    assertEquals(FinishReason.STOP, r.finishReason());
    assertEquals(text.substring(0, at), r.text(), "stop string " + stop);
    assertEquals(r.text(), String.join("", pieces));
    assertTrue(r.tokens().size() < full.tokens().size());
    assertArrayEquals(
        Arrays.copyOf(tokenIds(full), r.tokens().size()),
        tokenIds(r),
        "same tokens up to the stop");
  }

  @Test
  void seededSamplingIsReproducibleAndDependsOnTheSeed() {
    int[] ids = model.rawPrompt("The capital of France is").ids();
    SamplingParams seeded =
        SamplingParams.builder().temperature(0.8).maxTokens(20).ignoreEos(true).seed(1234).build();
    GenerationResult a = generate(ids, List.of(), seeded, new ArrayList<>());
    GenerationResult b = generate(ids, List.of(), seeded, new ArrayList<>());
    GenerationResult other =
        generate(ids, List.of(), seeded.toBuilder().seed(99).build(), new ArrayList<>());

    assertArrayEquals(tokenIds(a), tokenIds(b));
    assertEquals(a.text(), b.text());
    assertFalse(Arrays.equals(tokenIds(a), tokenIds(other)), "another seed draws other tokens");
  }

  @Test
  void oneDecodedImageAndTwoRandomImagesMatchTheManualLoop() throws Exception {
    int rows = model.config().imageSeqLength();
    PixelValues png = model.preprocess(pngBytes());
    int[] one = model.rawPrompt("USER: <image>\nWhat is this?\nASSISTANT:").ids();
    GenerationResult r1 = generate(one, List.of(png), SamplingParams.greedy(6), new ArrayList<>());
    assertEquals(one.length + rows - 1, r1.promptTokens());
    assertArrayEquals(
        manualGreedy(one, List.of(png), 6).upToEos(model.tokenizer().eosId()), tokenIds(r1));

    SplittableRandom rnd = new SplittableRandom(5);
    PixelValues a = randomPixels(rnd);
    PixelValues b = randomPixels(rnd);
    int[] two = model.rawPrompt("USER: <image> and <image>\nCompare them.\nASSISTANT:").ids();
    SamplingParams logprobs =
        SamplingParams.builder().temperature(0).maxTokens(6).logprobs(0).build();
    GenerationResult ab = generate(two, List.of(a, b), logprobs, new ArrayList<>());
    GenerationResult ba = generate(two, List.of(b, a), logprobs, new ArrayList<>());

    assertEquals(two.length + 2 * (rows - 1), ab.promptTokens());
    assertArrayEquals(
        manualGreedy(two, List.of(a, b), 6).upToEos(model.tokenizer().eosId()), tokenIds(ab));
    assertNotEquals(
        ab.tokens().get(0).logprob(),
        ba.tokens().get(0).logprob(),
        "image order reaches the model");
  }

  @Test
  void imagesSplitByThePrefillChunkGiveTheSameTokensAsOneChunk() {
    // An image at positions 500..515 straddles the 512-position prefill chunk boundary.
    int[] text = model.tokenizer().encode("lorem ipsum dolor sit amet ".repeat(200), false);
    int[] ids = new int[560];
    ids[0] = model.tokenizer().bosId();
    System.arraycopy(text, 0, ids, 1, 499);
    ids[500] = model.config().imageTokenIndex();
    System.arraycopy(text, 499, ids, 501, ids.length - 501);
    PixelValues px = randomPixels(new SplittableRandom(8));

    GenerationResult r = generate(ids, List.of(px), SamplingParams.greedy(5), new ArrayList<>());

    assertTrue(r.promptTokens() > Generator.PREFILL_CHUNK);
    assertArrayEquals(
        manualGreedy(ids, List.of(px), 5).upToEos(model.tokenizer().eosId()), tokenIds(r));
  }

  @Test
  void imageCountMismatchIsRejected() {
    PixelValues px = randomPixels(new SplittableRandom(1));
    int[] noImage = model.rawPrompt("USER: hi").ids();
    int[] oneImage = model.rawPrompt("USER: <image>\nhi").ids();
    int[] twoImages = model.rawPrompt("<image><image> hi").ids();
    SamplingParams p = SamplingParams.greedy(2);

    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> generate(noImage, List.of(px), p, null));
    assertTrue(e.getMessage().contains("0 image tokens"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> generate(oneImage, List.of(), p, null));
    assertThrows(IllegalArgumentException.class, () -> generate(twoImages, List.of(px), p, null));
  }

  @Test
  void promptLongerThanTheKvCacheIsRejectedNamingTheLimit() {
    KvCacheConfig kv = model.runner().kvCache();
    long limit = kv.capacityTokens() - 1;
    int[] ids = new int[(int) kv.capacityTokens() + 10];
    Arrays.fill(ids, model.tokenizer().tokenId("▁the").orElseThrow());
    ids[0] = model.tokenizer().bosId();

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> generate(ids, List.of(), SamplingParams.greedy(4), null));
    assertTrue(e.getMessage().contains(Long.toString(limit)), e.getMessage());
    assertTrue(e.getMessage().contains(Integer.toString(ids.length)), e.getMessage());
  }

  @Test
  void promptFillingTheCacheLeavesRoomForExactlyOneToken() {
    KvCacheConfig kv = model.runner().kvCache();
    int[] ids = new int[(int) kv.capacityTokens() - 1];
    Arrays.fill(ids, model.tokenizer().tokenId("▁the").orElseThrow());
    ids[0] = model.tokenizer().bosId();
    SamplingParams params =
        SamplingParams.builder().temperature(0).maxTokens(10).ignoreEos(true).build();

    GenerationResult r = generate(ids, List.of(), params, new ArrayList<>());

    assertEquals(FinishReason.LENGTH, r.finishReason());
    assertEquals(1, r.tokens().size());
  }

  @Test
  void logprobsAreTheLogSoftmaxOfTheModelLogits() {
    int[] ids = model.rawPrompt("USER: What is two plus two?\nASSISTANT:").ids();
    Manual manual = manualGreedy(ids, List.of(), 8);
    SamplingParams params =
        SamplingParams.builder().temperature(0).maxTokens(8).ignoreEos(true).logprobs(3).build();
    GenerationResult r = generate(ids, List.of(), params, new ArrayList<>());

    assertArrayEquals(manual.tokens(), tokenIds(r));
    for (int i = 0; i < r.tokens().size(); i++) {
      SampledToken t = r.tokens().get(i);
      float[] row = manual.rows().get(i);
      double logZ = logSumExp(row);
      assertTrue(t.logprob() <= 0, "logprob " + t.logprob());
      assertEquals(row[t.tokenId()] - logZ, t.logprob(), 1e-4, "step " + i);
      assertEquals(3, t.topLogprobs().size());
      // Greedy: the chosen token is the most likely one.
      assertEquals(t.tokenId(), t.topLogprobs().get(0).tokenId());
      for (var alt : t.topLogprobs()) {
        assertEquals(row[alt.tokenId()] - logZ, alt.logprob(), 1e-4, "alternative at step " + i);
      }
    }

    GenerationResult none = generate(ids, List.of(), SamplingParams.greedy(2), new ArrayList<>());
    assertFalse(none.tokens().get(0).hasLogprob(), "no logprobs unless asked for");
  }

  // --- helpers ---

  private static GenerationResult generate(
      int[] ids, List<PixelValues> images, SamplingParams params, List<String> pieces) {
    return generator.generate(ids, images, params, pieces == null ? s -> {} : pieces::add);
  }

  /** Greedy tokens and the logits row each was chosen from. */
  private record Manual(int[] tokens, List<float[]> rows) {
    /** The tokens through the first EOS, which is where the generator stops by default. */
    int[] upToEos(int eos) {
      for (int i = 0; i < tokens.length; i++) {
        if (tokens[i] == eos) {
          return Arrays.copyOf(tokens, i + 1);
        }
      }
      return tokens;
    }
  }

  /** Prefills the whole expanded prompt in one chunk, then decodes argmax tokens one at a time. */
  private static Manual manualGreedy(int[] ids, List<PixelValues> images, int n) {
    ModelRunner runner = model.runner();
    ExpandedPrompt prompt =
        ExpandedPrompt.expand(
            ids, model.config().imageTokenIndex(), model.config().imageSeqLength());
    List<ImageFeatures> features = runner.encodeImages(images);
    int[] table = new int[runner.kvCache().numBlocks()];
    Arrays.setAll(table, i -> i);
    StepOutput out =
        runner.execute(
            ScheduledBatch.withLogits(
                List.of(
                    new SequenceChunk(
                        prompt.tokens(),
                        0,
                        table,
                        prompt.placements(0, prompt.length(), features)))));
    int[] tokens = new int[n];
    List<float[]> rows = new ArrayList<>();
    int position = prompt.length();
    for (int i = 0; i < n; i++) {
      assertEquals(1, out.rowCount());
      float[] row = out.row(0);
      rows.add(row);
      tokens[i] = argmax(row);
      out =
          runner.execute(
              ScheduledBatch.withLogits(
                  List.of(SequenceChunk.text(new int[] {tokens[i]}, position++, table))));
    }
    return new Manual(tokens, rows);
  }

  private static int argmax(float[] row) {
    int best = 0;
    for (int i = 1; i < row.length; i++) {
      if (row[i] > row[best]) {
        best = i;
      }
    }
    return best;
  }

  private static double logSumExp(float[] row) {
    double max = Double.NEGATIVE_INFINITY;
    for (float v : row) {
      max = Math.max(max, v);
    }
    double sum = 0;
    for (float v : row) {
      sum += Math.exp(v - max);
    }
    return max + Math.log(sum);
  }

  private static int[] tokenIds(GenerationResult r) {
    return r.tokens().stream().mapToInt(SampledToken::tokenId).toArray();
  }

  /** A non-blank substring from the middle of {@code text} whose first occurrence is past 0. */
  private static String middleSubstring(String text) {
    for (int start = text.length() / 2; start > 0; start--) {
      for (int len = 3; len >= 1; len--) {
        if (start + len > text.length()) {
          continue;
        }
        String s = text.substring(start, start + len);
        if (!s.isBlank() && text.indexOf(s) > 0 && !Character.isSurrogate(s.charAt(0))) {
          return s;
        }
      }
    }
    throw new AssertionError("no usable stop string in " + text);
  }

  private static PixelValues randomPixels(SplittableRandom rnd) {
    int side = model.config().vision().imageSize();
    float[] data = new float[3 * side * side];
    for (int i = 0; i < data.length; i++) {
      data[i] = (float) (rnd.nextDouble() * 4 - 2);
    }
    return PixelValues.of(3, side, side, data);
  }

  private static byte[] pngBytes() throws Exception {
    BufferedImage img = new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < 30; y++) {
      for (int x = 0; x < 40; x++) {
        img.setRGB(x, y, new Color(x * 6, y * 8, 120).getRGB());
      }
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(img, "png", out);
    return out.toByteArray();
  }
}
