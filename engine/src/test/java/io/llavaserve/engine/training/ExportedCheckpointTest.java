package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.runner.StepOutput;
import io.llavaserve.engine.training.world.Sample;
import io.llavaserve.engine.training.world.WorldDatasets;
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
 * Trained weights exported as a llava-hf checkpoint and served by the engine give the logits the
 * training graph computed: the world columns as trained, every id outside the world the shared
 * row's logit. That is the claim that lets the trainer compute over the world's rows only.
 */
class ExportedCheckpointTest {

  @TempDir Path dir;

  private final TrainingFixture fx = TrainingFixture.get();

  @Test
  void servingTheExportedCheckpointGivesTheTrainingGraphsLogitsAtEveryAnswerPosition()
      throws Exception {
    assertEquals(DType.F32, fx.spec.model().dtype(), "an exact comparison needs float32 weights");
    // Two conversations of different lengths, so the shorter one is padded in training.
    WorldDatasets world = new WorldDatasets(TrainingFixture.SEED + 1, TrainingFixture.SIZES);
    List<EncodedSample> samples = new ArrayList<>();
    List<float[]> pixels = new ArrayList<>();
    while (samples.size() < 2) {
      Sample s = world.instruction();
      EncodedSample e = fx.encoder.conversation(s.turns(), true);
      if (samples.isEmpty() || e.length() != samples.get(0).length()) {
        samples.add(e);
        pixels.add(fx.data.pixels(s));
      }
    }
    int positions = fx.spec.config().imageSeqLength();
    TrainingBatch batch = TrainingBatch.of(samples, pixels, fx.vocabulary, positions);
    int width = fx.vocabulary.rows();

    // A few steps of instruction tuning move the projector and the language model off their
    // initial values; the tower keeps its own.
    Map<String, float[]> params = new LinkedHashMap<>(fx.initialValues());
    float[] trained;
    try (StageSession s = fx.session(Stage.INSTRUCT, params)) {
      fx.train(s, 4, 4);
      params.putAll(s.parameters());
      trained = s.logits(batch); // [M, V + 1]
    }

    Path ckptDir = dir.resolve("export");
    Trainer.Options options =
        new Trainer.Options(
            dir,
            fx.spec,
            TrainingSpec.smokePlan(),
            TrainingFixture.SEED,
            TrainingFixture.SIZES,
            Duration.ofHours(1),
            1,
            0.01,
            1.0);
    new Trainer(options, new PrintStream(new ByteArrayOutputStream()))
        .export(ckptDir, params, fx.vocabulary);
    var pre =
        new com.fasterxml.jackson.databind.ObjectMapper()
            .readTree(ckptDir.resolve(Checkpoint.PREPROCESSOR_CONFIG).toFile());
    org.junit.jupiter.api.Assertions.assertEquals(
        "LlavaImageProcessor", pre.path("image_processor_type").asText(), "transformers pads");
    org.junit.jupiter.api.Assertions.assertTrue(pre.path("do_pad").asBoolean(false));

    int[] worldIds = fx.vocabulary.ids();
    int side = fx.spec.config().vision().imageSize();
    double worstWorld = 0;
    double worstOther = 0;
    double largest = 0;
    int compared = 0;
    try (Checkpoint ckpt = Checkpoint.open(ckptDir);
        TfModelRunner runner = TrainingFixture.exactRunner(ckpt, 64)) {
      int vocab = ckpt.config().text().vocabSize();
      assertEquals(fx.vocabulary.vocabSize(), vocab);
      for (int s = 0; s < samples.size(); s++) {
        EncodedSample e = samples.get(s);
        StepOutput out =
            TrainingFixture.serve(
                runner,
                ckpt.config().imageTokenIndex(),
                e,
                PixelValues.of(3, side, side, pixels.get(s)),
                positions);
        for (int m = 0; m < batch.targets(); m++) {
          int flat = batch.lossIndex()[m];
          if (flat / batch.tokens() != s) {
            continue;
          }
          float[] served = out.row(flat % batch.tokens());
          float[] row = Arrays.copyOfRange(trained, m * width, (m + 1) * width);
          float other = row[width - 1];
          boolean[] inWorld = new boolean[vocab];
          for (int r = 0; r < worldIds.length; r++) {
            inWorld[worldIds[r]] = true;
            worstWorld = Math.max(worstWorld, Math.abs(served[worldIds[r]] - row[r]));
            largest = Math.max(largest, Math.abs(row[r]));
          }
          for (int id = 0; id < vocab; id++) {
            if (!inWorld[id]) {
              worstOther = Math.max(worstOther, Math.abs(served[id] - other));
            }
          }
          compared++;
        }
      }
    }
    assertEquals(batch.targets(), compared, "every answer position compared");
    assertTrue(largest > 1, "logits should be of order 1 to 10, largest " + largest);
    assertTrue(worstWorld <= 1e-4, "world logits differ by up to " + worstWorld);
    assertTrue(
        worstOther <= 1e-4, "out-of-world logits differ from the shared row's by " + worstOther);
  }
}
