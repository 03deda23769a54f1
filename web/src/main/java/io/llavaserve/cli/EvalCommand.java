package io.llavaserve.cli;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.training.world.Sample;
import io.llavaserve.engine.training.world.SampleKind;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.WorldDatasets;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Scores a checkpoint on the held-out shapes-world questions: exact match per question type and
 * overall, as LLaVA-1.5 scores short-answer VQA, optionally beside a second checkpoint (stage 1
 * against the final one is LLaVA's ablation of instruction tuning).
 */
@Command(
    name = "eval",
    description =
        "Score a checkpoint on held-out shapes-world questions (exact match per question type).")
final class EvalCommand implements Callable<Integer> {

  /** Answer budget of a one-word answer; generous, so a rambling answer is scored, not cut. */
  static final int SHORT_ANSWER_TOKENS = 64;

  /** A four-shape description is about 70 tokens. */
  static final int DESCRIPTION_TOKENS = 192;

  static final int WRONG_SHOWN = 8;

  @Mixin ModelOption model;

  @Option(
      names = "--compare",
      paramLabel = "DIR",
      description = "A second checkpoint scored on the same questions, in its own column.")
  Path compare;

  @Option(
      names = "--per-type",
      paramLabel = "N",
      defaultValue = "50",
      description = "Questions per question type (default: ${DEFAULT-VALUE}).")
  int perType;

  @Option(
      names = "--seed",
      defaultValue = "777",
      description = "Seed of the held-out set, apart from training's (default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--sides",
      paramLabel = "MIN-MAX",
      defaultValue = "64-1024",
      description =
          "Range each image side is drawn from, in pixels (width and height independently;"
              + " e.g. 256-256 for squares only) (default: ${DEFAULT-VALUE}).")
  String sides;

  @Option(
      names = "--detail",
      description =
          "Also ask for N detailed descriptions, scored by the share of shapes whose"
              + " '<color> <shape>' they name (not in the overall exact match).")
  boolean detail;

  @Option(
      names = "--by-shapes",
      description =
          "Also print each checkpoint's exact match per type and number of shapes in the image,"
              + " per type and what the question finds its shapes by (kind, colour, both,"
              + " neither), per type and the image's width over height, and per count the answer"
              + " should be (attribute counts also apart by kind and by colour).")
  boolean byShapes;

  @Option(
      names = "--wide-colors",
      description =
          "Draw every held-out scene's fills from each colour's wide range (the usual named"
              + " variants of the six colours, such as CSS's and matplotlib's) instead of the"
              + " training world's base fills; the questions are the same kinds.")
  boolean wideColors;

  @Spec CommandSpec command;

  @Override
  public Integer call() throws Exception {
    if (perType < 1) {
      throw new IllegalArgumentException("--per-type must be >= 1, got " + perType);
    }
    SizeRange range = parseSides(sides);
    PrintWriter out = command.commandLine().getOut();
    List<Sample> samples =
        WorldDatasets.evaluationSet(seed, perType, range, wideColors).stream()
            .filter(s -> detail || s.kind() != SampleKind.DETAIL)
            .toList();
    long descriptions = samples.stream().filter(s -> s.kind() == SampleKind.DETAIL).count();
    out.printf(
        "held-out set: %d short-answer questions%s, seed %d, sides %d-%d px%s%n",
        samples.size() - descriptions,
        descriptions > 0 ? " and " + descriptions + " detailed descriptions" : "",
        seed,
        range.min(),
        range.max(),
        wideColors ? ", fills from the wide colour ranges" : "");
    out.flush();

    Path first = model.resolve();
    List<String> labels = new ArrayList<>(List.of(label(first, "model")));
    List<EvalScores> scores = new ArrayList<>(List.of(evaluate(first, samples, out)));
    if (compare != null) {
      String second = label(compare, "compare");
      labels.add(second.equals(labels.get(0)) ? "compare" : second);
      scores.add(evaluate(compare, samples, out));
    }
    out.println();
    out.print(EvalScores.table(labels, scores));
    if (byShapes) {
      for (int c = 0; c < scores.size(); c++) {
        out.printf("%nexact match %% of %s by shapes in the image (questions):%n", labels.get(c));
        out.print(scores.get(c).byShapesTable());
        out.printf(
            "%nexact match %% of %s by what the question finds shapes by (questions):%n",
            labels.get(c));
        out.print(scores.get(c).byLookupTable());
        out.printf(
            "%nexact match %% of %s by the image's width over height (questions):%n",
            labels.get(c));
        out.print(scores.get(c).byProportionTable());
        out.printf(
            "%nexact match %% of %s by the count the answer should be (questions):%n",
            labels.get(c));
        out.print(scores.get(c).byCountTable());
      }
    }
    for (int c = 0; c < scores.size(); c++) {
      printWrong(out, labels.get(c), scores.get(c).wrong());
    }
    out.flush();
    return 0;
  }

  /** Runs every sample's question through {@code dir}'s model and scores the answers. */
  private EvalScores evaluate(Path dir, List<Sample> samples, PrintWriter out) throws Exception {
    EngineConfig config = ServingConfig.engine(model.settings());
    List<EvalRunner.Question> questions =
        samples.stream()
            .map(
                s ->
                    new EvalRunner.Question(
                        s.scene(),
                        s.turns().get(0).question(),
                        s.kind() == SampleKind.DETAIL ? DESCRIPTION_TOKENS : SHORT_ANSWER_TOKENS))
            .toList();
    EvalRunner.Run run;
    try (LlavaModel m = LlavaModel.load(dir, model.options());
        LlavaEngine engine = LlavaEngine.start(m, config)) {
      // Twice the step's sequences in flight keeps every step full while images are prepared.
      int inFlight = 2 * config.scheduler().maxNumSeqs();
      run =
          new EvalRunner(m, engine)
              .ask(questions, inFlight, Runtime.getRuntime().availableProcessors());
    }
    out.printf(
        Locale.ROOT,
        "%s: %d questions in %.1f s = %.1f questions/s, %.0f tokens/s%n",
        dir,
        questions.size(),
        run.seconds(),
        questions.size() / run.seconds(),
        run.tokens() / run.seconds());
    if (run.failed() == questions.size()) {
      throw new IllegalStateException("every request failed; the first: " + run.firstError());
    }
    if (run.failed() > 0) {
      out.printf(
          "%d requests failed (scored wrong); the first: %s%n", run.failed(), run.firstError());
    }
    out.flush();
    EvalScores scores = new EvalScores();
    for (int i = 0; i < samples.size(); i++) {
      Sample s = samples.get(i);
      String got = run.answers().get(i).text();
      if (s.kind() == SampleKind.DETAIL) {
        scores.detail(EvalScores.shapePhrases(s.scene()), got);
      } else {
        scores.vqa(
            s.type(), s.scene(), s.turns().get(0).question(), s.turns().get(0).answer(), got);
      }
    }
    return scores;
  }

  /** {@code MIN-MAX} (or one number for a single side) as a size range. */
  static SizeRange parseSides(String text) {
    String[] parts = text.strip().split("-", -1);
    try {
      if (parts.length == 1) {
        return SizeRange.square(Integer.parseInt(parts[0].strip()));
      }
      if (parts.length == 2) {
        return new SizeRange(
            Integer.parseInt(parts[0].strip()), Integer.parseInt(parts[1].strip()));
      }
    } catch (NumberFormatException e) {
      // reported below
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--sides: " + e.getMessage(), e);
    }
    throw new IllegalArgumentException("--sides must be MIN-MAX in pixels, got '" + text + "'");
  }

  private static void printWrong(PrintWriter out, String label, List<EvalScores.Wrong> wrong) {
    if (wrong.isEmpty()) {
      return;
    }
    out.printf(
        "%nwrong answers of %s (%d of %d):%n",
        label, Math.min(WRONG_SHOWN, wrong.size()), wrong.size());
    // One per type first, so that every failing skill shows up.
    List<EvalScores.Wrong> shown = new ArrayList<>();
    wrong.stream()
        .filter(w -> shown.stream().noneMatch(s -> s.type() == w.type()))
        .forEach(shown::add);
    wrong.stream().filter(w -> !shown.contains(w)).forEach(shown::add);
    for (EvalScores.Wrong w : shown.subList(0, Math.min(WRONG_SHOWN, shown.size()))) {
      out.printf(
          "  [%s] %s expected \"%s\", got \"%s\"%n",
          EvalScores.typeName(w.type()),
          w.question().lines().findFirst().orElse(""),
          w.expected(),
          oneLine(w.got()));
    }
  }

  private static String oneLine(String text) {
    String flat = text.strip().replaceAll("\\s+", " ");
    return flat.length() > 80 ? flat.substring(0, 77) + "..." : flat;
  }

  /** A column label: the checkpoint folder's name. */
  private static String label(Path dir, String fallback) {
    Path name = dir.toAbsolutePath().normalize().getFileName();
    return name != null ? name.toString() : fallback;
  }
}
