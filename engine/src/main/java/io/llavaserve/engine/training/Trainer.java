package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.WeightShapes;
import io.llavaserve.engine.prompt.ChatTemplate;
import io.llavaserve.engine.tokenizer.LlamaTokenizer;
import io.llavaserve.engine.training.world.SizeRange;
import io.llavaserve.engine.training.world.WorldMix;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Runs the whole recipe from nothing (or from the last saved state) into a run folder: every stage
 * in order, a llava-hf checkpoint after each ({@code RUN/<stage>}; the last is {@code RUN/final}),
 * and the resumable state every {@code saveEvery} and at each stage's end.
 */
public final class Trainer {

  /**
   * Where and how a run trains.
   *
   * @param mix how the training streams depart from the plain world (kind-first names, one-colour
   *     scenes); {@link WorldMix#PLAIN} for the standard recipe
   * @param visionTower a checkpoint folder whose vision tower a new run starts from instead of
   *     random weights (a llava-hf checkpoint, or a CLIP or SigLIP model's folder), or null
   * @param grounding the weight of the grounding loss in the stages with images (each patch a shape
   *     covers, read through the tied embedding, names the shape's colour and kind words); 0 for
   *     LLaVA's objective alone
   * @param initFrom a llava-hf checkpoint folder whose tower, projector and language model a new
   *     run starts from (fine-tuning a trained model, as LLaVA's later stages start from a released
   *     checkpoint), or null; not together with {@code visionTower}
   */
  public record Options(
      Path runDir,
      TrainingSpec spec,
      List<StagePlan> plans,
      long seed,
      SizeRange sizes,
      java.time.Duration saveEvery,
      int threads,
      double weightDecay,
      double maxGradNorm,
      WorldMix mix,
      Path visionTower,
      double grounding,
      Path initFrom) {

    public Options {
      if (visionTower != null && initFrom != null) {
        throw new IllegalArgumentException(
            "a run starts from a vision tower or from a whole model, not both");
      }
    }

    /** Options of the standard data, every weight starting at random. */
    public Options(
        Path runDir,
        TrainingSpec spec,
        List<StagePlan> plans,
        long seed,
        SizeRange sizes,
        java.time.Duration saveEvery,
        int threads,
        double weightDecay,
        double maxGradNorm) {
      this(
          runDir,
          spec,
          plans,
          seed,
          sizes,
          saveEvery,
          threads,
          weightDecay,
          maxGradNorm,
          WorldMix.PLAIN,
          null,
          0,
          null);
    }
  }

  /** How long a stop signal waits for the step in progress to end and the state to be saved. */
  static final java.time.Duration STOP_GRACE = java.time.Duration.ofMinutes(2);

  /**
   * Thrown out of {@link #run} when a stop was asked for (SIGTERM, Ctrl-C, {@link #requestStop}):
   * the step in progress ended and the state was saved, so the same command resumes the run.
   */
  public static final class StoppedException extends IOException {
    StoppedException(String message) {
      super(message);
    }
  }

  private final Options options;
  private final PrintStream log;
  private final SampleEncoder encoder;
  private volatile boolean stopRequested;
  private final java.util.concurrent.CountDownLatch finished =
      new java.util.concurrent.CountDownLatch(1);

  public Trainer(Options options, PrintStream log) {
    this.options = options;
    this.log = log;
    var config = options.spec().config();
    this.encoder =
        new SampleEncoder(
            LlamaTokenizer.bundledLlama(),
            ChatTemplate.vicunaV1(),
            config.imageTokenIndex(),
            config.imageSeqLength());
  }

  /**
   * Trains every stage not yet done; returns the final checkpoint's folder. While it runs, a JVM
   * shutdown (SIGTERM, Ctrl-C) waits up to {@link #STOP_GRACE} for the step in progress to end and
   * the state to be saved, rather than tearing TensorFlow down under a running step.
   *
   * @throws StoppedException when stopped before the end, its state saved
   */
  public Path run() throws IOException {
    Thread hook = new Thread(this::stopAndWait, "training-stop");
    Runtime.getRuntime().addShutdownHook(hook);
    try {
      return train();
    } finally {
      finished.countDown();
      try {
        Runtime.getRuntime().removeShutdownHook(hook);
      } catch (IllegalStateException shuttingDown) {
        // the hook is running: it returns now that the run has ended
      }
    }
  }

  /** Asks the run to stop after the step in progress, saving its state for a resume. */
  public void requestStop() {
    stopRequested = true;
  }

  private void stopAndWait() {
    requestStop();
    try {
      if (!finished.await(STOP_GRACE.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
        log.printf("the step in progress did not end within %s%n", STOP_GRACE);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private Path train() throws IOException {
    Files.createDirectories(options.runDir());
    TrainingState state = TrainingState.load(options.runDir());
    WorldVocabulary vocabulary;
    Map<String, float[]> params;
    Stage stage;
    long step;
    Map<String, float[]> moments;
    if (state == null) {
      vocabulary =
          BatchSource.vocabulary(
              encoder,
              options.seed(),
              options.sizes(),
              3000,
              options.spec().config().text().vocabSize(),
              options.spec().clipText().objective() == ClipTextSpec.Objective.FACTS,
              options.mix());
      Map<String, long[]> shapes = options.spec().shapes(vocabulary);
      params =
          Initializer.values(
              shapes, options.spec().config().text().numHiddenLayers(), options.seed());
      if (options.visionTower() != null) {
        Map<String, float[]> tower = PretrainedTower.load(options.visionTower(), shapes);
        params.putAll(tower);
        log.printf("vision tower: %d tensors from %s%n", tower.size(), options.visionTower());
      }
      if (options.initFrom() != null) {
        Map<String, float[]> model =
            PretrainedModel.load(
                options.initFrom(),
                shapes,
                vocabulary,
                options.spec().config().text().hiddenSize());
        params.putAll(model);
        log.printf("starting from %s: %d tensors%n", options.initFrom(), model.size());
      }
      stage = options.plans().get(0).stage();
      step = 0;
      moments = Map.of();
      log.printf(
          "world vocabulary: %d token ids of %d%n", vocabulary.rows() - 1, vocabulary.vocabSize());
    } else {
      vocabulary =
          new WorldVocabulary(
              Arrays.stream(state.vocabularyIds()).boxed().toList(),
              options.spec().config().text().vocabSize());
      params = new LinkedHashMap<>(state.params());
      stage = state.stage();
      step = state.step();
      moments = state.moments();
      log.printf(
          "resuming %s at step %d from %s%n",
          stage, step, options.runDir().resolve(TrainingState.FOLDER));
    }
    BatchSource data =
        new BatchSource(
            options.seed(),
            options.sizes(),
            encoder,
            vocabulary,
            options.spec(),
            options.mix(),
            options.grounding() > 0);
    Map<String, long[]> shapes = options.spec().shapes(vocabulary);
    if (state != null) {
      requireSameShapes(state.shapes(), shapes);
    }
    boolean started = false;
    for (StagePlan plan : options.plans()) {
      if (!started && plan.stage() != stage) {
        continue; // done before the resume
      }
      long first = started ? 0 : step;
      Map<String, float[]> m = started ? Map.of() : moments;
      started = true;
      params = runStage(plan, first, params, m, shapes, vocabulary, data);
      int index = options.plans().indexOf(plan);
      boolean last = index == options.plans().size() - 1;
      Stage next = last ? plan.stage() : options.plans().get(index + 1).stage();
      // A run resumed with fewer steps than it has done keeps its count.
      long done = last ? Math.max(plan.steps(), first) : 0;
      new TrainingState(next, done, vocabulary.ids(), params, shapes, Map.of())
          .save(options.runDir());
      export(
          options.runDir().resolve(last ? "final" : plan.stage().name().toLowerCase()),
          params,
          vocabulary);
    }
    if (!started) {
      log.println("every stage is done already");
    }
    return options.runDir().resolve("final");
  }

  private Map<String, float[]> runStage(
      StagePlan plan,
      long first,
      Map<String, float[]> params,
      Map<String, float[]> moments,
      Map<String, long[]> shapes,
      WorldVocabulary vocabulary,
      BatchSource data)
      throws IOException {
    log.printf(
        "%s: %d steps of %d%s%n",
        plan.stage().title(),
        plan.steps(),
        plan.batchSize(),
        plan.tunesTower()
            ? String.format(
                java.util.Locale.ROOT,
                ", the tower learning at %s x the rate",
                plan.towerLearningRateScale())
            : "");
    if (first >= plan.steps()) {
      // No step left to run: the stage's weights are those it was given, and no graph is built.
      new Progress(plan, first, log).finish();
      return params;
    }
    ExecutorService prefetch =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "training-data");
              t.setDaemon(true);
              return t;
            });
    try (StageSession session =
        new StageSession(
            plan.stage(),
            plan.towerLearningRateScale(),
            options.grounding(),
            options.spec(),
            vocabulary,
            options.weightDecay(),
            options.maxGradNorm(),
            options.threads())) {
      Map<String, float[]> read = new LinkedHashMap<>();
      shapes.keySet().stream().filter(plan.stage()::reads).forEach(n -> read.put(n, params.get(n)));
      session.load(read, moments);
      Progress progress = new Progress(plan, first, log);
      long lastSave = System.nanoTime();
      Future<Object> next =
          first < plan.steps() ? prefetch.submit(() -> batch(data, plan, first)) : null;
      for (long s = first; s < plan.steps(); s++) {
        if (stopRequested) {
          String where =
              String.format("stopped at %s step %d of %d", plan.stage(), s, plan.steps());
          if (s > first) {
            save(plan, s, params, session, vocabulary, shapes);
            log.printf(
                "%n%s, state saved in %s%n", where, options.runDir().resolve(TrainingState.FOLDER));
          } else {
            log.printf("%n%s, no step done since the last save%n", where);
          }
          throw new StoppedException(where + "; run the same command to resume");
        }
        Object batch = next.get();
        long following = s + 1;
        next =
            following < plan.steps() ? prefetch.submit(() -> batch(data, plan, following)) : null;
        float lr = (float) plan.learningRate(s);
        float c1 = (float) (1 / (1 - Math.pow(AdamW.BETA1, s + 1)));
        float c2 = (float) (1 / (1 - Math.pow(AdamW.BETA2, s + 1)));
        StageSession.StepResult r;
        long tokens;
        if (batch instanceof BatchSource.ClipBatch c) {
          r = session.clipStep(c, lr, c1, c2);
          tokens = c.images();
        } else if (batch instanceof BatchSource.PatchBatch pb) {
          r = session.patchStep(pb, lr, c1, c2);
          tokens = pb.images();
        } else {
          TrainingBatch b = (TrainingBatch) batch;
          r = session.step(b, lr, c1, c2);
          tokens = (long) b.batch() * b.tokens();
        }
        if (!Float.isFinite(r.loss())) {
          throw new IllegalStateException(plan.stage() + " step " + s + ": loss is " + r.loss());
        }
        progress.update(s + 1, r, tokens, lr);
        if (System.nanoTime() - lastSave > options.saveEvery().toNanos() && s + 1 < plan.steps()) {
          save(plan, s + 1, params, session, vocabulary, shapes);
          lastSave = System.nanoTime();
        }
      }
      progress.finish();
      Map<String, float[]> all = new LinkedHashMap<>(params);
      all.putAll(session.parameters());
      return all;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException("making a batch failed", e.getCause());
    } finally {
      prefetch.shutdownNow();
    }
  }

  /** Saves the resumable state after {@code done} steps of the stage, and {@code RUN/latest}. */
  private void save(
      StagePlan plan,
      long done,
      Map<String, float[]> params,
      StageSession session,
      WorldVocabulary vocabulary,
      Map<String, long[]> shapes)
      throws IOException {
    Map<String, float[]> all = new LinkedHashMap<>(params);
    all.putAll(session.parameters());
    new TrainingState(plan.stage(), done, vocabulary.ids(), all, shapes, session.moments())
        .save(options.runDir());
    export(options.runDir().resolve("latest"), all, vocabulary);
  }

  /**
   * The template the model was trained with, as {@code chat_template.json}, so that transformers
   * and this server render its prompts alike.
   */
  public static void writeChatTemplate(Path checkpointDir) throws IOException {
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var root = json.createObjectNode().put("chat_template", ChatTemplate.VICUNA_V1_JINJA);
    json.writerWithDefaultPrettyPrinter()
        .writeValue(checkpointDir.resolve("chat_template.json").toFile(), root);
  }

  /**
   * Names the checkpoint's image processor {@code LlavaImageProcessor} with {@code do_pad}, so that
   * transformers pads each image to a square before resizing as the training did and the server
   * does ({@code CLIPImageProcessor}, which the written file names otherwise, would not pad).
   */
  static void padInTransformers(Path checkpointDir) throws IOException {
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    Path file =
        checkpointDir.resolve(io.llavaserve.engine.checkpoint.Checkpoint.PREPROCESSOR_CONFIG);
    var root = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(file.toFile());
    root.put("do_pad", true);
    root.put("image_processor_type", io.llavaserve.engine.image.PreprocessConfig.LLAVA_PROCESSOR);
    json.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), root);
  }

  private static Object batch(BatchSource data, StagePlan plan, long step) {
    if (plan.stage() != Stage.CLIP) {
      return data.batch(plan.stage(), step, plan.batchSize());
    }
    return data.patches()
        ? data.patchBatch(step, plan.batchSize())
        : data.clipBatch(step, plan.batchSize());
  }

  /** Writes the LLaVA part of {@code params} as a llava-hf checkpoint. */
  void export(Path dir, Map<String, float[]> params, WorldVocabulary vocabulary)
      throws IOException {
    int hidden = options.spec().config().text().hiddenSize();
    Path tmp = dir.resolveSibling(dir.getFileName() + ".tmp");
    TrainingState.deleteTree(tmp);
    TinyCheckpoint.writeWithValues(
        tmp,
        options.spec().model(),
        name ->
            name.equals(WeightShapes.EMBED_TOKENS)
                ? vocabulary.expand(params.get(Towers.WORLD_EMBED), hidden)
                : params.get(name));
    writeChatTemplate(tmp);
    if (!options.spec().config().isAnyResolution()) {
      padInTransformers(tmp);
    }
    TrainingState.deleteTree(dir);
    Files.move(tmp, dir);
    log.printf("wrote checkpoint %s%n", dir);
  }

  /** A run resumes with the model it was started with; another size is refused by tensor. */
  private static void requireSameShapes(Map<String, long[]> saved, Map<String, long[]> wanted) {
    if (saved.containsKey(WeightShapes.IMAGE_NEWLINE)
        != wanted.containsKey(WeightShapes.IMAGE_NEWLINE)) {
      throw new IllegalArgumentException(
          "the run was started "
              + (saved.containsKey(WeightShapes.IMAGE_NEWLINE) ? "with" : "without")
              + " image_grid_pinpoints (resume with the same --image-grid-pinpoints)");
    }
    for (Map.Entry<String, long[]> e : wanted.entrySet()) {
      long[] had = saved.get(e.getKey());
      if (had != null && !Arrays.equals(had, e.getValue())) {
        throw new IllegalArgumentException(
            "the run was started with another model size: "
                + e.getKey()
                + " is "
                + Arrays.toString(had)
                + " in its saved state but "
                + Arrays.toString(e.getValue())
                + " with these options (resume with the same --decoder and preset)");
      }
    }
  }
}
