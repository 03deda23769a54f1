package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.VisionConfig;
import io.llavaserve.engine.graph.MatmulProbe;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.image.PixelValues;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Image encode time of real-sized vision towers: a CLIP ViT-L/14 at 336 px (llava-1.5's) and a
 * SigLIP-so400m at 384 px (LLaVA-OneVision's and llava-interleave's), each written with random
 * weights in float16 and loaded with the flags' options, or the tower of {@code --model}; images in
 * batches of each size through one encoder run, against the same run's TensorFlow matmul probe at
 * the tower's own shape.
 */
@Command(
    name = "vision",
    description =
        "Measure image encode time of a CLIP-L/336 and a SigLIP-so400m/384 tower (random weights,"
            + " float16), or of --model's tower, against the same run's matmul probe.")
final class BenchVisionCommand implements Callable<Integer> {

  /** The tower shapes measured by default, by name. */
  enum Tower {
    CLIP_L_336("clip-l-336"),
    SIGLIP_384("siglip-so400m-384");

    final String label;

    Tower(String label) {
      this.label = label;
    }

    TinySpec spec() {
      return this == CLIP_L_336 ? TinySpec.clipLargeTower() : TinySpec.siglipTower();
    }
  }

  @Mixin ModelOption model;

  @Option(
      names = "--images",
      split = ",",
      defaultValue = "1,4",
      description = "Images per encoder run (default: ${DEFAULT-VALUE}).")
  int[] images;

  @Option(
      names = "--repeats",
      defaultValue = "3",
      description = "Timed runs per batch, the best kept (default: ${DEFAULT-VALUE}).")
  int repeats;

  @Option(
      names = "--work-dir",
      description = "Where the towers' checkpoints are written (default: a temporary folder).")
  Path workDir;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (repeats < 1 || Arrays.stream(images).anyMatch(n -> n < 1)) {
      throw new IllegalArgumentException("--repeats and --images must be >= 1");
    }
    PrintWriter out = spec.commandLine().getOut();
    ModelOptions options = model.options().withKvCacheBytes(16L << 20);
    TfModelRunner.Threads threads = options.threads();
    out.printf(
        "%-20s %7s %6s %8s %12s %10s %12s %12s%n",
        "tower", "tokens", "layers", "images", "ms / image", "GFLOP/img", "GFLOP/s", "of probe");
    if (model.settings().string("model.path").isEmpty()) {
      Path dir = workDir != null ? workDir : Files.createTempDirectory("llava-bench-vision");
      for (Tower t : Tower.values()) {
        Path ckpt = dir.resolve(t.label);
        if (!Files.exists(ckpt.resolve("config.json"))) {
          TinyCheckpoint.write(ckpt, t.spec());
        }
        measure(t.label, ckpt, options, threads, out);
      }
    } else {
      Path dir = model.resolve();
      measure(dir.getFileName().toString(), dir, options, threads, out);
    }
    return 0;
  }

  private void measure(
      String name, Path dir, ModelOptions options, TfModelRunner.Threads threads, PrintWriter out)
      throws Exception {
    try (LlavaModel m = LlavaModel.load(dir, options)) {
      LlavaConfig config = m.config();
      VisionConfig v = config.vision();
      int tokens = v.sequenceLength();
      int layers = config.visionLayersUsed();
      double gflop = flopsPerImage(config) / 1e9;
      MatmulProbe.Result probe =
          MatmulProbe.measure(tokens, v.hiddenSize(), v.intermediateSize(), 5, threads);
      SplittableRandom rnd = new SplittableRandom(5);
      for (int n : images) {
        List<PixelValues> batch = new ArrayList<>();
        for (int i = 0; i < n; i++) {
          float[] px = new float[v.numChannels() * v.imageSize() * v.imageSize()];
          for (int j = 0; j < px.length; j++) {
            px[j] = (float) (rnd.nextDouble() * 4 - 2);
          }
          batch.add(PixelValues.of(v.numChannels(), v.imageSize(), v.imageSize(), px));
        }
        m.runner().encodeImages(batch); // warm-up: first run of this batch shape
        double best = Double.MAX_VALUE;
        for (int r = 0; r < repeats; r++) {
          long start = System.nanoTime();
          m.runner().encodeImages(batch);
          best = Math.min(best, (System.nanoTime() - start) / 1e9);
        }
        double perImage = best / n;
        out.printf(
            Locale.ROOT,
            "%-20s %7d %6d %8d %12.1f %10.1f %12.1f %11.0f%%%n",
            name,
            tokens,
            layers,
            n,
            perImage * 1e3,
            gflop,
            gflop / perImage,
            100 * gflop / perImage / probe.gflops());
      }
      out.printf(
          Locale.ROOT,
          "  (probe: TensorFlow float32 matmul of %d x %d by %d x %d, %.1f GFLOP/s)%n",
          tokens,
          v.hiddenSize(),
          v.hiddenSize(),
          v.intermediateSize(),
          probe.gflops());
      out.flush();
    }
  }

  /**
   * The multiply-adds (times two) of one image through the layers that run: the patch embedding,
   * per layer q, k, v, o and the MLP's two matmuls over every token and attention's two products,
   * then the projector's two layers over the kept tokens.
   */
  static double flopsPerImage(LlavaConfig config) {
    VisionConfig v = config.vision();
    double t = v.sequenceLength();
    double d = v.hiddenSize();
    double patch = v.numPatches() * 3.0 * v.patchSize() * v.patchSize() * d;
    double layer = t * (4 * d * d + 2 * d * v.intermediateSize()) + 2 * t * t * d;
    double h = config.text().hiddenSize();
    double projector = config.imageSeqLength() * (d * h + h * h);
    return 2 * (patch + config.visionLayersUsed() * layer + projector);
  }
}
