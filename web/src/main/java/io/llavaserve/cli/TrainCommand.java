package io.llavaserve.cli;

import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.training.ClipTextSpec;
import io.llavaserve.engine.training.Stage;
import io.llavaserve.engine.training.StagePlan;
import io.llavaserve.engine.training.Trainer;
import io.llavaserve.engine.training.TrainingSpec;
import io.llavaserve.engine.training.world.QuestionWeights;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.WorldMix;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Trains a small LLaVA from nothing on the generated shapes world, every stage of the recipe in
 * order, into a run folder; a run folder with saved state resumes where it stopped.
 */
@Command(
    name = "train",
    description =
        "Train a small LLaVA on the generated shapes world; resumes from DIR's saved state.")
final class TrainCommand implements Callable<Integer> {

  /** Image sides drawn for training, as the evaluation draws them. */
  static final SizeRange SIZES = new SizeRange(64, 1024);

  static final double WEIGHT_DECAY = 0.01;
  static final double MAX_GRAD_NORM = 1.0;

  enum Preset {
    standard,
    smoke
  }

  @Option(
      names = "--out",
      required = true,
      paramLabel = "DIR",
      description = "Run folder: saved state, a checkpoint per stage, the last in DIR/final.")
  Path out;

  @Option(
      names = "--preset",
      defaultValue = "standard",
      description = "standard | smoke (default: ${DEFAULT-VALUE}).")
  Preset preset;

  @Option(names = "--seed", defaultValue = "20261203", description = "(default: ${DEFAULT-VALUE}).")
  long seed;

  @Option(
      names = "--threads",
      paramLabel = "N",
      description = "TensorFlow intra-op threads (default: one per core).")
  Integer threads;

  @Option(
      names = "--save-every-minutes",
      paramLabel = "M",
      defaultValue = "5",
      description = "Save the resumable state this often (default: ${DEFAULT-VALUE}).")
  double saveEveryMinutes;

  @Option(
      names = "--steps-scale",
      paramLabel = "F",
      defaultValue = "1.0",
      description =
          "Multiplies every stage's steps, for quick experiments (default: ${DEFAULT-VALUE}).")
  double stepsScale;

  @Option(
      names = "--clip-hard-negatives",
      paramLabel = "N",
      description =
          "False captions per image in the CLIP stage, each one edit away from the true one"
              + " (default: 0; needs --clip-objective captions with the standard preset).")
  Integer hardNegatives;

  @Option(
      names = "--clip-objective",
      paramLabel = "O",
      description =
          "How the tower is pretrained: captions (CLIP's softmax over one caption per image),"
              + " facts (SigLIP's pairwise sigmoid over short true and false statements) or patches"
              + " (supervised by the scenes: each object's centre patch labelled with its colour,"
              + " kind and region, each image with its counts) or counts (patches, and every patch"
              + " of a shape with how many shapes share its colour and its kind) (default: patches"
              + " for standard, as"
              + " the shipped model was trained; captions for smoke).")
  ClipTextSpec.Objective objective;

  @Option(
      names = "--tower-steps",
      paramLabel = "N",
      description =
          "Steps of the tower's stage (stage 0a), after --steps-scale (default: the preset's).")
  Integer towerSteps;

  @Option(
      names = "--steps",
      paramLabel = "STAGE=N",
      description =
          "Steps of one stage (clip, text, align or instruct), after --steps-scale; repeatable,"
              + " e.g. --steps instruct=3000 (default: the preset's).")
  java.util.Map<Stage, Integer> stageSteps = new java.util.LinkedHashMap<>();

  @Option(
      names = "--tune-tower",
      paramLabel = "SCALE",
      description =
          "Lets the vision tower learn in the instruction stage (stage 2) at SCALE times that"
              + " stage's learning rate, as LLaVA-NeXT and OneVision do; 0 keeps it frozen, as"
              + " LLaVA-1.5 does (default: the preset's).")
  Double tuneTower;

  @Option(
      names = "--kind-first",
      paramLabel = "SHARE",
      defaultValue = "0",
      description =
          "How often captions and detailed descriptions name a shape kind first (\"a circle in"
              + " red\") instead of colour first (\"a red circle\"); questions are unchanged"
              + " (default: ${DEFAULT-VALUE}).")
  double kindFirst;

  @Option(
      names = "--monochrome",
      paramLabel = "SHARE",
      defaultValue = "0",
      description =
          "How often a training scene's shapes all share one colour, so that only their kinds,"
              + " sizes and places tell them apart; the held-out set is unchanged (default:"
              + " ${DEFAULT-VALUE}).")
  double monochrome;

  @Option(
      names = "--inventory",
      paramLabel = "SHARE",
      defaultValue = "0",
      description =
          "How often an instruction sample (and a text-stage transcript) is an inventory of the"
              + " shapes, each kind word followed at once by its colour (\"circle red, square"
              + " blue\"); the held-out set is unchanged (default: ${DEFAULT-VALUE}).")
  double inventory;

  @Option(
      names = "--tally",
      paramLabel = "SHARE",
      defaultValue = "0",
      description =
          "How often an instruction sample (and a text-stage transcript) is a tally of every kind"
              + " or every colour, each word followed at once by its count (\"circles 2, stars 0,"
              + " squares 1 and triangles 1\"); the held-out set is unchanged (default:"
              + " ${DEFAULT-VALUE}).")
  double tally;

  @Option(
      names = "--kind-sweep",
      paramLabel = "SHARE",
      defaultValue = "0",
      description =
          "How often an instruction sample is a kind sweep: four short-answer turns about one"
              + " image asking, for each kind in a random order, whether there is one or how many"
              + " (\"Is there a star in the image?\", \"How many circles are there?\"); at most"
              + " 1 - --inventory - --tally; the held-out set is unchanged (default:"
              + " ${DEFAULT-VALUE}).")
  double kindSweep;

  @Option(
      names = "--color-sweep",
      paramLabel = "SHARE",
      defaultValue = "0",
      description =
          "How often an instruction sample is a colour sweep: four short-answer turns about one"
              + " image asking, for every colour it shows and absent ones up to four in a random"
              + " order, whether there is a shape of that colour or how many (\"Is there a red"
              + " shape in the image?\", \"How many blue shapes are there?\"); at most 1 -"
              + " --inventory - --tally - --kind-sweep; the held-out set is unchanged (default:"
              + " ${DEFAULT-VALUE}).")
  double colorSweep;

  @Option(
      names = "--wide-position-sweeps",
      paramLabel = "FRACTION",
      defaultValue = "0",
      description =
          "The fraction of position sweeps (--position-sweep) whose image is drawn at least three"
              + " times as wide as tall (the height up to a third of the largest side, the width"
              + " from three times the height), where LLaVA-NeXT lays the tiles side by side;"
              + " the rest draw theirs as any scene (default: ${DEFAULT-VALUE}).")
  double widePositionSweeps;

  @Option(
      names = "--position-sweep",
      paramLabel = "SHARE",
      defaultValue = "0",
      description =
          "How often an instruction sample is a position sweep: up to four short-answer turns about"
              + " one image asking, for ordered pairs of its shapes in a random order, whether the"
              + " first is to the left or to the right of the second (both ways round where drawn);"
              + " at most 1 - --inventory - --tally - --kind-sweep - --color-sweep; the held-out"
              + " set is unchanged (default: ${DEFAULT-VALUE}).")
  double positionSweep;

  @Option(
      names = "--repeated-count",
      paramLabel = "SHARE",
      defaultValue = "0",
      description =
          "How often an instruction sample's attribute-count turn asks about a kind or a colour"
              + " that two or more of the image's shapes share, where it has one (\"How many blue"
              + " shapes are there?\" -> 2), rather than as the held-out set asks; the held-out set"
              + " is unchanged (default: ${DEFAULT-VALUE}).")
  double repeatedCount;

  @Option(
      names = "--wide-colors",
      paramLabel = "SHARE",
      defaultValue = "0",
      description =
          "How often a training scene's fills come from each colour's wide range (hue, saturation"
              + " and value drawn around the usual named variants: CSS's darker green and purple,"
              + " its pure blue, matplotlib's paler blue) instead of the base colour with a little"
              + " jitter; the held-out set is unchanged (eval --wide-colors asks it of such"
              + " pictures) (default: ${DEFAULT-VALUE}).")
  double wideColors;

  @Option(
      names = "--question-weights",
      paramLabel = "TYPE=W,...",
      description =
          "How often each short-answer question type is drawn for the instruction stage's VQA"
              + " turns, relative weights by type (count, color, shape, position, existence,"
              + " attribute_count; a type not named weighs 1), e.g. position=2,attribute_count=2"
              + " to practise a model's weak types in a fine-tune; the held-out set is unchanged"
              + " (default: every type alike).")
  String questionWeights;

  @Option(
      names = "--learning-rate",
      paramLabel = "STAGE=LR",
      description =
          "Peak learning rate of one stage (clip, text, align or instruct), before warmup and"
              + " cosine decay to a tenth of it; repeatable, e.g. --learning-rate instruct=3e-4"
              + " for a gentler fine-tune (default: the preset's, 1e-3 for the instruction stage"
              + " of standard).")
  java.util.Map<Stage, Double> learningRates = new java.util.LinkedHashMap<>();

  @Option(
      names = "--grounding",
      paramLabel = "WEIGHT",
      defaultValue = "0",
      description =
          "Weight of the grounding loss in the stages with images: every image position a shape"
              + " covers, read through the tied embedding as the language model's head reads"
              + " its last layer, must name the shape's colour and kind words; 0 trains LLaVA's"
              + " objective alone (default: ${DEFAULT-VALUE}).")
  double grounding;

  @Option(
      names = "--vision-tower",
      paramLabel = "DIR",
      description =
          "Start a new run from the vision tower in DIR (a llava-hf checkpoint such as another"
              + " run's RUN/clip or RUN/final, or a CLIP or SigLIP vision model's folder) and skip"
              + " the tower's stage unless --tower-steps is given, as LLaVA starts from a"
              + " pretrained CLIP.")
  Path visionTower;

  @Option(
      names = "--init-from",
      paramLabel = "DIR",
      description =
          "Start a new run from the whole model in DIR (a llava-hf checkpoint such as another"
              + " run's RUN/final, or the built-in model's folder): tower, projector and language"
              + " model; the stages before the instruction stage are skipped unless --tower-steps"
              + " or --steps gives them steps, as LLaVA fine-tunes a released checkpoint. Not with"
              + " --vision-tower.")
  Path initFrom;

  @Option(
      names = "--decoder",
      paramLabel = "WIDTHxLAYERS",
      description =
          "The language model's size for a new run, e.g. 384x6: heads of 64, SwiGLU 11/4 the"
              + " width (default: the preset's, 256x4 for standard). With --init-from, the"
              + " checkpoint's width and as many layers or more: the new layers are inserted"
              + " evenly among its own, each a copy of the one before with its output projections"
              + " at zero, so the run starts from the checkpoint's exact outputs (LLaMA Pro's"
              + " block expansion). A run resumes with the size it was started with.")
  String decoder;

  @Option(
      names = "--image-grid-pinpoints",
      paramLabel = "HxW,...",
      description =
          "Train LLaVA-NeXT's any-resolution layout (a llava_next checkpoint): each image is"
              + " tiled at the listed resolution (height x width in pixels, whole tiles of the"
              + " tower's side) that keeps most of its pixels, the whole image squashed to one more"
              + " tile first, and an image_newline row learns from stage 1 on. Default: none,"
              + " LLaVA-1.5's one padded tile per image. A run resumes with the pinpoints it was"
              + " started with.")
  String imageGridPinpoints;

  @Option(
      names = "--recipe",
      paramLabel = "NAME",
      description =
          "built-in: every run that made the built-in model, in order, each a train run of its"
              + " own in a folder under DIR (base, tuned, next, next2, next3, next4, next5, next6)"
              + " started from the one before; the built-in model is DIR/next6/final. Phases done are listed in"
              + " DIR/recipe-done.txt and skipped when the command is started again, and a stopped"
              + " phase resumes. Goes only with --out, --preset, --threads, --save-every-minutes"
              + " and --steps-scale (which scales the phases' instruction steps too).")
  String recipe;

  @Spec CommandSpec command;

  @Override
  public Integer call() throws Exception {
    int n = threads != null ? threads : Runtime.getRuntime().availableProcessors();
    if (n < 1) {
      throw new IllegalArgumentException("--threads must be >= 1, got " + n);
    }
    if (!(saveEveryMinutes > 0) || Double.isInfinite(saveEveryMinutes)) {
      throw new IllegalArgumentException(
          "--save-every-minutes must be > 0, got " + saveEveryMinutes);
    }
    if (recipe != null) {
      return runRecipe(n);
    }
    List<StagePlan> plans =
        scale(
            preset == Preset.smoke ? TrainingSpec.smokePlan() : TrainingSpec.standardPlan(),
            stepsScale);
    if (visionTower != null && initFrom != null) {
      throw new IllegalArgumentException("--vision-tower and --init-from do not go together");
    }
    if (towerSteps != null) {
      plans = withSteps(plans, Stage.CLIP, towerSteps);
    } else if (visionTower != null || initFrom != null) {
      plans = withSteps(plans, Stage.CLIP, 0);
    }

    if (!(kindFirst >= 0 && kindFirst <= 1)) {
      throw new IllegalArgumentException("--kind-first must be in [0, 1], got " + kindFirst);
    }
    if (!(monochrome >= 0 && monochrome <= 1)) {
      throw new IllegalArgumentException("--monochrome must be in [0, 1], got " + monochrome);
    }
    if (!(inventory >= 0 && inventory <= 1)) {
      throw new IllegalArgumentException("--inventory must be in [0, 1], got " + inventory);
    }
    if (!(tally >= 0 && tally <= 1 - inventory)) {
      throw new IllegalArgumentException(
          "--tally must be in [0, 1 - --inventory], got "
              + tally
              + " with --inventory "
              + inventory);
    }
    if (!(kindSweep >= 0 && kindSweep <= 1 - inventory - tally)) {
      throw new IllegalArgumentException(
          "--kind-sweep must be in [0, 1 - --inventory - --tally], got "
              + kindSweep
              + " with --inventory "
              + inventory
              + " and --tally "
              + tally);
    }
    if (!(colorSweep >= 0 && colorSweep <= 1 - inventory - tally - kindSweep)) {
      throw new IllegalArgumentException(
          "--color-sweep must be in [0, 1 - --inventory - --tally - --kind-sweep], got "
              + colorSweep
              + " with --inventory "
              + inventory
              + ", --tally "
              + tally
              + " and --kind-sweep "
              + kindSweep);
    }
    if (!(positionSweep >= 0 && positionSweep <= 1 - inventory - tally - kindSweep - colorSweep)) {
      throw new IllegalArgumentException(
          "--position-sweep must be in [0, 1 - --inventory - --tally - --kind-sweep -"
              + " --color-sweep], got "
              + positionSweep
              + " with --inventory "
              + inventory
              + ", --tally "
              + tally
              + ", --kind-sweep "
              + kindSweep
              + " and --color-sweep "
              + colorSweep);
    }
    if (!(widePositionSweeps >= 0 && widePositionSweeps <= 1)) {
      throw new IllegalArgumentException(
          "--wide-position-sweeps must be in [0, 1], got " + widePositionSweeps);
    }
    if (!(repeatedCount >= 0 && repeatedCount <= 1)) {
      throw new IllegalArgumentException(
          "--repeated-count must be in [0, 1], got " + repeatedCount);
    }
    if (!(wideColors >= 0 && wideColors <= 1)) {
      throw new IllegalArgumentException("--wide-colors must be in [0, 1], got " + wideColors);
    }
    if (!(grounding >= 0 && Double.isFinite(grounding))) {
      throw new IllegalArgumentException("--grounding must be >= 0, got " + grounding);
    }
    for (java.util.Map.Entry<Stage, Integer> e : stageSteps.entrySet()) {
      plans = withSteps(plans, e.getKey(), e.getValue());
    }
    for (java.util.Map.Entry<Stage, Double> e : learningRates.entrySet()) {
      plans = withLearningRate(plans, e.getKey(), e.getValue());
    }
    QuestionWeights weights =
        questionWeights == null ? QuestionWeights.UNIFORM : QuestionWeights.parse(questionWeights);
    if (initFrom != null) {
      for (Stage s : List.of(Stage.TEXT, Stage.ALIGN)) {
        if (!stageSteps.containsKey(s)) {
          plans = withSteps(plans, s, 0);
        }
      }
    }
    if (tuneTower != null) {
      double scale = tuneTower;
      plans =
          plans.stream()
              .map(p -> p.stage() == Stage.INSTRUCT ? p.withTowerLearningRateScale(scale) : p)
              .toList();
    }
    TrainingSpec spec = preset == Preset.smoke ? TrainingSpec.smoke() : TrainingSpec.standard();
    if (objective == ClipTextSpec.Objective.FACTS) {
      spec = spec.withFacts();
    } else if (objective == ClipTextSpec.Objective.PATCHES) {
      spec = spec.withPatches();
    } else if (objective == ClipTextSpec.Objective.COUNTS) {
      spec = spec.withCounts();
    } else if (objective == ClipTextSpec.Objective.CAPTIONS) {
      spec = spec.withCaptions();
    }
    if (decoder != null) {
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile("(\\d+)x(\\d+)").matcher(decoder.trim());
      if (!m.matches()) {
        throw new IllegalArgumentException(
            "--decoder must be WIDTHxLAYERS such as 384x6, got " + decoder);
      }
      spec = spec.withDecoder(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)));
    }
    if (imageGridPinpoints != null) {
      if (grounding > 0) {
        throw new IllegalArgumentException(
            "--grounding reads one tile per image; not with --image-grid-pinpoints");
      }
      spec = spec.withImageGridPinpoints(pinpoints(imageGridPinpoints));
    }
    if (hardNegatives != null) {
      if (hardNegatives < 0) {
        throw new IllegalArgumentException(
            "--clip-hard-negatives must be >= 0, got " + hardNegatives);
      }
      spec = spec.withHardNegatives(hardNegatives);
    }
    Trainer.Options options =
        new Trainer.Options(
            out,
            spec,
            plans,
            seed,
            SIZES,
            Duration.ofMillis(Math.round(saveEveryMinutes * 60_000)),
            n,
            WEIGHT_DECAY,
            MAX_GRAD_NORM,
            new WorldMix(
                kindFirst,
                monochrome,
                inventory,
                tally,
                kindSweep,
                colorSweep,
                positionSweep,
                repeatedCount,
                weights,
                wideColors,
                widePositionSweeps),
            visionTower,
            grounding,
            initFrom);
    PrintWriter writer = command.commandLine().getOut();
    long start = System.nanoTime();
    Path last;
    try (PrintStream log = printStream(writer)) {
      log.printf(
          "training the %s preset into %s: seed %d, %d threads, steps x %s%n",
          preset, out, seed, n, stepsScale);
      if (!weights.uniform()) {
        log.printf("question types drawn: %s%n", weights);
      }
      last = new Trainer(options, log).run();
    }
    double minutes = (System.nanoTime() - start) / 6e10;
    writer.printf("final checkpoint: %s%ntotal time: %.1f min%n", last, minutes);
    writer.flush();
    return 0;
  }

  /** The {@code --recipe}'s phases, each a {@code train} run with this command's common flags. */
  private int runRecipe(int threads) throws Exception {
    if (!"built-in".equals(recipe)) {
      throw new IllegalArgumentException("--recipe must be built-in, got \"" + recipe + "\"");
    }
    java.util.Set<String> common =
        java.util.Set.of(
            "--recipe", "--out", "--preset", "--threads", "--save-every-minutes", "--steps-scale");
    for (picocli.CommandLine.Model.OptionSpec o :
        command.commandLine().getParseResult().matchedOptions()) {
      if (!common.contains(o.longestName())) {
        throw new IllegalArgumentException(
            o.longestName() + " does not go with --recipe: its phases set their own flags");
      }
    }
    scale(TrainingSpec.smokePlan(), stepsScale); // refuses a scale that is not > 0
    TrainingSpec spec = preset == Preset.smoke ? TrainingSpec.smoke() : TrainingSpec.standard();
    List<TrainRecipe.Phase> phases =
        TrainRecipe.builtIn(out, spec.config().vision().imageSize(), stepsScale);
    List<String> flags =
        List.of(
            "--preset",
            preset.name(),
            "--threads",
            Integer.toString(threads),
            "--save-every-minutes",
            Double.toString(saveEveryMinutes),
            "--steps-scale",
            Double.toString(stepsScale));
    PrintWriter writer = command.commandLine().getOut();
    long start = System.nanoTime();
    Path last =
        TrainRecipe.run(
            out,
            phases,
            flags,
            writer,
            args -> {
              TrainCommand phase = new TrainCommand();
              picocli.CommandLine cli = new picocli.CommandLine(phase);
              cli.setCaseInsensitiveEnumValuesAllowed(true);
              cli.setOut(writer);
              cli.setErr(command.commandLine().getErr());
              cli.parseArgs(args);
              phase.call();
            });
    writer.printf(
        "built-in recipe done: %s%nrecipe time: %.1f min%n",
        last, (System.nanoTime() - start) / 6e10);
    writer.flush();
    return 0;
  }

  /** {@code plans} with {@code stage} set to {@code steps} steps, its warmup kept in ratio. */
  static List<StagePlan> withSteps(List<StagePlan> plans, Stage stage, int steps) {
    if (steps < 0) {
      throw new IllegalArgumentException(
          "steps of "
              + stage.name().toLowerCase(java.util.Locale.ROOT)
              + " must be >= 0, got "
              + steps);
    }
    return plans.stream()
        .map(
            p ->
                p.stage() != stage || p.steps() == 0
                    ? p
                    : p.withSteps(
                        steps, (int) Math.round((double) p.warmupSteps() * steps / p.steps())))
        .toList();
  }

  static List<StagePlan> withLearningRate(List<StagePlan> plans, Stage stage, double rate) {
    if (!(rate > 0) || Double.isInfinite(rate)) {
      throw new IllegalArgumentException(
          "the learning rate of "
              + stage.name().toLowerCase(java.util.Locale.ROOT)
              + " must be > 0, got "
              + rate);
    }
    return plans.stream().map(p -> p.stage() != stage ? p : p.withLearningRate(rate)).toList();
  }

  /** Every stage's steps and warmup multiplied by {@code factor}; at least one step a stage. */
  static List<StagePlan> scale(List<StagePlan> plans, double factor) {
    if (!(factor > 0) || Double.isInfinite(factor)) {
      throw new IllegalArgumentException("--steps-scale must be > 0, got " + factor);
    }
    return plans.stream()
        .map(
            p ->
                p.withSteps(
                    (int) Math.max(1, Math.round(p.steps() * factor)),
                    (int) Math.round(p.warmupSteps() * factor)))
        .toList();
  }

  /**
   * The Trainer logs to a PrintStream; this one hands each flushed piece to the command's writer,
   * so a captured or UTF-8 stdout sees the log as it is written.
   */
  private static PrintStream printStream(PrintWriter writer) {
    OutputStream bytes =
        new ByteArrayOutputStream() {
          @Override
          public synchronized void flush() {
            writer.print(toString(StandardCharsets.UTF_8));
            writer.flush();
            reset();
          }

          @Override
          public void close() {
            flush();
          }
        };
    return new PrintStream(bytes, true, StandardCharsets.UTF_8);
  }

  /** {@code 128x256,256x128} as resolutions, each height x width in pixels. */
  static List<AnyResolution.Resolution> pinpoints(String text) {
    List<AnyResolution.Resolution> out = new java.util.ArrayList<>();
    for (String part : text.split(",")) {
      java.util.regex.Matcher m =
          java.util.regex.Pattern.compile("(\\d+)x(\\d+)").matcher(part.trim());
      if (!m.matches()) {
        throw new IllegalArgumentException(
            "--image-grid-pinpoints must be HEIGHTxWIDTH pairs such as 128x256,256x128, got \""
                + part.trim()
                + "\"");
      }
      out.add(
          new AnyResolution.Resolution(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))));
    }
    return out;
  }
}
