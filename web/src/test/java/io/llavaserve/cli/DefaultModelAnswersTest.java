package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.EmbeddedModel;
import io.llavaserve.engine.training.world.QuestionType;
import io.llavaserve.engine.training.world.Sample;
import io.llavaserve.engine.training.world.SampleKind;
import io.llavaserve.engine.training.world.Scene;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.WorldDatasets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The model that ships in the jar, asked held-out questions of every type about images it never
 * saw, through the batching engine with the server's template and preprocessing.
 *
 * <p>The same questions are also asked about the wrong images (each question paired with the next
 * question's scene): what the model gets right beyond that is what it reads from the image.
 */
class DefaultModelAnswersTest {

  /** Questions per type: 6 types x 12 = 72 questions. */
  private static final int PER_TYPE = 12;

  /** A seed no training run uses (training's evaluation default is 777). */
  private static final long SEED = 4242;

  @TempDir static Path cache;

  private static List<Sample> samples;
  private static EvalScores right;
  private static EvalScores shuffled;

  @BeforeAll
  static void askEveryQuestionTwice() throws Exception {
    Path dir = EmbeddedModel.ensure(cache);
    samples =
        WorldDatasets.evaluationSet(SEED, PER_TYPE, new SizeRange(64, 1024)).stream()
            .filter(s -> s.kind() == SampleKind.VQA)
            .toList();
    List<EvalRunner.Question> questions = new ArrayList<>();
    for (int i = 0; i < samples.size(); i++) {
      questions.add(question(samples.get(i).scene(), samples.get(i)));
    }
    for (int i = 0; i < samples.size(); i++) {
      Scene other = samples.get((i + 1) % samples.size()).scene();
      questions.add(question(other, samples.get(i)));
    }
    EvalRunner.Run run;
    try (LlavaModel model = LlavaModel.load(dir, ModelOptions.defaults());
        LlavaEngine engine = LlavaEngine.start(model, EngineConfig.defaults())) {
      run = new EvalRunner(model, engine).ask(questions, 64, 2);
    }
    assertEquals(0, run.failed(), () -> "a request failed: " + run.firstError());
    right = new EvalScores();
    shuffled = new EvalScores();
    for (int i = 0; i < samples.size(); i++) {
      Sample s = samples.get(i);
      String question = s.turns().get(0).question();
      String expected = s.turns().get(0).answer();
      right.vqa(s.type(), question, expected, run.answers().get(i).text());
      shuffled.vqa(s.type(), question, expected, run.answers().get(samples.size() + i).text());
    }
    System.out.print(
        EvalScores.table(List.of("right image", "wrong image"), List.of(right, shuffled)));
  }

  private static EvalRunner.Question question(Scene scene, Sample sample) {
    return new EvalRunner.Question(scene, sample.turns().get(0).question(), 16);
  }

  @Test
  void everyQuestionTypeIsAskedAndAnsweredInTheShortAnswerFormat() {
    for (QuestionType type : QuestionType.values()) {
      assertEquals(PER_TYPE, right.questions(type), type.toString());
    }
    long oneLine =
        right.wrong().stream().filter(w -> !w.got().isBlank() && !w.got().contains("\n")).count();
    assertEquals(right.wrong().size(), oneLine, () -> "answers of one line: " + right.wrong());
  }

  @Test
  void theAnswersFollowTheImage() {
    String table =
        EvalScores.table(List.of("right image", "wrong image"), List.of(right, shuffled));
    assertTrue(
        right.exactMatch() >= MIN_EXACT_MATCH,
        () -> "exact match " + right.exactMatch() + "% < " + MIN_EXACT_MATCH + "%\n" + table);
    assertTrue(
        right.exactMatch() - shuffled.exactMatch() >= MIN_GAIN_OVER_WRONG_IMAGE,
        () ->
            "the right image helps by less than "
                + MIN_GAIN_OVER_WRONG_IMAGE
                + " points\n"
                + table);
  }

  /**
   * The shipped model scores 95.8% on this set (72 questions; greedy, so the same every run), and
   * 31.9% when each question is asked about the wrong image. The floor is the recipe's goal, 90%;
   * the gain's under the measured 63.9 points.
   */
  private static final double MIN_EXACT_MATCH = 90;

  private static final double MIN_GAIN_OVER_WRONG_IMAGE = 54;
}
