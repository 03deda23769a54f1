package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.engine.tokenizer.Tokenizer;
import io.llavaserve.engine.training.world.Turn;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * LLaVA's loss covers the assistant's answers only: each answer's tokens and its end-of-sequence
 * token are targets, the system prompt, the user turns, the image and the padding are not. Checked
 * through the three layers that carry the mask: the encoded sample's targets, the batch's loss
 * positions and labels, and the loss the graph computes from its logits.
 */
class AnswerOnlyLossTest {

  /** Three turns; "zebra" and "violet" lie outside the world vocabulary (its shared row). */
  private static final List<Turn> TURNS =
      List.of(
          new Turn("What color is the circle?", "The circle is red."),
          new Turn("How many shapes are there?", "There are three shapes."),
          new Turn("Is there a zebra?", "No, there is a violet zebra."));

  private final TrainingFixture fx = TrainingFixture.get();
  private final Tokenizer tokenizer = fx.encoder.tokenizer();

  @Test
  void theTargetsAreExactlyEachAnswerWithItsEndOfSequence() {
    EncodedSample e = fx.encoder.conversation(TURNS, true);
    List<int[]> runs = targetRuns(e);
    assertEquals(TURNS.size(), runs.size(), "one run of targets per assistant turn");
    for (int k = 0; k < runs.size(); k++) {
      int[] run = runs.get(k);
      assertEquals(tokenizer.eosId(), run[run.length - 1], "answer " + k + " ends with </s>");
      String answer = tokenizer.decode(Arrays.copyOf(run, run.length - 1), true).strip();
      assertEquals(TURNS.get(k).answer(), answer, "answer " + k);
    }
    // Every run starts right after the generation prompt, so no question token is a target.
    int[] ids = e.ids();
    for (int p = 1; p < ids.length; p++) {
      if (e.target()[p] && !e.target()[p - 1]) {
        String before = tokenizer.decode(Arrays.copyOf(ids, p), true);
        assertTrue(before.endsWith("ASSISTANT:"), "a target run starts after: " + before);
      }
    }
    for (int p = 0; p < ids.length; p++) {
      assertFalse(e.imageSlot()[p] >= 0 && e.target()[p], "image position " + p + " is a target");
    }
    assertEquals(fx.spec.config().imageSeqLength(), count(e.imageSlot()), "one image expanded");
  }

  @Test
  void theBatchPredictsEachTargetFromThePositionBeforeIt() {
    EncodedSample longer = fx.encoder.conversation(TURNS, true);
    EncodedSample shorter = fx.encoder.conversation(TURNS.subList(0, 1), true);
    TrainingBatch b = batch(longer, shorter);
    assertEquals(longer.length(), b.tokens());

    List<Integer> index = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    EncodedSample[] samples = {longer, shorter};
    for (int s = 0; s < 2; s++) {
      for (int p = 1; p < samples[s].length(); p++) {
        if (samples[s].target()[p]) {
          index.add(s * b.tokens() + p - 1);
          labels.add(fx.vocabulary.row(samples[s].ids()[p]));
        }
      }
    }
    assertArrayEquals(index.stream().mapToInt(i -> i).toArray(), b.lossIndex());
    assertArrayEquals(labels.stream().mapToInt(i -> i).toArray(), b.labels());
    assertEquals(longer.targets() + shorter.targets(), b.targets());
    // The out-of-world words of the last answer are labelled with the shared row.
    assertTrue(
        Arrays.stream(b.labels()).anyMatch(l -> l == fx.vocabulary.otherRow()),
        "some label is the shared row");
    // No position in the shorter sample's padding predicts anything.
    for (int i : b.lossIndex()) {
      assertTrue(i < b.tokens() || i - b.tokens() < shorter.length() - 1, "loss at padding " + i);
    }
  }

  @Test
  void theGraphLossIsTheMeanCrossEntropyAtTheAnswerPositionsOnly() {
    EncodedSample longer = fx.encoder.conversation(TURNS, true);
    EncodedSample shorter = fx.encoder.conversation(TURNS.subList(0, 2), true);
    TrainingBatch answers = batch(longer, shorter);
    // The same sequences with every real position in the loss: logits at every position.
    TrainingBatch everywhere = everyPosition(answers, longer, shorter);

    try (StageSession s = fx.session(Stage.INSTRUCT, fx.initialValues())) {
      fx.train(s, 2, 4);
      int width = fx.vocabulary.rows();
      float[] all = s.logits(everywhere); // [positions, V + 1]
      float[] atAnswers = s.logits(answers); // [M, V + 1]
      float graphLoss = s.step(answers, 0f, 10f, 20f).loss();

      double logCount = Math.log(fx.vocabulary.otherCount());
      double sum = 0;
      double sumWithoutCount = 0;
      double sumEverywhere = 0;
      for (int m = 0; m < answers.targets(); m++) {
        int at = indexOf(everywhere.lossIndex(), answers.lossIndex()[m]);
        float[] row = Arrays.copyOfRange(all, at * width, (at + 1) * width);
        float[] same = Arrays.copyOfRange(atAnswers, m * width, (m + 1) * width);
        assertTrue(
            TrainingFixture.maxAbsDiff(row, same) < 1e-5,
            "logits at answer position " + m + " do not depend on which positions are fetched");
        sum += crossEntropy(row, answers.labels()[m], logCount);
        sumWithoutCount += crossEntropy(row, answers.labels()[m], 0);
      }
      for (int m = 0; m < everywhere.targets(); m++) {
        float[] row = Arrays.copyOfRange(all, m * width, (m + 1) * width);
        sumEverywhere += crossEntropy(row, everywhere.labels()[m], logCount);
      }
      double expected = sum / answers.targets();
      double tolerance = 2e-5 * Math.abs(expected);
      assertEquals(expected, graphLoss, tolerance, "mean cross-entropy over the answers");
      // What the comparison can tell apart: the log-count term, and the unmasked mean.
      assertTrue(Math.abs(sumWithoutCount / answers.targets() - expected) > 100 * tolerance);
      assertTrue(Math.abs(sumEverywhere / everywhere.targets() - expected) > 100 * tolerance);
    }
  }

  /** -log softmax(z)[label], z the row with log(count) added to the shared (last) column. */
  private static double crossEntropy(float[] logits, int label, double logCount) {
    int last = logits.length - 1;
    double max = Double.NEGATIVE_INFINITY;
    double[] z = new double[logits.length];
    for (int j = 0; j < z.length; j++) {
      z[j] = logits[j] + (j == last ? logCount : 0);
      max = Math.max(max, z[j]);
    }
    double sum = 0;
    for (double v : z) {
      sum += Math.exp(v - max);
    }
    return max + Math.log(sum) - z[label];
  }

  private TrainingBatch batch(EncodedSample a, EncodedSample b) {
    int side = fx.spec.config().vision().imageSize();
    float[] pixels = new float[3 * side * side];
    for (int i = 0; i < pixels.length; i++) {
      pixels[i] = (float) Math.sin(i * 0.37);
    }
    return TrainingBatch.of(
        List.of(a, b),
        List.of(pixels, pixels.clone()),
        fx.vocabulary,
        fx.spec.config().imageSeqLength());
  }

  /** {@code b} with a loss on every position that has a next token, labelled with it. */
  private TrainingBatch everyPosition(TrainingBatch b, EncodedSample... samples) {
    List<Integer> index = new ArrayList<>();
    List<Integer> labels = new ArrayList<>();
    for (int s = 0; s < samples.length; s++) {
      for (int p = 0; p + 1 < samples[s].length(); p++) {
        index.add(s * b.tokens() + p);
        labels.add(fx.vocabulary.row(samples[s].ids()[p + 1]));
      }
    }
    return new TrainingBatch(
        b.batch(),
        b.tokens(),
        b.rows(),
        b.imageIndex(),
        b.imageMask(),
        b.pixels(),
        b.images(),
        index.stream().mapToInt(i -> i).toArray(),
        labels.stream().mapToInt(i -> i).toArray(),
        TrainingBatch.Grounding.NONE);
  }

  /** The maximal runs of target ids, in order. */
  private static List<int[]> targetRuns(EncodedSample e) {
    List<int[]> runs = new ArrayList<>();
    int start = -1;
    for (int p = 0; p <= e.length(); p++) {
      boolean t = p < e.length() && e.target()[p];
      if (t && start < 0) {
        start = p;
      } else if (!t && start >= 0) {
        runs.add(Arrays.copyOfRange(e.ids(), start, p));
        start = -1;
      }
    }
    return runs;
  }

  private static int count(int[] slots) {
    return (int) Arrays.stream(slots).filter(s -> s >= 0).count();
  }

  private static int indexOf(int[] xs, int x) {
    for (int i = 0; i < xs.length; i++) {
      if (xs[i] == x) {
        return i;
      }
    }
    throw new AssertionError(x + " not found");
  }
}
