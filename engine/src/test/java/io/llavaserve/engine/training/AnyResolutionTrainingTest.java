package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.WeightShapes;
import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.ImagePreprocessor;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.image.PreprocessConfig;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.training.world.Sample;
import io.llavaserve.engine.training.world.SceneRenderer;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.WorldDatasets;
import io.llavaserve.engine.training.world.WorldMix;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training LLaVA-NeXT's layout (a base tile, the un-padded grid of tiles, an {@code image_newline}
 * row after each grid row): the positions an image gets and the feature each takes are the
 * server's, so an exported llava_next checkpoint served by the engine gives the training graph's
 * logits; the newline row learns with the projector while the tower stays frozen.
 */
class AnyResolutionTrainingTest {

  /** Sides of 64 to 400 px: from squares to more than 6:1 either way. */
  private static final SizeRange SIZES = new SizeRange(64, 400);

  /** 32 px tiles of the smoke tower: one, two and three across or down, and two by two. */
  private static final List<AnyResolution.Resolution> PINPOINTS =
      List.of(
          new AnyResolution.Resolution(32, 32),
          new AnyResolution.Resolution(32, 64),
          new AnyResolution.Resolution(64, 32),
          new AnyResolution.Resolution(32, 96),
          new AnyResolution.Resolution(96, 32),
          new AnyResolution.Resolution(64, 64));

  @TempDir Path dir;

  private final TrainingFixture fx = TrainingFixture.get();
  private final TrainingSpec spec = fx.spec.withImageGridPinpoints(PINPOINTS);
  private final AnyResolution anyres = spec.config().anyResolution();
  private final BatchSource data =
      new BatchSource(TrainingFixture.SEED, SIZES, fx.encoder, fx.vocabulary, spec);

  @Test
  void eachImageFillsTheServersPositionsAndTheNewlineEndsEachGridRow() {
    TrainingBatch b = data.batch(Stage.INSTRUCT, 0, 6);
    int kept = anyres.featuresPerTile();
    int newline = b.images() * kept;
    int tiles = 0;
    int wide = 0;
    WorldDatasets world = data.data(Stage.INSTRUCT, 0);
    for (int s = 0; s < b.batch(); s++) {
      Sample sample = world.instruction();
      int h = sample.scene().height();
      int w = sample.scene().width();
      AnyResolution.FeatureLayout l = anyres.layout(h, w);
      wide += l.gridTiles() > 1 ? 1 : 0;
      int[] index = imageRows(b, s);
      assertEquals(anyres.positions(h, w), index.length, "positions of a " + h + " x " + w);
      // The base tile's features in order, then each grid row and its newline.
      for (int r = 0; r < kept; r++) {
        assertEquals((tiles) * kept + r, index[r], "base tile row " + r);
      }
      int at = kept;
      for (int y = 0; y < l.rows(); y++) {
        for (int x = 0; x < l.cols(); x++, at++) {
          assertTrue(index[at] != newline && index[at] >= (tiles + 1) * kept, "grid feature");
        }
        assertEquals(newline, index[at++], "a newline ends grid row " + y);
      }
      tiles += 1 + l.gridTiles();
    }
    assertEquals(tiles, b.images(), "every image's base and grid tiles run");
    assertEquals(tiles * 3 * 32 * 32, b.pixels().length);
    assertTrue(wide > 0, "some image is tiled in more than one grid tile");
  }

  @Test
  void tilesOfTheSmallerDrawingAreThoseOfTheFullSizeOne() {
    WorldDatasets world = new WorldDatasets(5, new SizeRange(300, 1024));
    ImagePreprocessor full =
        new ImagePreprocessor(PreprocessConfig.llavaNextDefaults(32, anyres.pinpoints()));
    double worst = 0;
    for (int i = 0; i < 12; i++) {
      Sample s = world.caption();
      PixelValues small = data.tiles(s);
      PixelValues big = full.preprocess(SceneRenderer.render(s.scene()));
      assertEquals(big.tiles(), small.tiles(), "the same pinpoint");
      assertEquals(s.scene().height(), small.imageHeight(), "the scene's own size is recorded");
      assertEquals(s.scene().width(), small.imageWidth());
      double sum = 0;
      for (int k = 0; k < big.data().length; k++) {
        sum += Math.abs(big.data()[k] - small.data()[k]);
      }
      worst = Math.max(worst, sum / big.data().length);
    }
    // One 8-bit level is 1 / (255 * std), about 0.015 after CLIP's normalisation.
    assertTrue(worst < 0.015, "mean difference per value " + worst);
  }

  @Test
  void servingTheExportedLlavaNextCheckpointGivesTheTrainingGraphsLogits() throws Exception {
    assertEquals(DType.F32, spec.model().dtype(), "an exact comparison needs float32 weights");
    Map<String, float[]> before =
        Initializer.values(spec.shapes(fx.vocabulary), spec.config().text().numHiddenLayers(), 3);
    Map<String, float[]> params = new LinkedHashMap<>(before);
    TrainingBatch batch;
    float[] trained;
    try (StageSession s = new StageSession(Stage.INSTRUCT, spec, fx.vocabulary, 0.01, 1.0, 1)) {
      s.load(TrainingFixture.readBy(Stage.INSTRUCT, before), Map.of());
      for (int step = 0; step < 4; step++) {
        s.step(
            data.batch(Stage.INSTRUCT, step, 4),
            3e-3f,
            TrainingFixture.corrections(AdamW.BETA1, step),
            TrainingFixture.corrections(AdamW.BETA2, step));
      }
      params.putAll(s.parameters());
      batch = data.batch(Stage.INSTRUCT, 9, 3);
      trained = s.logits(batch);
    }
    assertFalse(
        Arrays.equals(
            before.get(WeightShapes.IMAGE_NEWLINE), params.get(WeightShapes.IMAGE_NEWLINE)),
        "the newline row learns in instruction tuning");
    for (String name : before.keySet()) {
      if (name.startsWith(WeightShapes.VISION)) {
        assertArrayEquals(before.get(name), params.get(name), name + " stays frozen");
      }
    }

    Path ckptDir = dir.resolve("export");
    new Trainer(
            new Trainer.Options(
                dir,
                spec,
                TrainingSpec.smokePlan(),
                TrainingFixture.SEED,
                SIZES,
                Duration.ofHours(1),
                1,
                0.01,
                1.0),
            new PrintStream(new ByteArrayOutputStream()))
        .export(ckptDir, params, fx.vocabulary);
    var pre =
        new com.fasterxml.jackson.databind.ObjectMapper()
            .readTree(ckptDir.resolve(Checkpoint.PREPROCESSOR_CONFIG).toFile());
    assertEquals("LlavaNextImageProcessor", pre.path("image_processor_type").asText());

    WorldDatasets world = data.data(Stage.INSTRUCT, 9);
    int width = fx.vocabulary.rows();
    int[] worldIds = fx.vocabulary.ids();
    double worst = 0;
    double largest = 0;
    int compared = 0;
    try (Checkpoint ckpt = Checkpoint.open(ckptDir);
        TfModelRunner runner = TrainingFixture.exactRunner(ckpt, 128)) {
      assertEquals("llava_next", ckpt.config().modelType());
      for (int s = 0; s < batch.batch(); s++) {
        Sample sample = world.instruction();
        PixelValues tiles = data.tiles(sample);
        int positions = anyres.positions(sample.scene().height(), sample.scene().width());
        EncodedSample e = fx.encoder.conversation(sample.turns(), positions);
        StepOutput out =
            TrainingFixture.serve(runner, ckpt.config().imageTokenIndex(), e, tiles, positions);
        for (int m = 0; m < batch.targets(); m++) {
          int flat = batch.lossIndex()[m];
          if (flat / batch.tokens() != s) {
            continue;
          }
          float[] served = out.row(flat % batch.tokens());
          for (int r = 0; r < worldIds.length; r++) {
            worst = Math.max(worst, Math.abs(served[worldIds[r]] - trained[m * width + r]));
            largest = Math.max(largest, Math.abs(trained[m * width + r]));
          }
          compared++;
        }
      }
    }
    assertEquals(batch.targets(), compared, "every answer position compared");
    assertTrue(largest > 1, "logits should be of order 1 to 10, largest " + largest);
    assertTrue(worst <= 1e-4, "world logits differ by up to " + worst);
  }

  @Test
  void aLlavaCheckpointStartsANextRunWithAFreshNewlineRow() throws Exception {
    Path llava = dir.resolve("llava");
    TrainingSpec plain = fx.spec;
    new Trainer(
            new Trainer.Options(
                dir,
                plain,
                TrainingSpec.smokePlan(),
                TrainingFixture.SEED,
                TrainingFixture.SIZES,
                Duration.ofHours(1),
                1,
                0.01,
                1.0),
            new PrintStream(new ByteArrayOutputStream()))
        .export(llava, fx.initialValues(), fx.vocabulary);
    Map<String, long[]> shapes = spec.shapes(fx.vocabulary);
    assertTrue(shapes.containsKey(WeightShapes.IMAGE_NEWLINE));
    Map<String, float[]> read =
        PretrainedModel.load(llava, shapes, fx.vocabulary, spec.config().text().hiddenSize());
    assertFalse(read.containsKey(WeightShapes.IMAGE_NEWLINE), "left to the initialiser");
    assertTrue(read.containsKey(WeightShapes.PROJECTOR + "linear_1.weight"));
  }

  @Test
  void theGroundingLossIsRefusedWithTiles() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                new BatchSource(
                    TrainingFixture.SEED,
                    SIZES,
                    fx.encoder,
                    fx.vocabulary,
                    spec,
                    WorldMix.PLAIN,
                    true));
    assertTrue(e.getMessage().contains("image_grid_pinpoints"), e.getMessage());
  }

  /** The feature rows sample {@code s}'s image positions take, in order. */
  private static int[] imageRows(TrainingBatch b, int s) {
    List<Integer> rows = new ArrayList<>();
    for (int p = 0; p < b.tokens(); p++) {
      if (b.imageMask()[s * b.tokens() + p] > 0) {
        rows.add(b.imageIndex()[s * b.tokens() + p]);
      }
    }
    return rows.stream().mapToInt(Integer::intValue).toArray();
  }
}
