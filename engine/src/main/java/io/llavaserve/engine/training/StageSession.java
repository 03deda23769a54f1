package io.llavaserve.engine.training;

import io.llavaserve.engine.checkpoint.WeightShapes;
import io.llavaserve.engine.config.LlavaConfig;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.tensorflow.Graph;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.proto.ConfigProto;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * One stage's graph and session: the stage's loss over the parameters it reads, AdamW on those it
 * trains, and a {@link #step} that runs forward, backward and update in one session call.
 */
final class StageSession implements AutoCloseable {

  /** What one step reports. */
  record StepResult(float loss, float gradNorm, float accuracy) {}

  private final Stage stage;
  private final Graph graph;
  private final Session session;
  private final Parameters params;
  private final AdamW optimizer;
  private final LlavaLoss llava;
  private final ClipLoss clip;
  private final PatchLoss patches;

  /** A session with the tower learning only in its own stage. */
  StageSession(
      Stage stage,
      TrainingSpec spec,
      WorldVocabulary vocabulary,
      double weightDecay,
      double maxGradNorm,
      int threads) {
    this(stage, 0, spec, vocabulary, weightDecay, maxGradNorm, threads);
  }

  /**
   * @param towerScale the tower's learning rate as a fraction of the stage's, 0 for a tower that
   *     only its own stage trains ({@link StagePlan#towerLearningRateScale()})
   */
  StageSession(
      Stage stage,
      double towerScale,
      TrainingSpec spec,
      WorldVocabulary vocabulary,
      double weightDecay,
      double maxGradNorm,
      int threads) {
    this(stage, towerScale, 0, spec, vocabulary, weightDecay, maxGradNorm, threads);
  }

  /**
   * @param grounding the weight of the grounding loss in a stage with images ({@link
   *     LlavaLoss#groundingLoss}), 0 for none
   */
  StageSession(
      Stage stage,
      double towerScale,
      double grounding,
      TrainingSpec spec,
      WorldVocabulary vocabulary,
      double weightDecay,
      double maxGradNorm,
      int threads) {
    this.stage = stage;
    LlavaConfig config = spec.config();
    Map<String, long[]> shapes =
        spec.shapes(vocabulary).entrySet().stream()
            .filter(e -> stage.reads(e.getKey()))
            .filter(
                e ->
                    stage != Stage.CLIP
                        || !spec.clipText().objective().supervised()
                        || PatchLoss.reads(e.getKey(), config))
            .collect(
                Collectors.toMap(
                    Map.Entry::getKey, Map.Entry::getValue, (a, b) -> a, LinkedHashMap::new));
    // A tuned tower learns up to the feature layer: the layers past it get no gradient.
    java.util.function.Predicate<String> tower =
        name ->
            towerScale > 0
                && stage != Stage.CLIP
                && name.startsWith(WeightShapes.VISION)
                && PatchLoss.reads(name, config);
    Set<String> trainable =
        shapes.keySet().stream()
            .filter(name -> stage.trains(name) || tower.test(name))
            .collect(Collectors.toSet());
    graph = new Graph();
    try {
      TrainOps g = new TrainOps(Ops.create(graph));
      params = new Parameters(g.tf, shapes, trainable);
      if (stage == Stage.CLIP && spec.clipText().objective().supervised()) {
        patches =
            new PatchLoss(
                g, params, config, spec.clipText().objective() == ClipTextSpec.Objective.COUNTS);
        clip = null;
        llava = null;
      } else if (stage == Stage.CLIP) {
        clip = new ClipLoss(g, params, config.vision(), spec.clipText());
        patches = null;
        llava = null;
      } else {
        llava =
            new LlavaLoss(
                g,
                params,
                config,
                stage.withImages(),
                vocabulary.otherCount(),
                stage.withImages() ? grounding : 0);
        clip = null;
        patches = null;
      }
      optimizer =
          new AdamW(
              g,
              params,
              loss(),
              weightDecay,
              maxGradNorm,
              name -> tower.test(name) ? towerScale : 1);
      ConfigProto proto =
          ConfigProto.newBuilder()
              .setIntraOpParallelismThreads(threads)
              .setInterOpParallelismThreads(1)
              .build();
      session = new Session(graph, proto);
    } catch (RuntimeException e) {
      graph.close();
      throw e;
    }
  }

  private org.tensorflow.Operand<TFloat32> loss() {
    if (patches != null) {
      return patches.loss;
    }
    return clip != null ? clip.loss : llava.loss;
  }

  /** Fills the parameters and, when resuming, the optimizer's moments (zeros when absent). */
  void load(Map<String, float[]> values, Map<String, float[]> moments) {
    params.load(session, values);
    Map<String, float[]> m = new LinkedHashMap<>();
    optimizer
        .moments()
        .shapes()
        .forEach(
            (name, shape) -> {
              float[] saved = moments.get(name);
              m.put(name, saved != null ? saved : new float[(int) Shape.of(shape).size()]);
            });
    optimizer.moments().load(session, m);
  }

  Map<String, float[]> parameters() {
    return params.read(session);
  }

  Map<String, float[]> moments() {
    return optimizer.moments().read(session);
  }

  List<String> trainable() {
    return params.trainable();
  }

  /** One optimisation step on a LLaVA or text batch. */
  StepResult step(TrainingBatch b, float lr, float c1, float c2) {
    List<Tensor> feeds = new ArrayList<>();
    try {
      Session.Runner r = feedBatch(session.runner(), feeds, b);
      return run(r, feeds, lr, c1, c2, null);
    } finally {
      feeds.forEach(Tensor::close);
    }
  }

  /** Feeds a LLaVA or text batch's tensors (kept in {@code feeds} for closing). */
  private Session.Runner feedBatch(Session.Runner r, List<Tensor> feeds, TrainingBatch b) {
    feed(r, feeds, llava.rows, ints(b.rows(), b.batch(), b.tokens()));
    feed(r, feeds, llava.lossIndex, ints(b.lossIndex(), b.lossIndex().length));
    feed(r, feeds, llava.labels, ints(b.labels(), b.labels().length));
    if (llava.pixels != null) {
      int side = (int) Math.round(Math.sqrt(b.pixels().length / (3.0 * Math.max(1, b.images()))));
      feed(r, feeds, llava.pixels, floats(b.pixels(), b.images(), 3, side, side));
      feed(r, feeds, llava.imageIndex, ints(b.imageIndex(), b.batch(), b.tokens()));
      feed(r, feeds, llava.imageMask, floats(b.imageMask(), b.batch(), b.tokens(), 1));
    }
    if (llava.groundIndex != null) {
      TrainingBatch.Grounding gr = b.grounding();
      if (gr.size() == 0) {
        throw new IllegalArgumentException("a grounded stage needs grounding targets");
      }
      feed(r, feeds, llava.groundIndex, ints(gr.index(), gr.size()));
      feed(r, feeds, llava.groundColor, ints(gr.color(), gr.size()));
      feed(r, feeds, llava.groundKind, ints(gr.kind(), gr.size()));
    }
    return r;
  }

  /** One contrastive step: N images ([N * 3 * S * S]) and their padded captions. */
  StepResult clipStep(BatchSource.ClipBatch b, float lr, float c1, float c2) {
    List<Tensor> feeds = new ArrayList<>();
    try {
      Session.Runner r = session.runner();
      int len = b.captionRows().length / b.captions();
      feed(r, feeds, clip.pixels, floats(b.pixels(), b.images(), 3, b.side(), b.side()));
      feed(r, feeds, clip.captionRows, ints(b.captionRows(), b.captions(), len));
      feed(r, feeds, clip.captionMask, floats(b.captionMask(), b.captions(), len));
      if (clip.targets != null) {
        feed(r, feeds, clip.targets, floats(b.targets(), b.images(), b.captions()));
        feed(r, feeds, clip.weights, floats(b.weights(), b.images(), b.captions()));
      }
      return run(r, feeds, lr, c1, c2, clip.accuracy);
    } finally {
      feeds.forEach(Tensor::close);
    }
  }

  /** One step of the tower's supervised stage. */
  StepResult patchStep(BatchSource.PatchBatch b, float lr, float c1, float c2) {
    List<Tensor> feeds = new ArrayList<>();
    try {
      Session.Runner r = session.runner();
      feed(r, feeds, patches.pixels, floats(b.pixels(), b.images(), 3, b.side(), b.side()));
      feed(
          r,
          feeds,
          patches.patchLabels,
          floats(
              b.patchLabels(),
              b.patchLabels().length / patches.patchLabelWidth,
              patches.patchLabelWidth));
      feed(
          r,
          feeds,
          patches.imageLabels,
          floats(b.imageLabels(), b.images(), PatchLoss.IMAGE_LABELS));
      return run(r, feeds, lr, c1, c2, patches.accuracy);
    } finally {
      feeds.forEach(Tensor::close);
    }
  }

  /** Loss and logits without an update, for tests: logits [M, V + 1] of a LLaVA batch. */
  float[] logits(TrainingBatch b) {
    List<Tensor> feeds = new ArrayList<>();
    try {
      Session.Runner r = feedBatch(session.runner(), feeds, b);
      r.fetch(llava.logits).fetch(llava.loss);
      try (Result res = r.run()) {
        TFloat32 t = (TFloat32) res.get(0);
        float[] out = new float[(int) t.size()];
        t.asRawTensor().data().asFloats().read(out);
        return out;
      }
    } finally {
      feeds.forEach(Tensor::close);
    }
  }

  /**
   * The answer loss, the grounding loss (0 without one) and the objective of a LLaVA batch, without
   * an update, for tests.
   */
  float[] losses(TrainingBatch b) {
    List<Tensor> feeds = new ArrayList<>();
    try {
      Session.Runner r = feedBatch(session.runner(), feeds, b);
      boolean grounded = llava.groundingLoss != null;
      r.fetch(llava.answerLoss);
      if (grounded) {
        r.fetch(llava.groundingLoss).fetch(llava.loss);
      }
      try (Result res = r.run()) {
        float answer = ((TFloat32) res.get(0)).getFloat();
        return grounded
            ? new float[] {
              answer, ((TFloat32) res.get(1)).getFloat(), ((TFloat32) res.get(2)).getFloat()
            }
            : new float[] {answer, 0f, answer};
      }
    } finally {
      feeds.forEach(Tensor::close);
    }
  }

  private StepResult run(
      Session.Runner r,
      List<Tensor> feeds,
      float lr,
      float c1,
      float c2,
      org.tensorflow.Operand<TFloat32> accuracy) {
    feed(r, feeds, optimizer.learningRate, TFloat32.scalarOf(lr));
    feed(r, feeds, optimizer.correction1, TFloat32.scalarOf(c1));
    feed(r, feeds, optimizer.correction2, TFloat32.scalarOf(c2));
    r.fetch(loss()).fetch(optimizer.gradNorm);
    if (accuracy != null) {
      r.fetch(accuracy);
    }
    optimizer.updates.forEach(r::addTarget);
    try (Result res = r.run()) {
      float loss = ((TFloat32) res.get(0)).getFloat();
      float norm = ((TFloat32) res.get(1)).getFloat();
      float acc = accuracy != null ? ((TFloat32) res.get(2)).getFloat() : Float.NaN;
      return new StepResult(loss, norm, acc);
    }
  }

  private static <T extends Tensor> void feed(
      Session.Runner r, List<Tensor> feeds, org.tensorflow.Operand<?> op, T tensor) {
    feeds.add(tensor);
    r.feed(op, tensor);
  }

  private static TInt32 ints(int[] data, long... shape) {
    return TInt32.tensorOf(Shape.of(shape), DataBuffers.of(data, true, false));
  }

  private static TFloat32 floats(float[] data, long... shape) {
    return TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(data, true, false));
  }

  Stage stage() {
    return stage;
  }

  @Override
  public void close() {
    session.close();
    graph.close();
  }
}
