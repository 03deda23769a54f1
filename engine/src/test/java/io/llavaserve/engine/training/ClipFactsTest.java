package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.prompt.ChatTemplate;
import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import io.llavaserve.engine.training.world.Facts;
import io.llavaserve.engine.training.world.WorldMix;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The CLIP stage's fact objective: every fact fits the text encoder's window and the vocabulary,
 * the batch judges every image against every fact, and the pairwise sigmoid loss can be driven down
 * on a fixed batch (its gradients reach the tower and the text encoder).
 */
class ClipFactsTest {

  private final TrainingSpec spec = TrainingSpec.smoke().withFacts();
  private final SampleEncoder encoder =
      new SampleEncoder(
          LlamaTokenizer.bundledLlama(),
          ChatTemplate.vicunaV1(),
          spec.config().imageTokenIndex(),
          spec.config().imageSeqLength());
  private final WorldVocabulary vocabulary =
      BatchSource.vocabulary(
          encoder,
          TrainingFixture.SEED,
          TrainingFixture.SIZES,
          50,
          spec.config().text().vocabSize(),
          true,
          WorldMix.PLAIN);

  @Test
  void everyFactFitsTheWindowAndTheVocabulary() {
    for (Facts.Fact f : Facts.every()) {
      int[] ids = encoder.caption(f.text());
      assertTrue(
          ids.length <= TrainingSpec.standard().clipText().maxTokens(),
          () -> f.text() + " is " + ids.length + " tokens");
      for (int id : ids) {
        assertTrue(
            vocabulary.contains(id), () -> f.text() + ": token " + id + " not in vocabulary");
      }
    }
  }

  @Test
  void aBatchJudgesEveryImageAgainstEveryFact() {
    BatchSource data =
        new BatchSource(TrainingFixture.SEED, TrainingFixture.SIZES, encoder, vocabulary, spec);
    BatchSource.ClipBatch b = data.clipBatch(0, 8);
    assertEquals(8, b.images());
    assertEquals(b.images() * b.captions(), b.targets().length);
    assertEquals(b.targets().length, b.weights().length);
    int positives = 0;
    for (int i = 0; i < b.targets().length; i++) {
      positives += b.targets()[i] == 1f ? 1 : 0;
      assertTrue(b.weights()[i] == 1f || b.targets()[i] == 0f, "an undecided pair is not a target");
    }
    // each image has at least its own shapes, count and colour count true, and there are misses
    assertTrue(positives >= 3 * b.images(), "positives " + positives);
    assertTrue(positives < b.targets().length / 2, "positives " + positives);
  }

  @Test
  void theSigmoidLossFitsAFixedBatch() {
    BatchSource data =
        new BatchSource(TrainingFixture.SEED, TrainingFixture.SIZES, encoder, vocabulary, spec);
    BatchSource.ClipBatch b = data.clipBatch(3, 8);
    Map<String, float[]> values =
        Initializer.values(spec.shapes(vocabulary), spec.config().text().numHiddenLayers(), 5);
    try (StageSession s = new StageSession(Stage.CLIP, spec, vocabulary, 0.0, 1.0, 1)) {
      s.load(TrainingFixture.readBy(Stage.CLIP, values), Map.of());
      StageSession.StepResult[] run =
          TrainingFixture.fit(150, (c1, c2) -> s.clipStep(b, 3e-3f, c1, c2));
      StageSession.StepResult first = run[0];
      StageSession.StepResult last = run[1];
      assertTrue(last.loss() < 0.5 * first.loss(), "loss " + first.loss() + " -> " + last.loss());
      assertTrue(last.accuracy() > 0.9, "balanced accuracy " + last.accuracy());
    }
  }
}
