package io.llavaserve.engine.checkpoint;

import io.llavaserve.engine.config.AnyResolution;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.config.TextFamily;
import io.llavaserve.engine.config.VisionConfig;
import io.llavaserve.engine.config.VisionFamily;
import io.llavaserve.engine.tokenizer.Qwen2TokenizerFiles;
import java.util.List;

/**
 * Every dimension of a small random LLaVA checkpoint, and how to store it. The constant parts
 * follow llava-1.5 (CLIP tower with quick_gelu, feature layer -2, CLS dropped, GELU MLP projector,
 * LLaMA decoder and tokenizer, {@code <image>} = 32000, {@code <pad>} = 32001); a SigLIP tower
 * follows llava-interleave instead (tanh GELU, LayerNorm epsilon 1e-6, feature layer -1, every
 * patch kept); a Qwen2 decoder gets a byte-level tokenizer in Qwen2's layout ({@link
 * #qwen2Layout()}), {@code <image>} still 32000 in the tiny vocabulary and 151646 in Qwen2's own.
 *
 * @param visionHidden tower width
 * @param visionIntermediate tower MLP width
 * @param visionLayers tower layers (the last is written but, with feature layer -2, unused)
 * @param visionHeads tower attention heads
 * @param imageSize input side in pixels
 * @param patchSize patch side in pixels
 * @param textHidden decoder width
 * @param textIntermediate SwiGLU width
 * @param textLayers decoder layers
 * @param textHeads query heads
 * @param textKvHeads key/value heads
 * @param vocabSize embedding rows (32064 as llava-1.5's padded vocabulary)
 * @param ropeTheta rotary base
 * @param rmsNormEps RMSNorm epsilon
 * @param tiedEmbeddings whether the LM head is the embedding matrix (then not written)
 * @param projector linear or two-layer MLP
 * @param projectorBias whether the projector's layers have biases (false writes {@code
 *     multimodal_projector_bias: false} and no bias tensors)
 * @param dtype stored element type
 * @param naming tensor names: llava-hf, newer transformers, or the original LLaVA repository
 * @param shards number of safetensors files (more than one adds an index)
 * @param seed seed of the Gaussian weights; each tensor's values depend only on it and the name
 * @param textFamily the decoder's family: LLaMA; Qwen2 (biases on q, k and v); Mistral (a sliding
 *     window of {@link #MISTRAL_SLIDING_WINDOW})
 * @param visionFamily the tower's family: CLIP, or SigLIP (written as llava-hf's
 *     llava-interleave-qwen-0.5b writes it, with a SiglipImageProcessor preprocessor config)
 * @param imageGridPinpoints empty for llava; otherwise a llava_next checkpoint (as llava-hf's
 *     llava-v1.6 writes it: {@code image_grid_pinpoints}, {@code image_newline}, a
 *     LlavaNextImageProcessor preprocessor config) tiling images at these resolutions
 * @param anyresMax with pinpoints, a llava_onevision checkpoint of {@code vision_aspect_ratio:
 *     anyres_max_N} for N &gt; 0 (as llava-hf's llava-onevision writes it: a
 *     LlavaOnevisionImageProcessor preprocessor config, processor_config.json and the ChatML chat
 *     template in chat_template.json); 0 for llava and llava_next
 */
public record TinySpec(
    int visionHidden,
    int visionIntermediate,
    int visionLayers,
    int visionHeads,
    int imageSize,
    int patchSize,
    int textHidden,
    int textIntermediate,
    int textLayers,
    int textHeads,
    int textKvHeads,
    int vocabSize,
    double ropeTheta,
    double rmsNormEps,
    boolean tiedEmbeddings,
    ProjectorKind projector,
    boolean projectorBias,
    DType dtype,
    WeightNaming naming,
    int shards,
    long seed,
    TextFamily textFamily,
    VisionFamily visionFamily,
    List<AnyResolution.Resolution> imageGridPinpoints,
    int anyresMax) {

  public static final int IMAGE_TOKEN_INDEX = 32000;
  public static final int PAD_TOKEN_ID = 32001;
  public static final int MAX_POSITION_EMBEDDINGS = 4096;

  /** Qwen2's embedding rows; a Qwen2 decoder this wide takes Qwen2's own special ids. */
  public static final int QWEN2_VOCAB_SIZE = 151936;

  /** The sliding window written for the Mistral family, shorter than the positions. */
  public static final int MISTRAL_SLIDING_WINDOW = 1024;

  /** A llava spec (one tile per image). */
  public TinySpec(
      int visionHidden,
      int visionIntermediate,
      int visionLayers,
      int visionHeads,
      int imageSize,
      int patchSize,
      int textHidden,
      int textIntermediate,
      int textLayers,
      int textHeads,
      int textKvHeads,
      int vocabSize,
      double ropeTheta,
      double rmsNormEps,
      boolean tiedEmbeddings,
      ProjectorKind projector,
      DType dtype,
      WeightNaming naming,
      int shards,
      long seed,
      TextFamily textFamily,
      VisionFamily visionFamily) {
    this(
        visionHidden,
        visionIntermediate,
        visionLayers,
        visionHeads,
        imageSize,
        patchSize,
        textHidden,
        textIntermediate,
        textLayers,
        textHeads,
        textKvHeads,
        vocabSize,
        ropeTheta,
        rmsNormEps,
        tiedEmbeddings,
        projector,
        true,
        dtype,
        naming,
        shards,
        seed,
        textFamily,
        visionFamily,
        List.of(),
        0);
  }

  public TinySpec {
    if (textFamily == null) {
      throw new IllegalArgumentException("textFamily must not be null");
    }
    if (visionFamily == null) {
      throw new IllegalArgumentException("visionFamily must not be null");
    }
    imageGridPinpoints = List.copyOf(imageGridPinpoints);
    if (anyresMax != 0 && imageGridPinpoints.isEmpty()) {
      throw new IllegalArgumentException("anyres_max_" + anyresMax + " needs pinpoints");
    }
    if (shards < 1) {
      throw new IllegalArgumentException("shards must be >= 1, got " + shards);
    }
    int highest =
        textFamily == TextFamily.QWEN2
            ? qwen2Layout(vocabSize, anyresMax > 0).size() - 1
            : PAD_TOKEN_ID;
    if (vocabSize <= highest) {
      throw new IllegalArgumentException(
          "vocab_size must exceed " + highest + " to hold the image and special tokens");
    }
    // The config records validate every dimension.
    config(
        visionHidden,
        visionIntermediate,
        visionLayers,
        visionHeads,
        imageSize,
        patchSize,
        textHidden,
        textIntermediate,
        textLayers,
        textHeads,
        textKvHeads,
        vocabSize,
        ropeTheta,
        rmsNormEps,
        tiedEmbeddings,
        projector,
        textFamily,
        visionFamily,
        imageGridPinpoints,
        anyresMax);
  }

  /** 16 patches, 2 decoder layers, GQA (4 query heads on 2 kv heads): for unit tests. */
  public static TinySpec tiny() {
    return new TinySpec(
        32,
        64,
        3,
        2,
        56,
        14,
        64,
        128,
        2,
        4,
        2,
        32064,
        10000.0,
        1e-5,
        false,
        ProjectorKind.MLP2X_GELU,
        true,
        DType.F32,
        WeightNaming.HF,
        1,
        42L,
        TextFamily.LLAMA,
        VisionFamily.CLIP,
        List.of(),
        0);
  }

  /**
   * 576 patches like llava-1.5, a ~150M-parameter decoder, stored in float16 as llava-1.5-7b-hf is
   * (~300 MB): for benchmarks.
   */
  public static TinySpec bench() {
    return new TinySpec(
        256,
        1024,
        4,
        4,
        336,
        14,
        1024,
        2816,
        8,
        16,
        16,
        32064,
        10000.0,
        1e-5,
        false,
        ProjectorKind.MLP2X_GELU,
        true,
        DType.F16,
        WeightNaming.HF,
        1,
        42L,
        TextFamily.LLAMA,
        VisionFamily.CLIP,
        List.of(),
        0);
  }

  /**
   * A decoder shaped like Qwen2-0.5B (llava-interleave-qwen-0.5b-hf's): 896 wide, 24 layers, 14
   * query heads on 2 key/value heads, SwiGLU 4864, vocabulary 151936, rotary base 1e6, tied
   * embeddings, biases on q, k and v; stored in float16. The tower is the {@link #bench()} one.
   */
  public static TinySpec qwen2Half() {
    return bench()
        .with(
            c -> {
              c.textHidden = 896;
              c.textIntermediate = 4864;
              c.textLayers = 24;
              c.textHeads = 14;
              c.textKvHeads = 2;
              c.vocabSize = 151936;
              c.ropeTheta = 1e6;
              c.rmsNormEps = 1e-6;
              c.tiedEmbeddings = true;
              c.textFamily = TextFamily.QWEN2;
            });
  }

  /**
   * llava-interleave-qwen-0.5b's real dimensions: a SigLIP-so400m tower at 384 px (27 x 27 patches
   * of 14 px, 1152 wide, 27 layers of 16 heads, MLP 4304; every patch of the last layer kept) and
   * the {@link #qwen2Half()} decoder, stored in float16 (about 1.8 GB): for benchmarks.
   */
  public static TinySpec interleaveHalf() {
    return qwen2Half()
        .with(
            c -> {
              c.visionHidden = 1152;
              c.visionIntermediate = 4304;
              c.visionLayers = 27;
              c.visionHeads = 16;
              c.imageSize = 384;
              c.patchSize = 14;
              c.visionFamily = VisionFamily.SIGLIP;
            });
  }

  /**
   * A CLIP ViT-L/14 tower at 336 px as llava-1.5 uses it (1024 wide, 24 layers of 16 heads, MLP
   * 4096, 24 x 24 patches and the class token; features from layer -2, so 23 layers run) before a
   * one-layer 256-wide decoder, stored in float16: the tower's weights are real-sized (about 600
   * MB), the rest small, for timing image encoding ({@code bench vision}).
   */
  public static TinySpec clipLargeTower() {
    return bench()
        .withDecoder(256, 1)
        .with(
            c -> {
              c.visionHidden = 1024;
              c.visionIntermediate = 4096;
              c.visionLayers = 24;
              c.visionHeads = 16;
              c.imageSize = 336;
              c.patchSize = 14;
            });
  }

  /**
   * {@link #interleaveHalf()} with its decoder cut to one layer 256 wide: the SigLIP-so400m tower
   * at 384 px (27 x 27 patches, 1152 wide, 27 layers of 16 heads, MLP 4304, every layer run) in
   * float16 (about 800 MB), for timing image encoding ({@code bench vision}).
   */
  public static TinySpec siglipTower() {
    return interleaveHalf().withDecoder(256, 1);
  }

  /**
   * llava-interleave-qwen-0.5b's architecture, tiny: a SigLIP tower (60 px in 14 px patches, so 4 x
   * 4 = 16 patches and 4 px unused, as 384 px leaves 6 in 27 x 27 patches) and a Qwen2 decoder
   * (tied embeddings, rotary base 1e6), features from the last layer with every patch kept.
   */
  public static TinySpec siglipQwen2() {
    return tiny()
        .with(
            c -> {
              c.imageSize = 60;
              c.visionFamily = VisionFamily.SIGLIP;
              c.textFamily = TextFamily.QWEN2;
              c.tiedEmbeddings = true;
              c.ropeTheta = 1e6;
            });
  }

  /**
   * llava-v1.6-vicuna's architecture, tiny: the {@link #tiny()} CLIP tower (56 px in 14 px patches,
   * 16 features a tile) and LLaMA decoder, tiling images by llava-v1.6's pinpoints scaled from 336
   * to 56 px (2 x 1, 1 x 2, 2 x 2, 3 x 1 and 1 x 3 tiles), with an {@code image_newline}.
   */
  public static TinySpec next() {
    return tiny().withImageGridPinpoints(AnyResolution.llavaV16Pinpoints(56));
  }

  /**
   * llava-onevision-qwen2-0.5b's architecture, tiny: the {@link #siglipQwen2()} tower (60 px in 14
   * px patches, 16 features a tile, 4 px unused as 384 px leaves 6) and Qwen2 decoder, tiling a
   * lone image at OneVision's 36 pinpoints scaled from 384 to 60 px (1 to 6 tiles each way) with
   * {@code anyres_max_9}: as in the real model, a grid map past 9 tiles' worth (by 1.1) is reduced.
   */
  public static TinySpec onevision() {
    return siglipQwen2()
        .with(
            c -> {
              c.imageGridPinpoints = AnyResolution.onevisionPinpoints(60);
              c.anyresMax = AnyResolution.ONEVISION_ANYRES_MAX;
            });
  }

  /**
   * The id of {@code <image>}: 32000 after LLaMA's 32,000 pieces as in llava-1.5; for a Qwen2
   * decoder with Qwen2's 151,936 rows 151646, as in llava-interleave-qwen and
   * llava-onevision-qwen2.
   */
  public int imageTokenIndex() {
    return imageTokenIndex(textFamily, vocabSize);
  }

  /**
   * The special ids of a Qwen2 decoder's byte-level tokenizer ({@code <|endoftext|>}, {@code
   * <|im_start|>}, {@code <|im_end|>} right below {@code <image>}, and {@code <video>} after it for
   * llava_onevision), as its tokenizer files are written.
   *
   * @throws IllegalStateException for a decoder of another family
   */
  public Qwen2TokenizerFiles.Layout qwen2Layout() {
    if (textFamily != TextFamily.QWEN2) {
      throw new IllegalStateException("a " + textFamily + " decoder has no Qwen2 tokenizer");
    }
    return qwen2Layout(vocabSize, anyresMax > 0);
  }

  private static Qwen2TokenizerFiles.Layout qwen2Layout(int vocabSize, boolean video) {
    return Qwen2TokenizerFiles.Layout.forImageToken(
        imageTokenIndex(TextFamily.QWEN2, vocabSize), video);
  }

  private static int imageTokenIndex(TextFamily textFamily, int vocabSize) {
    return textFamily == TextFamily.QWEN2 && vocabSize >= QWEN2_VOCAB_SIZE
        ? Qwen2TokenizerFiles.QWEN2_IMAGE_TOKEN_ID
        : IMAGE_TOKEN_INDEX;
  }

  /** The pad id config.json names: LLaMA's {@code <pad>}, or Qwen2's {@code <|endoftext|>}. */
  private static int padTokenId(TextFamily textFamily, int vocabSize) {
    return textFamily == TextFamily.QWEN2
        ? qwen2Layout(vocabSize, false).endOfText()
        : PAD_TOKEN_ID;
  }

  /** The config a checkpoint written from this spec parses to. */
  public LlavaConfig toConfig() {
    return config(
            visionHidden,
            visionIntermediate,
            visionLayers,
            visionHeads,
            imageSize,
            patchSize,
            textHidden,
            textIntermediate,
            textLayers,
            textHeads,
            textKvHeads,
            vocabSize,
            ropeTheta,
            rmsNormEps,
            tiedEmbeddings,
            projector,
            textFamily,
            visionFamily,
            imageGridPinpoints,
            anyresMax)
        .withProjectorBias(projectorBias);
  }

  private static LlavaConfig config(
      int visionHidden,
      int visionIntermediate,
      int visionLayers,
      int visionHeads,
      int imageSize,
      int patchSize,
      int textHidden,
      int textIntermediate,
      int textLayers,
      int textHeads,
      int textKvHeads,
      int vocabSize,
      double ropeTheta,
      double rmsNormEps,
      boolean tiedEmbeddings,
      ProjectorKind projector,
      TextFamily textFamily,
      VisionFamily visionFamily,
      List<AnyResolution.Resolution> imageGridPinpoints,
      int anyresMax) {
    boolean siglip = visionFamily == VisionFamily.SIGLIP;
    VisionConfig vision =
        new VisionConfig(
            visionHidden,
            visionIntermediate,
            visionLayers,
            visionHeads,
            imageSize,
            patchSize,
            3,
            siglip ? 1e-6 : 1e-5,
            siglip ? "gelu_pytorch_tanh" : "quick_gelu",
            visionFamily);
    TextConfig text =
        new TextConfig(
                textHidden,
                textIntermediate,
                textLayers,
                textHeads,
                textKvHeads,
                textHeads > 0 ? textHidden / textHeads : 0,
                vocabSize,
                rmsNormEps,
                ropeTheta,
                MAX_POSITION_EMBEDDINGS,
                "silu",
                tiedEmbeddings)
            .withFamily(
                textFamily,
                textFamily == TextFamily.QWEN2,
                false,
                textFamily == TextFamily.MISTRAL ? MISTRAL_SLIDING_WINDOW : 0);
    return new LlavaConfig(
        vision,
        text,
        projector,
        "gelu",
        true,
        imageTokenIndex(textFamily, vocabSize),
        siglip ? -1 : -2,
        siglip ? "full" : "default",
        vision.numPatches(),
        padTokenId(textFamily, vocabSize),
        imageGridPinpoints.isEmpty()
            ? null
            : new AnyResolution(imageGridPinpoints, imageSize, vision.patchesPerSide(), anyresMax));
  }

  public TinySpec withDtype(DType dtype) {
    return with(c -> c.dtype = dtype);
  }

  public TinySpec withNaming(WeightNaming naming) {
    return with(c -> c.naming = naming);
  }

  public TinySpec withShards(int shards) {
    return with(c -> c.shards = shards);
  }

  public TinySpec withTiedEmbeddings(boolean tiedEmbeddings) {
    return with(c -> c.tiedEmbeddings = tiedEmbeddings);
  }

  public TinySpec withProjector(ProjectorKind projector) {
    return with(c -> c.projector = projector);
  }

  /** This spec with or without biases on the projector's layers. */
  public TinySpec withProjectorBias(boolean projectorBias) {
    return with(c -> c.projectorBias = projectorBias);
  }

  public TinySpec withSeed(long seed) {
    return with(c -> c.seed = seed);
  }

  public TinySpec withKeyValueHeads(int textKvHeads) {
    return with(c -> c.textKvHeads = textKvHeads);
  }

  /** This spec's decoder as another family (see {@link #textFamily()}). */
  public TinySpec withTextFamily(TextFamily textFamily) {
    return with(c -> c.textFamily = textFamily);
  }

  /** This spec's tower as another family (see {@link #visionFamily()}). */
  public TinySpec withVisionFamily(VisionFamily visionFamily) {
    return with(c -> c.visionFamily = visionFamily);
  }

  /** This spec as llava_next tiling at {@code pinpoints} (empty: llava). */
  public TinySpec withImageGridPinpoints(List<AnyResolution.Resolution> pinpoints) {
    return with(
        c -> {
          c.imageGridPinpoints = pinpoints;
          c.anyresMax = 0;
        });
  }

  /** This spec with a decoder {@code layers} deep, every other dimension kept. */
  public TinySpec withTextLayers(int layers) {
    if (layers < 1) {
      throw new IllegalArgumentException("a decoder needs at least one layer, got " + layers);
    }
    return with(c -> c.textLayers = layers);
  }

  /**
   * This spec with a decoder {@code hidden} wide and {@code layers} deep: heads of 64, as many
   * key/value heads, and a SwiGLU of 11/4 the width rounded to a multiple of 32 (256 gives 704).
   */
  public TinySpec withDecoder(int hidden, int layers) {
    if (hidden < 64 || hidden % 64 != 0 || layers < 1) {
      throw new IllegalArgumentException(
          "a decoder must be a multiple of 64 wide and at least one layer deep, got "
              + hidden
              + " x "
              + layers);
    }
    int heads = hidden / 64;
    int inter = (hidden * 11 / 4 + 31) / 32 * 32;
    return with(
        c -> {
          c.textHidden = hidden;
          c.textIntermediate = inter;
          c.textLayers = layers;
          c.textHeads = heads;
          c.textKvHeads = heads;
        });
  }

  public TinySpec withRopeTheta(double ropeTheta) {
    return with(c -> c.ropeTheta = ropeTheta);
  }

  /** A copy with {@code change} applied to a mutable view of the components. */
  private TinySpec with(java.util.function.Consumer<Copy> change) {
    Copy c = new Copy(this);
    change.accept(c);
    return c.build();
  }

  /** The components, mutable, for the {@code with} methods. */
  private static final class Copy {
    int visionHidden;
    int visionIntermediate;
    int visionLayers;
    int visionHeads;
    int imageSize;
    int patchSize;
    int textHidden;
    int textIntermediate;
    int textLayers;
    int textHeads;
    int textKvHeads;
    int vocabSize;
    double ropeTheta;
    double rmsNormEps;
    boolean tiedEmbeddings;
    ProjectorKind projector;
    boolean projectorBias;
    DType dtype;
    WeightNaming naming;
    int shards;
    long seed;
    TextFamily textFamily;
    VisionFamily visionFamily;
    List<AnyResolution.Resolution> imageGridPinpoints;
    int anyresMax;

    Copy(TinySpec s) {
      visionHidden = s.visionHidden;
      visionIntermediate = s.visionIntermediate;
      visionLayers = s.visionLayers;
      visionHeads = s.visionHeads;
      imageSize = s.imageSize;
      patchSize = s.patchSize;
      textHidden = s.textHidden;
      textIntermediate = s.textIntermediate;
      textLayers = s.textLayers;
      textHeads = s.textHeads;
      textKvHeads = s.textKvHeads;
      vocabSize = s.vocabSize;
      ropeTheta = s.ropeTheta;
      rmsNormEps = s.rmsNormEps;
      tiedEmbeddings = s.tiedEmbeddings;
      projector = s.projector;
      projectorBias = s.projectorBias;
      dtype = s.dtype;
      naming = s.naming;
      shards = s.shards;
      seed = s.seed;
      textFamily = s.textFamily;
      visionFamily = s.visionFamily;
      imageGridPinpoints = s.imageGridPinpoints;
      anyresMax = s.anyresMax;
    }

    TinySpec build() {
      return new TinySpec(
          visionHidden,
          visionIntermediate,
          visionLayers,
          visionHeads,
          imageSize,
          patchSize,
          textHidden,
          textIntermediate,
          textLayers,
          textHeads,
          textKvHeads,
          vocabSize,
          ropeTheta,
          rmsNormEps,
          tiedEmbeddings,
          projector,
          projectorBias,
          dtype,
          naming,
          shards,
          seed,
          textFamily,
          visionFamily,
          imageGridPinpoints,
          anyresMax);
    }
  }
}
