package io.llavaserve.engine.training;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.tensorflow.Graph;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Gradients;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * The symbolic gradient of the LLaVA loss (what AdamW steps along) against central differences of
 * the loss itself, on the smoke model with an image batch: through the projector, the decoder's
 * attention, the tied world embedding (read as input rows and as output logits), the RMSNorms and
 * the vision tower.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LlavaLossGradientTest {

  private static final List<String> CHECKED =
      List.of(
          "multi_modal_projector.linear_1.weight",
          "language_model.model.layers.1.self_attn.q_proj.weight",
          Towers.WORLD_EMBED,
          "language_model.model.layers.0.input_layernorm.weight",
          "language_model.model.norm.weight",
          "vision_tower.vision_model.encoder.layers.0.mlp.fc1.weight");

  static List<String> checked() {
    return CHECKED;
  }

  /** Step of the central differences; the weights are of order 0.1 to 1. */
  private static final float EPS = 1e-2f;

  /** A sign error or a factor of two is off by 100% or 50%; float32 rounding here by under 0.3%. */
  private static final double RELATIVE = 1e-2;

  private final TrainingFixture fx = TrainingFixture.get();
  private Graph graph;
  private Session session;
  private Parameters params;
  private LlavaLoss llava;
  private Map<String, float[]> values;
  private TrainingBatch batch;
  private final Map<String, float[]> gradients = new LinkedHashMap<>();

  @BeforeAll
  void buildGraphAndGradients() {
    graph = new Graph();
    TrainOps g = new TrainOps(Ops.create(graph));
    Map<String, long[]> shapes = new LinkedHashMap<>();
    fx.spec
        .shapes(fx.vocabulary)
        .forEach(
            (n, s) -> {
              if (Stage.INSTRUCT.reads(n)) {
                shapes.put(n, s);
              }
            });
    params = new Parameters(g.tf, shapes, shapes.keySet());
    llava = new LlavaLoss(g, params, fx.spec.config(), true, fx.vocabulary.otherCount());
    List<Operand<TFloat32>> vars = new ArrayList<>();
    CHECKED.forEach(n -> vars.add(params.variable(n)));
    Gradients grads = g.tf.gradients(llava.loss, vars);
    session = new Session(graph);

    // Away from the initial norms of exactly one and biases of exactly zero.
    SplittableRandom random = new SplittableRandom(3);
    values = TrainingFixture.readBy(Stage.INSTRUCT, fx.initialValues());
    values
        .values()
        .forEach(
            v -> {
              for (int i = 0; i < v.length; i++) {
                v[i] += (float) (0.05 * random.nextGaussian());
              }
            });
    batch = fx.data.batch(Stage.INSTRUCT, 0, 2);
    params.load(session, values);

    List<Tensor> feeds = new ArrayList<>();
    Session.Runner r = feed(session.runner(), feeds);
    for (int i = 0; i < CHECKED.size(); i++) {
      r.fetch(grads.dy(i));
    }
    try (Result res = r.run()) {
      for (int i = 0; i < CHECKED.size(); i++) {
        gradients.put(CHECKED.get(i), floats((TFloat32) res.get(i)));
      }
    } finally {
      feeds.forEach(Tensor::close);
    }
  }

  @AfterAll
  void close() {
    session.close();
    graph.close();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("checked")
  void theLargestGradientEntriesMatchCentralDifferences(String name) {
    float[] g = gradients.get(name);
    float[] w = values.get(name);
    int[] top = largest(g, 4);
    assertTrue(
        Math.abs(g[top[0]]) > 1e-3,
        name + ": the gradient should not vanish, largest entry " + g[top[0]]);
    for (int i : top) {
      float saved = w[i];
      w[i] = saved + EPS;
      double plus = loss();
      w[i] = saved - EPS;
      double minus = loss();
      w[i] = saved;
      double numeric = (plus - minus) / (2 * EPS);
      assertTrue(
          Math.abs(numeric - g[i]) <= RELATIVE * Math.abs(g[i]),
          name + "[" + i + "]: symbolic " + g[i] + ", central difference " + numeric);
    }
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("checked")
  void theSlopeAlongTheGradientIsItsNorm(String name) {
    // Along d = g / |g| the loss changes at the rate |g|, if g is the gradient; a wrong sign or
    // scale on any large share of the entries changes that rate.
    float[] g = gradients.get(name);
    float[] w = values.get(name);
    float[] saved = w.clone();
    double norm = 0;
    for (float x : g) {
      norm += (double) x * x;
    }
    norm = Math.sqrt(norm);
    assertTrue(norm > 1e-3, name + ": gradient norm " + norm);
    for (int i = 0; i < w.length; i++) {
      w[i] = saved[i] + (float) (EPS * g[i] / norm);
    }
    double plus = loss();
    for (int i = 0; i < w.length; i++) {
      w[i] = saved[i] - (float) (EPS * g[i] / norm);
    }
    double minus = loss();
    System.arraycopy(saved, 0, w, 0, w.length);
    double slope = (plus - minus) / (2 * EPS);
    assertTrue(
        Math.abs(slope - norm) <= RELATIVE * norm,
        name + ": |g| " + norm + ", slope of the loss along g " + slope);
  }

  private double loss() {
    params.load(session, values);
    List<Tensor> feeds = new ArrayList<>();
    try (Result res = feed(session.runner(), feeds).fetch(llava.loss).run()) {
      return ((TFloat32) res.get(0)).getFloat();
    } finally {
      feeds.forEach(Tensor::close);
    }
  }

  private Session.Runner feed(Session.Runner r, List<Tensor> feeds) {
    TrainingBatch b = batch;
    int side = fx.spec.config().vision().imageSize();
    r.feed(llava.rows, keep(feeds, ints(b.rows(), b.batch(), b.tokens())));
    r.feed(llava.lossIndex, keep(feeds, ints(b.lossIndex(), b.lossIndex().length)));
    r.feed(llava.labels, keep(feeds, ints(b.labels(), b.labels().length)));
    r.feed(llava.pixels, keep(feeds, floats(b.pixels(), b.images(), 3, side, side)));
    r.feed(llava.imageIndex, keep(feeds, ints(b.imageIndex(), b.batch(), b.tokens())));
    r.feed(llava.imageMask, keep(feeds, floats(b.imageMask(), b.batch(), b.tokens(), 1)));
    return r;
  }

  private static <T extends Tensor> T keep(List<Tensor> feeds, T t) {
    feeds.add(t);
    return t;
  }

  private static TInt32 ints(int[] data, long... shape) {
    return TInt32.tensorOf(Shape.of(shape), DataBuffers.of(data, true, false));
  }

  private static TFloat32 floats(float[] data, long... shape) {
    return TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(data, true, false));
  }

  private static float[] floats(TFloat32 t) {
    float[] out = new float[(int) t.size()];
    t.asRawTensor().data().asFloats().read(out);
    return out;
  }

  /** Indices of the {@code k} entries of largest magnitude, largest first. */
  private static int[] largest(float[] g, int k) {
    return java.util.stream.IntStream.range(0, g.length)
        .boxed()
        .sorted((a, b) -> Float.compare(Math.abs(g[b]), Math.abs(g[a])))
        .limit(k)
        .mapToInt(Integer::intValue)
        .toArray();
  }
}
