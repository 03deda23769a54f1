package io.llavaserve.engine.training;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Initial values of every parameter, deterministic in the seed and the name: norms at one, biases
 * at zero, matrices (the tower's patch convolution among them) N(0, 1/fan_in) with the residual
 * branches' output projections further scaled by 1/sqrt(2 * layers) (GPT-2's rule, so the residual
 * stream does not grow with depth).
 */
final class Initializer {

  private Initializer() {}

  static Map<String, float[]> values(Map<String, long[]> shapes, int layers, long seed) {
    Map<String, float[]> out = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      out.put(e.getKey(), init(e.getKey(), e.getValue(), layers, seed));
    }
    return out;
  }

  static float[] init(String name, long[] shape, int layers, long seed) {
    long count = 1;
    for (long d : shape) {
      count *= d;
    }
    float[] v = new float[(int) count];
    if (name.equals(ClipLoss.LOGIT_SCALE)) {
      v[0] = (float) Math.log(1 / 0.07);
      return v;
    }
    if (name.equals(ClipLoss.LOGIT_BIAS)) {
      v[0] = -3f; // sigmoid(-3) is 5%, about the share of true (image, fact) pairs in a batch
      return v;
    }
    boolean norm = name.contains("norm") || name.contains("layrnorm");
    if (norm && name.endsWith(".weight")) {
      java.util.Arrays.fill(v, 1f);
      return v;
    }
    if (name.endsWith(".bias")) {
      return v;
    }
    double std;
    if (name.endsWith("patch_embedding.weight")) {
      // A convolution [hidden, channels, patch, patch]: fan-in over all of a patch's pixels, so a
      // patch's embedding starts at the scale of the learned positions added to it rather than
      // drowning them.
      std = 1.0 / Math.sqrt(count / shape[0]);
    } else if (shape.length < 2 || name.contains("embedding") || name.contains("embed_tokens")) {
      long width = shape[shape.length - 1];
      // The tower's learned positions start strong enough to tell patches apart after its first
      // LayerNorm, so where a shape is can be read from the first step.
      std =
          name.startsWith(io.llavaserve.engine.checkpoint.WeightShapes.VISION)
                  && name.contains("position")
              ? 0.2
              : name.contains("position") || name.contains("class") ? 0.02 : 1.0 / Math.sqrt(width);
    } else {
      long fanIn = count / shape[0];
      std = 1.0 / Math.sqrt(fanIn);
      if (name.endsWith("linear_2.weight")) {
        // The projector's output starts at the scale of a token embedding, so the decoder's layers
        // can still shape image positions rather than being drowned by them.
        std /= Math.sqrt(shape[0]);
      }
      if (name.endsWith("o_proj.weight")
          || name.endsWith("down_proj.weight")
          || name.endsWith("out_proj.weight")
          || name.endsWith("fc2.weight")) {
        std /= Math.sqrt(2.0 * layers);
      }
    }
    SplittableRandom random = new SplittableRandom(seed ^ fnv(name));
    for (int i = 0; i < v.length; i++) {
      v[i] = (float) (std * random.nextGaussian());
    }
    return v;
  }

  private static long fnv(String name) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0; i < name.length(); i++) {
      h = (h ^ name.charAt(i)) * 0x100000001b3L;
    }
    return h;
  }
}
