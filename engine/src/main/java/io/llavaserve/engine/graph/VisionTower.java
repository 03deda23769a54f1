package io.llavaserve.engine.graph;

import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.checkpoint.CheckpointException;
import io.llavaserve.engine.checkpoint.WeightShapes;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import io.llavaserve.engine.config.VisionConfig;
import io.llavaserve.engine.config.VisionFamily;
import java.util.List;
import org.tensorflow.Operand;
import org.tensorflow.ndarray.Shape;
import org.tensorflow.op.core.Placeholder;
import org.tensorflow.types.TFloat32;
import org.tensorflow.types.TInt32;

/**
 * Vision tower (CLIP or SigLIP) up to the feature layer, then the multimodal projector: pixels of N
 * images in, image features in the language model's embedding space out, in one session call.
 *
 * <p>Layers past {@code vision_feature_layer} are not built at all, and the patch convolution
 * (stride = kernel = patch) is written as a reshape and one matmul, which is exact and lets the CPU
 * build use its fastest kernel. The two families share the encoder layers and differ in the
 * embeddings: CLIP prepends a class token and normalises before the encoder ({@code pre_layrnorm});
 * SigLIP adds the patch convolution's bias and goes straight into the encoder. Neither tower's
 * post-layernorm is built: llava reads {@code hidden_states[layer]}, which precede it.
 *
 * <p>For llava_next and llava_onevision the inputs are tiles, any number per image, all run as one
 * batch; their projected features are then packed per image by one gather ({@link #packIndex},
 * built on the host by {@link TilePacking}) from the tiles' feature rows and {@code image_newline}:
 * the base tile's rows, then the grid's feature map re-assembled row-major, un-padded, a newline
 * after each row. When llava_onevision's {@code anyres_max_N} reduces a map, the run fetches {@link
 * #blended} instead: the same gather with four weighted sources per row, which is the bilinear
 * interpolation, in the same session call.
 */
final class VisionTower {

  private static final String PRE = "vision_tower.vision_model.";

  /** pixel_values, [n, channels, size, size]: images, or for llava_next every image's tiles. */
  final Placeholder<TFloat32> pixels;

  /** Projected features, [n, image_seq_length, text_hidden]: per image, or per tile. */
  final Operand<TFloat32> features;

  /**
   * llava_next: [rows] indices into the tiles' feature rows {@code [n * image_seq_length]} followed
   * by one {@code image_newline} row (index {@code n * image_seq_length}); null for llava.
   */
  final Placeholder<TInt32> packIndex;

  /** llava_next: the packed features of every image, one after another, [rows, text_hidden]. */
  final Operand<TFloat32> packed;

  /**
   * llava_onevision: [rows, taps] source rows of each packed row (as {@link #packIndex}); null
   * otherwise.
   */
  final Placeholder<TInt32> blendIndex;

  /** llava_onevision: [rows, taps] the weight of each source (bilinear weights); null otherwise. */
  final Placeholder<TFloat32> blendWeights;

  /**
   * llava_onevision: the packed features when a map is reduced, {@code sum_k weights[r, k] *
   * rows[index[r, k]]}, [rows, text_hidden]; null otherwise.
   */
  final Operand<TFloat32> blended;

  VisionTower(GraphOps g, DeviceWeights weights, Checkpoint ckpt, LlavaConfig config)
      throws CheckpointException {
    VisionConfig v = config.vision();
    int c = v.numChannels();
    int side = v.imageSize();
    int hidden = v.hiddenSize();
    int heads = v.numAttentionHeads();
    int headDim = v.headDim();
    int tokens = v.sequenceLength();

    pixels =
        g.tf
            .withName("pixel_values")
            .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, c, side, side)));
    Operand<org.tensorflow.types.TInt32> n = g.dim(pixels, 0);

    Operand<TFloat32> projected = patchProjection(g, weights, ckpt, v, n, pixels);
    Operand<TFloat32> x =
        v.family() == VisionFamily.CLIP
            ? clipEmbeddings(g, weights, ckpt, v, n, projected)
            : siglipEmbeddings(g, weights, ckpt, v, n, projected);

    float scale = (float) (1.0 / Math.sqrt(headDim));
    for (int i = 0; i < config.visionLayersUsed(); i++) {
      String l = PRE + "encoder.layers." + i + ".";
      Operand<TFloat32> h =
          g.layerNorm(
              x,
              weights.of(ckpt.tensor(l + "layer_norm1.weight")),
              weights.of(ckpt.tensor(l + "layer_norm1.bias")),
              v.layerNormEps());
      Linear qkvW = weights.qkv(ckpt, l + "self_attn.");
      Operand<TFloat32> qkvB = weights.qkvBias(ckpt, l + "self_attn.");
      List<Operand<TFloat32>> qkv = g.splitLast(g.linear(h, qkvW, qkvB), 2, hidden, hidden, hidden);
      // [n*tokens, hidden] -> [n, heads, tokens, head_dim]
      Operand<TFloat32> q = heads(g, g.scale(qkv.get(0), scale), n, tokens, heads, headDim);
      Operand<TFloat32> k = heads(g, qkv.get(1), n, tokens, heads, headDim);
      Operand<TFloat32> vv = heads(g, qkv.get(2), n, tokens, heads, headDim);
      Operand<TFloat32> probs = g.softmax(g.bmm(q, k, true)); // [n, heads, tokens, tokens]
      Operand<TFloat32> attn =
          g.reshape(
              g.transpose(g.bmm(probs, vv, false), 0, 2, 1, 3),
              g.mulDims(n, g.i32(tokens)),
              hidden);
      x =
          g.add(
              x,
              g.linear(
                  attn,
                  weights.linear(ckpt.tensor(l + "self_attn.out_proj.weight")),
                  weights.of(ckpt.tensor(l + "self_attn.out_proj.bias"))));
      h =
          g.layerNorm(
              x,
              weights.of(ckpt.tensor(l + "layer_norm2.weight")),
              weights.of(ckpt.tensor(l + "layer_norm2.bias")),
              v.layerNormEps());
      h =
          g.linear(
              h,
              weights.linear(ckpt.tensor(l + "mlp.fc1.weight")),
              weights.of(ckpt.tensor(l + "mlp.fc1.bias")));
      h =
          g.linear(
              g.activation(v.hiddenAct(), h),
              weights.linear(ckpt.tensor(l + "mlp.fc2.weight")),
              weights.of(ckpt.tensor(l + "mlp.fc2.bias")));
      x = g.add(x, h);
    }

    // Select features: drop the first token (CLS, or SigLIP's first patch) for "default".
    int kept = config.imageSeqLength();
    Operand<TFloat32> selected = g.reshape(x, n, tokens, hidden);
    if (config.dropsClsToken()) {
      selected =
          g.tf.slice(
              selected,
              g.tf.constant(new int[] {0, 1, 0}),
              g.tf.constant(new int[] {-1, kept, hidden}));
    }
    Operand<TFloat32> flat = g.reshape(selected, g.mulDims(n, g.i32(kept)), hidden);
    String proj = "multi_modal_projector.";
    Operand<TFloat32> y = projectorLayer(g, weights, ckpt, config, proj + "linear_1.", flat);
    if (config.projector() == ProjectorKind.MLP2X_GELU) {
      y =
          projectorLayer(
              g,
              weights,
              ckpt,
              config,
              proj + "linear_2.",
              g.activation(config.projectorHiddenAct(), y));
    }
    int th = config.text().hiddenSize();
    features = g.reshape(y, n, kept, th);
    if (config.isAnyResolution()) {
      packIndex =
          g.tf.withName("pack_index").placeholder(TInt32.class, Placeholder.shape(Shape.of(-1)));
      Operand<TFloat32> newline = weights.of(ckpt.tensor(WeightShapes.IMAGE_NEWLINE), 1, th);
      // [n * kept + 1, th]: every tile's rows, then the newline.
      Operand<TFloat32> rows =
          g.concat(0, List.of(g.reshape(y, g.mulDims(n, g.i32(kept)), th), newline));
      packed = g.gatherRows(rows, packIndex);
      if (config.isOneVision()) {
        blendIndex =
            g.tf
                .withName("blend_index")
                .placeholder(TInt32.class, Placeholder.shape(Shape.of(-1, -1)));
        blendWeights =
            g.tf
                .withName("blend_weights")
                .placeholder(TFloat32.class, Placeholder.shape(Shape.of(-1, -1)));
        // [R, taps, th] * [R, taps, 1] summed over the taps -> [R, th]
        Operand<TFloat32> sources = g.gatherRows(rows, blendIndex);
        blended =
            g.tf.reduceSum(
                g.tf.math.mul(sources, g.tf.expandDims(blendWeights, g.i32(-1))), g.i32(1));
      } else {
        blendIndex = null;
        blendWeights = null;
        blended = null;
      }
    } else {
      packIndex = null;
      packed = null;
      blendIndex = null;
      blendWeights = null;
      blended = null;
    }
  }

  /** One of the projector's linear layers, with its bias unless the config has none. */
  private static Operand<TFloat32> projectorLayer(
      GraphOps g,
      DeviceWeights weights,
      Checkpoint ckpt,
      LlavaConfig config,
      String prefix,
      Operand<TFloat32> x) {
    Linear w = weights.linear(ckpt.tensor(prefix + "weight"));
    return config.projectorBias()
        ? g.linear(x, w, weights.of(ckpt.tensor(prefix + "bias")))
        : g.linear(x, w);
  }

  /**
   * The patch convolution without its bias (stride = kernel = patch, so a reshape and one matmul):
   * pixels [n, c, side, side] -> [n * grid * grid, hidden], patches row-major.
   */
  private static Operand<TFloat32> patchProjection(
      GraphOps g,
      DeviceWeights weights,
      Checkpoint ckpt,
      VisionConfig v,
      Operand<org.tensorflow.types.TInt32> n,
      Operand<TFloat32> pixels) {
    int c = v.numChannels();
    int p = v.patchSize();
    int grid = v.patchesPerSide();
    // A valid convolution ignores the pixels past the last whole patch (SigLIP: 384 = 27 * 14 + 6).
    Operand<TFloat32> covered = pixels;
    if (grid * p != v.imageSize()) {
      covered =
          g.tf.slice(
              pixels,
              g.tf.constant(new int[] {0, 0, 0, 0}),
              g.tf.constant(new int[] {-1, c, grid * p, grid * p}));
    }
    // [n, c, grid, p, grid, p] -> [n, grid, grid, c, p, p] -> [n*grid*grid, c*p*p]
    Operand<TFloat32> patches =
        g.reshape(
            g.transpose(g.reshape(covered, n, c, grid, p, grid, p), 0, 2, 4, 1, 3, 5),
            g.mulDims(n, g.i32(grid * grid)),
            c * p * p);
    Operand<TFloat32> patchW =
        weights.of(
            ckpt.tensor(PRE + "embeddings.patch_embedding.weight"),
            v.hiddenSize(),
            (long) c * p * p);
    return g.linearTransposed(patches, patchW);
  }

  /**
   * CLIP: the class embedding prepended, learned positions added, then {@code pre_layrnorm}:
   * [n*grid*grid, hidden] -> [n*tokens, hidden].
   */
  private static Operand<TFloat32> clipEmbeddings(
      GraphOps g,
      DeviceWeights weights,
      Checkpoint ckpt,
      VisionConfig v,
      Operand<org.tensorflow.types.TInt32> n,
      Operand<TFloat32> projected) {
    int hidden = v.hiddenSize();
    Operand<TFloat32> embedded = g.reshape(projected, n, v.numPatches(), hidden);
    Operand<TFloat32> cls =
        weights.of(ckpt.tensor(PRE + "embeddings.class_embedding"), 1, 1, hidden);
    Operand<TFloat32> clsTiled = g.tf.tile(cls, g.tf.stack(List.of(n, g.i32(1), g.i32(1))));
    Operand<TFloat32> x = g.concat(1, List.of(clsTiled, embedded)); // [n, tokens, hidden]
    x = g.add(x, weights.of(ckpt.tensor(PRE + "embeddings.position_embedding.weight")));
    x = g.reshape(x, g.mulDims(n, g.i32(v.sequenceLength())), hidden);
    return g.layerNorm(
        x,
        weights.of(ckpt.tensor(PRE + "pre_layrnorm.weight")),
        weights.of(ckpt.tensor(PRE + "pre_layrnorm.bias")),
        v.layerNormEps());
  }

  /**
   * SigLIP: the convolution's bias and learned positions added, no class token and no norm:
   * [n*grid*grid, hidden] -> [n*tokens, hidden] (tokens = grid * grid).
   */
  private static Operand<TFloat32> siglipEmbeddings(
      GraphOps g,
      DeviceWeights weights,
      Checkpoint ckpt,
      VisionConfig v,
      Operand<org.tensorflow.types.TInt32> n,
      Operand<TFloat32> projected) {
    int hidden = v.hiddenSize();
    int tokens = v.sequenceLength();
    Operand<TFloat32> biased =
        g.add(projected, weights.of(ckpt.tensor(PRE + "embeddings.patch_embedding.bias")));
    Operand<TFloat32> x =
        g.add(
            g.reshape(biased, n, tokens, hidden),
            weights.of(ckpt.tensor(PRE + "embeddings.position_embedding.weight")));
    return g.reshape(x, g.mulDims(n, g.i32(tokens)), hidden);
  }

  private static Operand<TFloat32> heads(
      GraphOps g,
      Operand<TFloat32> x,
      Operand<org.tensorflow.types.TInt32> n,
      int tokens,
      int heads,
      int headDim) {
    return g.transpose(g.reshape(x, n, tokens, heads, headDim), 0, 2, 1, 3);
  }
}
