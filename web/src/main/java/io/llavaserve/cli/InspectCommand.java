package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.prompt.PromptBuilder;
import io.llavaserve.engine.runner.ExpandedPrompt;
import io.llavaserve.engine.runner.ImageFeatures;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Writes what the model sees and computes for one prompt: prompt ids, preprocessed pixels and the
 * logits at every position of the expanded sequence, for comparison with other implementations. For
 * llava_next the pixels are every image's tiles as LlavaNextImageProcessor batches them ({@code
 * [n_images, max_tiles, 3, H, W]}, zero tiles past an image's own) and {@code image_sizes.json}
 * holds each image's {@code [height, width]}.
 */
@Command(name = "inspect", description = "Dump prompt ids, pixel values and all-position logits.")
final class InspectCommand implements Callable<Integer> {

  @Mixin ModelOption model;
  @Mixin PromptOptions prompt;
  @Spec CommandSpec spec;

  @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
  Path out;

  @Override
  public Integer call() throws Exception {
    Files.createDirectories(out);
    try (LlavaModel m = model.load()) {
      PromptBuilder.Prompt p = prompt.build(m);
      List<PixelValues> pixels = prompt.pixels(m);
      if (p.imageCount() != pixels.size()) {
        throw new IllegalArgumentException(
            "the prompt has "
                + p.imageCount()
                + " image tokens but "
                + pixels.size()
                + " --image files were given");
      }
      Files.writeString(
          out.resolve("prompt_ids.json"),
          Arrays.toString(p.ids()).replace(" ", ""),
          StandardCharsets.UTF_8);

      int c = m.config().vision().numChannels();
      int side = m.config().vision().imageSize();
      int per = c * side * side;
      if (m.config().isAnyResolution()) {
        writeTiles(pixels, c, side);
        if (m.config().isOneVision()) {
          // LlavaOnevisionProcessor's batch_num_images: the model tiles only a lone image.
          Files.writeString(
              out.resolve("batch_num_images.json"),
              "[" + pixels.size() + "]",
              StandardCharsets.UTF_8);
        }
      } else {
        Npy.writeFloat32(
            out.resolve("pixel_values.npy"),
            new long[] {pixels.size(), c, side, side},
            i -> pixels.get((int) (i / per)).data()[(int) (i % per)]);
      }

      ExpandedPrompt e = m.expand(p.ids(), pixels);
      KvCacheConfig kv = m.runner().kvCache();
      if (e.length() > kv.capacityTokens()) {
        throw new IllegalArgumentException(
            "the expanded prompt has "
                + e.length()
                + " positions; the KV cache holds "
                + kv.capacityTokens());
      }
      int[] table = new int[kv.numBlocks()];
      Arrays.setAll(table, i -> i);
      List<ImageFeatures> features = m.runner().encodeImages(pixels);
      int vocab = m.runner().vocabSize();
      List<float[]> chunks = new ArrayList<>();
      for (int from = 0; from < e.length(); from += 512) {
        int to = Math.min(e.length(), from + 512);
        SequenceChunk chunk =
            new SequenceChunk(e.slice(from, to), from, table, e.placements(from, to, features));
        StepOutput o = m.runner().execute(new ScheduledBatch(List.of(chunk), true));
        chunks.add(o.logits());
      }
      long rowsPerChunk = 512L * vocab;
      Npy.writeFloat32(
          out.resolve("logits.npy"),
          new long[] {e.length(), vocab},
          i -> chunks.get((int) (i / rowsPerChunk))[(int) (i % rowsPerChunk)]);
      io.llavaserve.engine.config.VisionConfig v = m.config().vision();
      spec.commandLine()
          .getErr()
          .printf(
              "tower: %s, %d px in %d px patches (%d x %d), layer %d, strategy %s: %s%n",
              v.family().modelType(),
              side,
              v.patchSize(),
              v.patchesPerSide(),
              v.patchesPerSide(),
              m.config().visionFeatureLayer(),
              m.config().visionFeatureSelectStrategy(),
              positions(m, pixels, e));
      spec.commandLine()
          .getErr()
          .printf(
              "wrote %s: %d prompt ids, %d images, logits [%d, %d]%n",
              out, p.ids().length, pixels.size(), e.length(), vocab);
    }
    return 0;
  }

  /**
   * "576 positions per image", or for llava_next and llava_onevision each image's size, tiles and
   * positions.
   */
  private static String positions(LlavaModel m, List<PixelValues> pixels, ExpandedPrompt e) {
    if (!m.config().isAnyResolution()) {
      return m.config().imageSeqLength() + " positions per image";
    }
    List<String> each = new ArrayList<>();
    for (int i = 0; i < pixels.size(); i++) {
      PixelValues px = pixels.get(i);
      each.add(
          px.imageHeight()
              + " x "
              + px.imageWidth()
              + ": "
              + (px.tiles() == 1
                  ? "1 tile (one of " + pixels.size() + " images)"
                  : px.tiles() + " tiles")
              + ", "
              + e.imageRows(i)
              + " positions");
    }
    return m.config().imageSeqLength()
        + " positions per tile; "
        + (each.isEmpty() ? "no images" : String.join("; ", each));
  }

  /**
   * {@code pixel_values.npy} as {@code [n_images, max_tiles, c, side, side]}, tile 0 the whole
   * image, zero tiles past an image's own (for llava_onevision images among several, the one tile
   * each); {@code image_sizes.json} as {@code [[height, width], ...]}.
   */
  private void writeTiles(List<PixelValues> pixels, int c, int side) throws java.io.IOException {
    int maxTiles = pixels.stream().mapToInt(PixelValues::tiles).max().orElse(1);
    long perTile = (long) c * side * side;
    long perImage = maxTiles * perTile;
    Npy.writeFloat32(
        out.resolve("pixel_values.npy"),
        new long[] {pixels.size(), maxTiles, c, side, side},
        i -> {
          PixelValues px = pixels.get((int) (i / perImage));
          long at = i % perImage;
          return at < px.data().length ? px.data()[(int) at] : 0f;
        });
    List<String> sizes = new ArrayList<>();
    for (PixelValues px : pixels) {
      sizes.add("[" + px.imageHeight() + "," + px.imageWidth() + "]");
    }
    Files.writeString(
        out.resolve("image_sizes.json"),
        "[" + String.join(",", sizes) + "]",
        StandardCharsets.UTF_8);
  }
}
