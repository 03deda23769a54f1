package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.prompt.ToolCallIds;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.llavaserve.engine.quantization.Quantization;
import io.llavaserve.web.cluster.ClusterConfig;
import io.llavaserve.web.cluster.NodeRole;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Serves the OpenAI-compatible API until SIGTERM, which drains running requests (up to {@code
 * server.drain-timeout-seconds}) before exiting. The {@link ServingStack} builds and closes what
 * runs; this command reads the flags and prints what it does.
 */
@Command(name = "serve", description = "Serve the OpenAI-compatible HTTP API.")
final class ServeCommand implements Callable<Integer> {

  @Mixin ModelOption model;

  @Mixin EngineOptions engine;

  @Option(names = "--host", paramLabel = "ADDR", description = "Interface to bind (server.host).")
  String host;

  @Option(names = "--port", paramLabel = "N", description = "TCP port (server.port).")
  Integer port;

  @Option(
      names = "--api-key",
      paramLabel = "KEY",
      split = ",",
      description = "Accepted bearer key, repeatable (server.api-keys).")
  List<String> apiKeys;

  @Option(
      names = "--served-model-name",
      paramLabel = "ID",
      description = "Model id clients use (model.served-name).")
  String servedName;

  @Option(
      names = "--tool-call-parser",
      paramLabel = "P",
      description =
          "auto (decided from the chat template and tokenizer), hermes, llama3_json, mistral,"
              + " pythonic, or none (tool calls off) (model.tool-call-parser).")
  String toolCallParser;

  @Option(
      names = "--cluster",
      description = "Join a cluster of gateways and engine nodes (cluster.enabled).")
  Boolean cluster;

  @Option(
      names = "--role",
      paramLabel = "ROLE",
      description = "gateway, engine or both, in a cluster (cluster.role).")
  String role;

  @Option(
      names = "--cluster-members",
      paramLabel = "HOST:PORT,...",
      description = "Members to join by TCP (cluster.members).")
  String members;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    ServingConfig config = config();
    ClusterConfig cluster = config.server().cluster();
    if (cluster.enabled() && cluster.role() == NodeRole.GATEWAY) {
      return gateway(config, out);
    }
    Path dir = model.resolve();
    String id = config.modelId(dir);
    String host = config.server().host();
    // Bind first: while the model loads, /health answers 200 and /ready and the API 503.
    ServingStack stack = ServingStack.bind(config.server());
    try {
      out.printf("listening on http://%s:%d; loading %s%n", host, stack.server().port(), dir);
      out.flush();
      stack.load(dir, config.model()).startEngine(config.engine()).serve(id, config.media());
    } catch (Exception e) {
      stack.close();
      throw e;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  stack.drain();
                  stopped.countDown();
                },
                "llava-serve-drain"));
    LlavaModel m = stack.model();
    out.printf(
        "serving %s on http://%s:%d (model loaded in %.1f s; %s; %s, %s KV cache of %d tokens, %s"
            + " attention, %s kernels; tool calls read as %s)%n",
        id,
        host,
        stack.server().port(),
        m.loadMillis() / 1000.0,
        describe(m.config()),
        weights(
                m.options().matmulPrecision(),
                m.runner().nativeMatMul(),
                m.runner().quantization(),
                m.runner().nativeQuantizedMatMul())
            + (m.kernels().containsKey("activations")
                ? ", activations " + m.kernels().get("activations")
                : ""),
        m.runner().kvCache().dtype().name().toLowerCase(Locale.ROOT),
        m.runner().kvCache().capacityTokens(),
        m.runner().nativeAttention() ? "native" : "graph",
        m.kernels().get("cpu_path"),
        describe(m.toolCallSyntax()));
    out.flush();
    stopped.await();
    return 0;
  }

  /**
   * The weights for the banner: the matmuls' element type, and where the language model's Linear
   * weights are quantized, that first.
   */
  static String weights(
      MatmulPrecision precision,
      boolean nativeMatMul,
      Quantization quantization,
      boolean nativeQuantized) {
    String matmuls =
        precision.name().toLowerCase(Locale.ROOT) + " matmuls" + (nativeMatMul ? " (native)" : "");
    String blocks =
        switch (quantization) {
          case NONE -> null;
          case INT8 -> "int8 language-model weights (Q8_0 blocks, ";
          case INT4 -> "int4 language-model weights (Q4_1 blocks, ";
        };
    return blocks == null
        ? matmuls
        : blocks
            + (nativeQuantized ? "native" : "dequantized by stock ops")
            + "), "
            + matmuls
            + " elsewhere";
  }

  /** A cluster gateway: no model; it serves until SIGTERM, which drains its requests. */
  private int gateway(ServingConfig config, PrintWriter out) throws Exception {
    ServingStack stack = ServingStack.bind(config.server());
    try {
      stack.serveGateway();
    } catch (Exception e) {
      stack.close();
      throw e;
    }
    ClusterConfig c = config.server().cluster();
    out.printf(
        "gateway on http://%s:%d; cluster member %s:%d (node %s)%n",
        config.server().host(),
        stack.server().port(),
        c.host(),
        c.port(),
        stack.server().cluster().nodeId());
    out.flush();
    awaitStop(stack);
    return 0;
  }

  /** Blocks until SIGTERM has drained the stack. */
  private static void awaitStop(ServingStack stack) throws InterruptedException {
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  stack.drain();
                  stopped.countDown();
                },
                "llava-serve-drain"));
    stopped.await();
  }

  /**
   * The tool-call format as vLLM's parser name (Mistral's v11 form told apart), and Mistral's ids
   * where they are used.
   */
  static String describe(ToolCallSyntax syntax) {
    return switch (syntax.format()) {
          case NONE -> "none (tool calls off)";
          case MISTRAL_V11 -> "mistral ([TOOL_CALLS]name[ARGS] form)";
          default -> syntax.format().parserName();
        }
        + (syntax.ids() == ToolCallIds.MISTRAL ? " with 9-character ids" : "");
  }

  /**
   * The family, tower, decoder and image positions (tiles too, for llava_next; the reduction and
   * the one-tile images of a multi-image prompt for llava_onevision), for the banner.
   */
  static String describe(io.llavaserve.engine.config.LlavaConfig c) {
    var t = c.text();
    var v = c.vision();
    String images;
    if (c.isAnyResolution()) {
      var anyres = c.anyResolution();
      int fewest = Integer.MAX_VALUE;
      for (var r : anyres.pinpoints()) {
        fewest = Math.min(fewest, 1 + (r.height() / v.imageSize()) * (r.width() / v.imageSize()));
      }
      images =
          String.format(
              Locale.ROOT,
              "%d to %d tiles of %d px per image (pinpoints %s), %d positions per tile;"
                  + " %d positions for a 640 x 480 image",
              fewest,
              anyres.maxTiles(),
              v.imageSize(),
              pinpoints(anyres.pinpoints()),
              anyres.featuresPerTile(),
              c.imagePositions(480, 640));
      if (anyres.isOneVision()) {
        images +=
            String.format(
                Locale.ROOT,
                "; anyres_max_%d: grid maps past %d tiles' worth reduced by bilinear"
                    + " interpolation, at most %d positions an image; in a prompt with several"
                    + " images each is one tile, %d positions",
                anyres.anyresMax(),
                anyres.anyresMax(),
                anyres.maxPositions(),
                anyres.positions(1, 1, 1));
      }
    } else {
      images = c.imageSeqLength() + " positions per image";
    }
    return String.format(
        Locale.ROOT,
        "%s: %s tower %d x %d layers at %d px, %s decoder %d x %d layers%s, %s",
        c.modelType(),
        v.family() == io.llavaserve.engine.config.VisionFamily.SIGLIP ? "SigLIP" : "CLIP",
        v.hiddenSize(),
        v.numHiddenLayers(),
        v.imageSize(),
        t.family().modelType(),
        t.hiddenSize(),
        t.numHiddenLayers(),
        t.slidingWindow() > 0
            ? ", context limited to its " + t.slidingWindow() + "-token window"
            : "",
        images);
  }

  /** The pinpoints listed, or for many (OneVision's 36) their count and range. */
  private static String pinpoints(
      java.util.List<io.llavaserve.engine.config.AnyResolution.Resolution> all) {
    if (all.size() <= 8) {
      return all.stream().map(Object::toString).collect(java.util.stream.Collectors.joining(" "));
    }
    return all.size() + ", " + all.get(0) + " to " + all.get(all.size() - 1);
  }

  /** The settings under every flag given, as records. */
  ServingConfig config() throws IOException {
    return ServingConfig.from(model.settings().with(engine.flags()).with(flags()));
  }

  /** This command's own flags, each as the key it overrides. */
  Map<String, String> flags() {
    return Settings.flags(
        "server.host", host,
        "server.port", port,
        "server.api-keys", apiKeys != null ? String.join(",", apiKeys) : null,
        "model.served-name", servedName,
        "model.tool-call-parser", toolCallParser,
        "cluster.enabled", cluster != null && cluster ? "true" : null,
        "cluster.role", role,
        "cluster.members", members);
  }
}
