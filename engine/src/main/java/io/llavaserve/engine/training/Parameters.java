package io.llavaserve.engine.training;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.tensorflow.Operand;
import org.tensorflow.Result;
import org.tensorflow.Session;
import org.tensorflow.Tensor;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.ndarray.buffer.DataBuffers;
import org.tensorflow.op.Op;
import org.tensorflow.op.Ops;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.op.core.Variable;
import org.tensorflow.types.TFloat32;

/**
 * The variables of one training graph, by name, with a way to fill them from Java arrays and to
 * read them back: the bridge between a graph and the {@link ModelState} that outlives it.
 *
 * <p>Which of them learn is the stage's choice ({@link #trainable()}); the others are read by the
 * graph but get no gradient, so a frozen tower is never differentiated through.
 */
final class Parameters {

  private final Map<String, Variable<TFloat32>> variables = new LinkedHashMap<>();
  private final Map<String, long[]> shapes = new LinkedHashMap<>();
  private final Map<String, Placeholder<TFloat32>> feeds = new LinkedHashMap<>();
  private final List<Op> assigns = new ArrayList<>();
  private final Set<String> trainable;
  private final Ops tf;

  /**
   * @param shapes every variable's name and shape
   * @param trainable the names that learn in this graph
   */
  Parameters(Ops tf, Map<String, long[]> shapes, Set<String> trainable) {
    this.tf = tf;
    this.trainable = Set.copyOf(trainable);
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      String name = e.getKey();
      Shape shape = Shape.of(e.getValue());
      Variable<TFloat32> v = tf.withName(safe(name)).variable(shape, TFloat32.class);
      Placeholder<TFloat32> feed =
          tf.withName(safe(name) + "_feed").placeholder(TFloat32.class, Placeholder.shape(shape));
      variables.put(name, v);
      this.shapes.put(name, e.getValue().clone());
      feeds.put(name, feed);
      assigns.add(tf.assign(v, feed));
    }
    for (String name : trainable) {
      if (!variables.containsKey(name)) {
        throw new IllegalArgumentException("trainable parameter " + name + " is not in the graph");
      }
    }
  }

  /** The variable {@code name}. */
  Operand<TFloat32> get(String name) {
    Variable<TFloat32> v = variables.get(name);
    if (v == null) {
      throw new IllegalArgumentException("no parameter " + name);
    }
    return v;
  }

  Variable<TFloat32> variable(String name) {
    return (Variable<TFloat32>) get(name);
  }

  long[] shape(String name) {
    return shapes.get(name).clone();
  }

  /** Names of the parameters that learn, in graph order. */
  List<String> trainable() {
    return variables.keySet().stream().filter(trainable::contains).toList();
  }

  Map<String, long[]> shapes() {
    return shapes;
  }

  /** Assigns every variable from {@code values} (each must be present with the right size). */
  void load(Session session, Map<String, float[]> values) {
    Session.Runner runner = session.runner();
    List<Tensor> tensors = new ArrayList<>();
    try {
      for (Map.Entry<String, Placeholder<TFloat32>> e : feeds.entrySet()) {
        float[] data = values.get(e.getKey());
        long[] shape = shapes.get(e.getKey());
        if (data == null) {
          throw new IllegalArgumentException("no value for parameter " + e.getKey());
        }
        if (data.length != Shape.of(shape).size()) {
          throw new IllegalArgumentException(
              e.getKey() + ": " + data.length + " values for " + Shape.of(shape));
        }
        TFloat32 t = TFloat32.tensorOf(Shape.of(shape), DataBuffers.of(data, true, false));
        tensors.add(t);
        runner.feed(e.getValue(), t);
      }
      assigns.forEach(runner::addTarget);
      runner.run().close();
    } finally {
      tensors.forEach(Tensor::close);
    }
  }

  /** Every variable's current values. */
  Map<String, float[]> read(Session session) {
    Session.Runner runner = session.runner();
    List<String> names = new ArrayList<>(variables.keySet());
    names.forEach(n -> runner.fetch(variables.get(n)));
    Map<String, float[]> out = new LinkedHashMap<>();
    try (Result r = runner.run()) {
      for (int i = 0; i < names.size(); i++) {
        TFloat32 t = (TFloat32) r.get(i);
        float[] data = new float[(int) t.size()];
        t.asRawTensor().data().asFloats().read(data);
        out.put(names.get(i), data);
      }
    }
    return out;
  }

  /** TensorFlow op names allow only [A-Za-z0-9._-]. */
  private static String safe(String name) {
    return name.replaceAll("[^A-Za-z0-9._-]", "_");
  }
}
