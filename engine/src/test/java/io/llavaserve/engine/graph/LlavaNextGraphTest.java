package io.llavaserve.engine.graph;

import static io.llavaserve.engine.graph.TfModelRunnerTest.assertClose;
import static io.llavaserve.engine.graph.TfModelRunnerTest.blocks;
import static io.llavaserve.engine.graph.TfModelRunnerTest.std;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.checkpoint.WeightNaming;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.VisionFamily;
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
 * The llava_next vision run (every tile in one batch, the packing gather) against {@link
 * ReferenceLlavaNext}, within 1e-4 on the tiny checkpoint: images whose sizes give every grid of
 * the pinpoints, padding on either axis, and an image so wide that un-padding keeps no grid row.
 */
class LlavaNextGraphTest {

  /**
   * (height, width): grids of 1 x 2, 2 x 1, 1 x 2 (a square, padded), 1 x 3 with no grid row left
   * after un-padding, 2 x 2, and a 7 x 3 image scaled up.
   */
  private static final int[][] SIZES = {
    {30, 40}, {90, 30}, {56, 56}, {17, 400}, {150, 100}, {7, 3}
  };

  @TempDir Path dir;

  static Stream<Arguments> variants() {
    return Stream.of(
        Arguments.of("clip-llama", TinySpec.next()),
        Arguments.of(
            "model.image_newline", TinySpec.next().withNaming(WeightNaming.NEW_TRANSFORMERS)),
        Arguments.of("siglip-full", TinySpec.next().withVisionFamily(VisionFamily.SIGLIP)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("variants")
  void everyImagesPackedFeaturesMatchTheReference(String name, TinySpec spec) throws Exception {
    TinyCheckpoint.write(dir, spec);
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      LlavaConfig cfg = ckpt.config();
      List<PixelValues> images = new ArrayList<>();
      SplittableRandom rnd = new SplittableRandom(11);
      for (int[] size : SIZES) {
        images.add(preprocess(cfg, randomImage(rnd, size[0], size[1])));
      }

      List<ImageFeatures> features = runner.encodeImages(images); // one vision run

      ReferenceLlavaNext ref = new ReferenceLlavaNext(ckpt);
      for (int i = 0; i < images.size(); i++) {
        PixelValues img = images.get(i);
        String what = name + " image " + img.imageHeight() + " x " + img.imageWidth();
        assertEquals(
            cfg.imagePositions(img.imageHeight(), img.imageWidth()), features.get(i).rows(), what);
        assertClose(ref.imageFeatures(img), features.get(i).data(), 1e-4, what);
      }
      assertEquals(cfg.imageSeqLength(), features.get(3).rows(), "17 x 400 keeps no grid row");
    }
  }

  @Test
  void logitsOfAPromptWithImagesOfThreeSizesMatchTheReference() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.next());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 128))) {
      LlavaConfig cfg = ckpt.config();
      SplittableRandom rnd = new SplittableRandom(5);
      List<PixelValues> images =
          List.of(
              preprocess(cfg, randomImage(rnd, 30, 40)),
              preprocess(cfg, randomImage(rnd, 90, 30)),
              preprocess(cfg, randomImage(rnd, 100, 150)));
      int[] ids = TfModelRunnerTest.promptIds(cfg, rnd, 9, 3);
      int[] rows = new int[images.size()];
      for (int i = 0; i < rows.length; i++) {
        rows[i] = cfg.imagePositions(images.get(i).imageHeight(), images.get(i).imageWidth());
      }
      ExpandedPrompt prompt = ExpandedPrompt.expand(ids, cfg.imageTokenIndex(), rows);
      List<ImageFeatures> features = runner.encodeImages(images);
      int n = prompt.length();
      assertEquals(9 + rows[0] + rows[1] + rows[2], n);

      SequenceChunk chunk =
          new SequenceChunk(prompt.tokens(), 0, blocks(0, n, 4), prompt.placements(0, n, features));
      StepOutput out = runner.execute(new ScheduledBatch(List.of(chunk), true));

      ReferenceLlavaNext next = new ReferenceLlavaNext(ckpt);
      List<float[]> refRows = new ArrayList<>();
      for (PixelValues img : images) {
        refRows.add(next.imageFeatures(img));
      }
      float[][] expected = new ReferenceLlava(ckpt).logitsOfFeatures(ids, refRows);
      assertEquals(n, out.rowCount());
      double spread = 0;
      for (int t = 0; t < n; t++) {
        assertClose(expected[t], out.row(t), 1e-4, "logits at position " + t);
        spread = Math.max(spread, std(expected[t]));
      }
      assertTrue(spread > 0.1, "logits should not be degenerate, std " + spread);
    }
  }

  @Test
  void tilesThatDisagreeWithTheImageSizeAreRefusedNamingBoth() throws Exception {
    TinyCheckpoint.write(dir, TinySpec.next());
    try (Checkpoint ckpt = Checkpoint.open(dir);
        TfModelRunner runner = TfModelRunner.load(ckpt, new KvCacheConfig(4, 64))) {
      int side = 56;
      float[] five = new float[5 * 3 * side * side];
      // 30 x 40 fits 56 x 112 best: the base tile and 1 x 2, three tiles, not five.
      PixelValues wrong = PixelValues.tiled(5, 3, side, side, 30, 40, five);
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> runner.encodeImages(List.of(wrong)));
      assertTrue(
          e.getMessage().contains("30 x 40 has 5 tiles") && e.getMessage().contains("gives 3"),
          e.getMessage());
      PixelValues oneTile = PixelValues.of(3, side, side, new float[3 * side * side]);
      e = assertThrows(IllegalArgumentException.class, () -> runner.encodeImages(List.of(oneTile)));
      assertTrue(e.getMessage().contains("image size"), e.getMessage());
    }
  }

  static PixelValues preprocess(LlavaConfig cfg, RgbImage image) {
    int side = cfg.vision().imageSize();
    return new ImagePreprocessor(
            PreprocessConfig.llavaNextDefaults(side, cfg.anyResolution().pinpoints()))
        .preprocess(image);
  }

  static RgbImage randomImage(SplittableRandom rnd, int height, int width) {
    byte[] rgb = new byte[height * width * 3];
    for (int i = 0; i < rgb.length; i++) {
      rgb[i] = (byte) rnd.nextInt(256);
    }
    return new RgbImage(width, height, rgb);
  }
}
