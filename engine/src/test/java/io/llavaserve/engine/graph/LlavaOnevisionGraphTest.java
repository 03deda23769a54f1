package io.llavaserve.engine.graph;

import static io.llavaserve.engine.graph.TfModelRunnerTest.assertClose;
import static io.llavaserve.engine.graph.TfModelRunnerTest.blocks;
import static io.llavaserve.engine.graph.TfModelRunnerTest.std;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.checkpoint.WeightNaming;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.image.ImagePreprocessor;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.image.PreprocessConfig;
import io.llavaserve.engine.image.RgbImage;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The llava_onevision vision run (every tile of every image in one batch, then one packing gather,
 * weighted where {@code anyres_max_9} reduces a map) against {@link ReferenceLlavaOnevision} within
 * 1e-4 on the tiny preset (60 px tiles of 4 x 4 features, OneVision's 36 pinpoints): images whose
 * maps are reduced (square, wide, tall, after un-padding either axis), images within the limit, and
 * images run as one tile (each of several in a prompt), all in one run.
 */
class LlavaOnevisionGraphTest {

  /**
   * (height, width, images in its prompt): 360 x 360 (6 x 6 tiles, 24 x 24 reduced to 12 x 12), 240
   * x 300 (16 x 20 to 10 x 13), 200 x 290 (un-padded to 14 x 20, then 10 x 14), 300 x 250 (20 x 16
   * to 13 x 10), 130 x 330 (10 x 24 to 7 x 18), 45 x 70 and 17 x 400 (kept), 7 x 3 (scaled up), and
   * two images of a two-image prompt (one tile each).
   */
  private static final int[][] IMAGES = {
    {360, 360, 1},
    {240, 300, 1},
    {200, 290, 1},
    {300, 250, 1},
    {130, 330, 1},
    {45, 70, 1},
    {17, 400, 1},
    {7, 3, 1},
    {300, 200, 2},
    {33, 90, 2}
  };

  @TempDir Path dir;

  static Stream<Arguments> variants() {
    return Stream.of(
        Arguments.of("siglip-qwen2", TinySpec.onevision()),
        Arguments.of(
            "model.image_newline", TinySpec.onevision().withNaming(WeightNaming.NEW_TRANSFORMERS)),
        Arguments.of("no-projector-bias", TinySpec.onevision().withProjectorBias(false)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("variants")
  void everyImagesPackedFeaturesMatchTheReference(String name, TinySpec spec) throws Exception {
    TinyCheckpoint.write(dir, spec);
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      LlavaConfig cfg = ckpt.config();
      assertEquals("llava_onevision", cfg.modelType());
      List<PixelValues> images = new ArrayList<>();
      SplittableRandom rnd = new SplittableRandom(11);
      int reduced = 0;
      for (int[] size : IMAGES) {
        PixelValues img = preprocess(cfg, randomImage(rnd, size[0], size[1]), size[2]);
        images.add(img);
        if (img.tiles() > 1
            && cfg.anyResolution().layout(img.imageHeight(), img.imageWidth()).reduced()) {
          reduced++;
        }
      }
      assertEquals(5, reduced, "images whose map is reduced");

      List<ImageFeatures> features = runner.encodeImages(images); // one vision run

      ReferenceLlavaOnevision ref = new ReferenceLlavaOnevision(ckpt);
      for (int i = 0; i < images.size(); i++) {
        PixelValues img = images.get(i);
        String what =
            name + " image " + img.imageHeight() + " x " + img.imageWidth() + ", " + img.tiles();
        assertEquals(
            cfg.imagePositions(img.tiles(), img.imageHeight(), img.imageWidth()),
            features.get(i).rows(),
            what);
        assertClose(ref.imageFeatures(img), features.get(i).data(), 1e-4, what);
      }
      assertEquals(16 + 12 * 12 + 12, features.get(0).rows(), "360 x 360 reduced to 12 x 12");
      assertEquals(17, features.get(8).rows(), "one tile and a newline");
    }
  }

  @Test
  void aRunWithoutReducedMapsGathersAsTheWeightedPathDoes() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.onevision());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      LlavaConfig cfg = ckpt.config();
      SplittableRandom rnd = new SplittableRandom(3);
      List<PixelValues> images =
          List.of(
              preprocess(cfg, randomImage(rnd, 45, 70), 1),
              preprocess(cfg, randomImage(rnd, 90, 30), 2));
      TilePacking plan = TilePacking.plan(images, cfg.anyResolution());
      assertEquals(1, plan.taps(), "nothing to reduce: a plain gather");
      List<ImageFeatures> plain = runner.encode(images, plan);
      List<ImageFeatures> weighted = runner.encode(images, plan.widened());
      for (int i = 0; i < images.size(); i++) {
        assertArrayEquals(plain.get(i).data(), weighted.get(i).data(), "image " + i);
      }
    }
  }

  @Test
  void logitsOfAPromptWithAReducedImageMatchTheReference() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.onevision());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 128))) {
      LlavaConfig cfg = ckpt.config();
      SplittableRandom rnd = new SplittableRandom(5);
      PixelValues image = preprocess(cfg, randomImage(rnd, 240, 300), 1);
      assertTrue(cfg.anyResolution().layout(240, 300).reduced());
      int[] ids = TfModelRunnerTest.promptIds(cfg, rnd, 9, 1);
      int rows = cfg.imagePositions(image.tiles(), 240, 300);
      ExpandedPrompt prompt = ExpandedPrompt.expand(ids, cfg.imageTokenIndex(), new int[] {rows});
      List<ImageFeatures> features = runner.encodeImages(List.of(image));
      int n = prompt.length();
      assertEquals(9 + 16 + 10 * 13 + 10, n);

      SequenceChunk chunk =
          new SequenceChunk(prompt.tokens(), 0, blocks(0, n, 4), prompt.placements(0, n, features));
      StepOutput out = runner.execute(new ScheduledBatch(List.of(chunk), true));

      float[] refImage = new ReferenceLlavaOnevision(ckpt).imageFeatures(image);
      float[][] expected = new ReferenceLlava(ckpt).logitsOfFeatures(ids, List.of(refImage));
      assertEquals(n, out.rowCount());
      double spread = 0;
      for (int t = 0; t < n; t++) {
        assertClose(expected[t], out.row(t), 1e-4, "logits at position " + t);
        spread = Math.max(spread, std(expected[t]));
      }
      assertTrue(spread > 0.1, "logits should not be degenerate, std " + spread);
    }
  }

  static PixelValues preprocess(LlavaConfig cfg, RgbImage image, int imagesInPrompt) {
    int side = cfg.vision().imageSize();
    return new ImagePreprocessor(
            PreprocessConfig.onevisionDefaults(side, cfg.anyResolution().pinpoints()))
        .preprocess(image, imagesInPrompt);
  }

  static RgbImage randomImage(SplittableRandom rnd, int height, int width) {
    return LlavaNextGraphTest.randomImage(rnd, height, width);
  }
}
