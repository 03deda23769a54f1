package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.NativeKernels;
import io.llavaserve.engine.prompt.ToolCallParser;
import io.llavaserve.engine.quantization.Quantization;
import io.llavaserve.web.ServerConfig;
import io.llavaserve.web.batchjobs.BatchConfig;
import io.llavaserve.web.cluster.ClusterConfig;
import io.llavaserve.web.cluster.NodeRole;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The layered settings mapped to records: defaults, file, environment, flags, in that order. */
class ServingConfigTest {

  @TempDir Path dir;

  @Test
  void theBundledDefaultsAreTheRecordsDefaults() throws Exception {
    ServingConfig c = ServingConfig.from(Settings.load(null, Map.of()));
    assertEquals(EngineConfig.defaults(), c.engine());
    BatchConfig batch = new BatchConfig(DefaultModel.cacheBase().resolve("data"), 48, 200L << 20);
    assertEquals(ServerConfig.builder().batch(batch).build(), c.server());
    assertEquals(1L << 30, c.model().kvCacheBytes());
    assertEquals(16, c.model().blockSize());
    assertEquals("", c.modelPath());
  }

  @Test
  void aFileThenTheEnvironmentThenFlagsOverrideAKey() throws Exception {
    Path file = dir.resolve("serve.properties");
    Files.writeString(
        file, "model.kv-cache-mb=64\nserver.api-keys=a, b\nscheduler.max-num-seqs=5\n");
    Settings fromFile = Settings.load(file, Map.of());
    assertEquals(64L << 20, ServingConfig.model(fromFile).kvCacheBytes());
    assertEquals(List.of("a", "b"), ServingConfig.server(fromFile).apiKeys());

    Settings env =
        Settings.load(
            file,
            Map.of(
                "LLAVA_SERVE_MODEL_KV_CACHE_MB", "32", "LLAVA_SERVE_SCHEDULER_MAX_NUM_SEQS", "7"));
    assertEquals(32L << 20, ServingConfig.model(env).kvCacheBytes());
    assertEquals(7, ServingConfig.engine(env).scheduler().maxNumSeqs());

    Settings flags = env.with(Map.of("scheduler.max-num-seqs", "9"));
    assertEquals(9, ServingConfig.engine(flags).scheduler().maxNumSeqs());
    assertEquals(32L << 20, ServingConfig.model(flags).kvCacheBytes(), "other keys stay");
  }

  @Test
  void theConfigFileMayComeFromTheEnvironment() throws Exception {
    Path file = dir.resolve("env.properties");
    Files.writeString(file, "server.port=9123\n");
    Settings s = Settings.load(null, Map.of("LLAVA_SERVE_CONFIG", file.toString()));
    assertEquals(9123, ServingConfig.server(s).port());
  }

  @Test
  void serveFlagsReachTheRecordsThroughTheirKeys() throws Exception {
    ServeCommand serve = new ServeCommand();
    new CommandLine(serve)
        .parseArgs(
            "--model",
            dir.toString(),
            "--kv-cache-mb",
            "8",
            "--no-pad",
            "--max-num-seqs",
            "3",
            "--max-num-batched-tokens",
            "96",
            "--port",
            "0",
            "--api-key",
            "k1,k2",
            "--served-model-name",
            "mine");
    ServingConfig c = serve.config();
    assertEquals(dir.toString(), c.modelPath());
    assertEquals(8L << 20, c.model().kvCacheBytes());
    assertFalse(c.model().padToSquare());
    assertEquals(3, c.engine().scheduler().maxNumSeqs());
    assertEquals(96, c.engine().scheduler().maxNumBatchedTokens());
    assertEquals(0, c.server().port());
    assertEquals(List.of("k1", "k2"), c.server().apiKeys());
    assertEquals("mine", c.modelId(dir));
  }

  @Test
  void clusterKeysComeFromTheEnvironmentAndTheServeFlags() throws Exception {
    Settings env =
        Settings.load(
            null,
            Map.of(
                "LLAVA_SERVE_CLUSTER_PORT", "5702",
                "LLAVA_SERVE_CLUSTER_ROUTING_BALANCE_REL_THRESHOLD", "1.5",
                "LLAVA_SERVE_CLUSTER_ROUTING_CACHE_AWARE", "false",
                "LLAVA_SERVE_CLUSTER_ENGINE_TIMEOUT_MS", "4000"));
    ServeCommand serve = new ServeCommand();
    new CommandLine(serve)
        .parseArgs("--cluster", "--role", "gateway", "--cluster-members", "10.0.0.1:5701,b:5701");
    ClusterConfig c = ServingConfig.server(env.with(serve.flags())).cluster();
    assertTrue(c.enabled());
    assertEquals(NodeRole.GATEWAY, c.role());
    assertEquals(List.of("10.0.0.1:5701", "b:5701"), c.members());
    assertEquals(5702, c.port());
    assertEquals(1.5, c.balanceRelThreshold());
    assertEquals(32, c.balanceAbsThreshold());
    assertFalse(c.cacheAware());
    assertTrue(ClusterConfig.off().cacheAware());
    assertEquals(4000, c.engineTimeoutMillis());
    assertFalse(c.multicast());
    assertEquals(ClusterConfig.off(), ServingConfig.cluster(Settings.load(null, Map.of())));
    assertThrows(
        IllegalArgumentException.class,
        () ->
            ServingConfig.cluster(Settings.load(null, Map.of("LLAVA_SERVE_CLUSTER_ROLE", "boss"))));
  }

  @Test
  void theMatmulPrecisionIsAutoByDefaultAndFloat16MayBeChosenByKeyOrFlag() throws Exception {
    Settings s = Settings.load(null, Map.of());
    assertEquals(MatmulPrecision.AUTO, ServingConfig.model(s).matmulPrecision());
    assertEquals(
        MatmulPrecision.FLOAT16,
        ServingConfig.model(s.with(Map.of("model.matmul-precision", "float16"))).matmulPrecision());
    ServeCommand serve = new ServeCommand();
    new CommandLine(serve)
        .setCaseInsensitiveEnumValuesAllowed(true)
        .parseArgs("--matmul-precision", "float16");
    assertEquals(MatmulPrecision.FLOAT16, serve.config().model().matmulPrecision());
  }

  @Test
  void quantizationIsNoneByDefaultAndInt8OrInt4MayBeChosenByKeyEnvironmentOrFlag()
      throws Exception {
    Settings s = Settings.load(null, Map.of());
    assertEquals(Quantization.NONE, ServingConfig.model(s).quantization());
    assertEquals(
        Quantization.INT8,
        ServingConfig.model(s.with(Map.of("model.quantization", "int8"))).quantization());
    Settings env = Settings.load(null, Map.of("LLAVA_SERVE_MODEL_QUANTIZATION", "INT8"));
    assertEquals(Quantization.INT8, ServingConfig.model(env).quantization());
    ServeCommand serve = new ServeCommand();
    new CommandLine(serve)
        .setCaseInsensitiveEnumValuesAllowed(true)
        .parseArgs("--quantization", "int8");
    assertEquals(Quantization.INT8, serve.config().model().quantization());
    assertEquals(
        Quantization.INT4,
        ServingConfig.model(s.with(Map.of("model.quantization", "int4"))).quantization());
    ServeCommand int4 = new ServeCommand();
    new CommandLine(int4)
        .setCaseInsensitiveEnumValuesAllowed(true)
        .parseArgs("--quantization", "int4");
    assertEquals(Quantization.INT4, int4.config().model().quantization());
    IllegalArgumentException bad =
        assertThrows(
            IllegalArgumentException.class,
            () -> ServingConfig.model(s.with(Map.of("model.quantization", "int2"))));
    assertEquals(
        "configuration key model.quantization must be one of [none, int8, int4], got \"int2\"",
        bad.getMessage());
  }

  @Test
  void int8ActivationRowsAreAutoByDefaultMayBeZeroAndAreNamedWhenNegative() throws Exception {
    Settings s = Settings.load(null, Map.of());
    int auto = NativeKernels.int8InPlace() ? 1 : 16;
    int autoInt4 = NativeKernels.int8InPlace() || NativeKernels.int4InPlaceAvx2() ? 1 : 2;
    assertEquals(auto, ModelOptions.autoInt8ActivationRows(Quantization.INT8));
    assertEquals(autoInt4, ModelOptions.autoInt8ActivationRows(Quantization.INT4));
    assertEquals(auto, ServingConfig.model(s).int8ActivationRows());
    assertEquals(
        autoInt4,
        ServingConfig.model(s.with(Map.of("model.quantization", "int4"))).int8ActivationRows());
    assertEquals(
        auto,
        ServingConfig.model(s.with(Map.of("model.quantization", "int8"))).int8ActivationRows());
    assertEquals(
        autoInt4,
        ModelOptions.builder().quantization(Quantization.INT4).build().int8ActivationRows());
    assertEquals(
        auto,
        ServingConfig.model(s.with(Map.of("model.int8-activation-rows", "AUTO")))
            .int8ActivationRows());
    assertEquals(
        16,
        ServingConfig.model(s.with(Map.of("model.int8-activation-rows", "16")))
            .int8ActivationRows());
    assertEquals(
        0,
        ServingConfig.model(s.with(Map.of("model.int8-activation-rows", "0")))
            .int8ActivationRows());
    ServeCommand serve = new ServeCommand();
    new CommandLine(serve).parseArgs("--int8-activation-rows", "64");
    assertEquals(64, serve.config().model().int8ActivationRows());
    IllegalArgumentException bad =
        assertThrows(
            IllegalArgumentException.class,
            () -> ServingConfig.model(s.with(Map.of("model.int8-activation-rows", "-1"))));
    assertEquals(
        "configuration key model.int8-activation-rows must be auto or >= 0 (0 for never), got -1",
        bad.getMessage());
  }

  @Test
  void theToolCallParserIsAutoByDefaultAndANamedOneMayBeChosenByKeyEnvironmentOrFlag()
      throws Exception {
    Settings s = Settings.load(null, Map.of());
    assertEquals(ToolCallParser.AUTO, ServingConfig.model(s).toolCallParser());
    assertEquals(
        ToolCallParser.PYTHONIC,
        ServingConfig.model(s.with(Map.of("model.tool-call-parser", "pythonic"))).toolCallParser());
    Settings env = Settings.load(null, Map.of("LLAVA_SERVE_MODEL_TOOL_CALL_PARSER", "LLAMA3_JSON"));
    assertEquals(ToolCallParser.LLAMA3_JSON, ServingConfig.model(env).toolCallParser());
    ServeCommand serve = new ServeCommand();
    new CommandLine(serve).parseArgs("--tool-call-parser", "none");
    assertEquals(ToolCallParser.NONE, serve.config().model().toolCallParser());
    ServeCommand mistral = new ServeCommand();
    new CommandLine(mistral).parseArgs("--tool-call-parser", "mistral");
    assertEquals(ToolCallParser.MISTRAL, mistral.config().model().toolCallParser());
    ServeCommand unknown = new ServeCommand();
    new CommandLine(unknown).parseArgs("--tool-call-parser", "qwen3_coder");
    IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, unknown::config);
    assertEquals(
        "configuration key model.tool-call-parser must be one of [auto, hermes, llama3_json,"
            + " mistral, pythonic, none], got \"qwen3_coder\"",
        bad.getMessage());
  }

  @Test
  void theModelIdIsTheServedNameElseTheEmbeddedIdElseTheFolder() throws Exception {
    Settings s = Settings.load(null, Map.of());
    Path folder = dir.resolve("llava-1.5-7b");
    assertEquals(ServingConfig.EMBEDDED_MODEL_ID, ServingConfig.from(s).modelId(folder));
    Settings path = s.with(Map.of("model.path", folder.toString()));
    assertEquals("llava-1.5-7b", ServingConfig.from(path).modelId(folder));
    Settings named = path.with(Map.of("model.served-name", "mine"));
    assertEquals("mine", ServingConfig.from(named).modelId(folder));
  }

  @Test
  void aBadValueOrAnUnknownFlagKeyIsRefusedByName() throws Exception {
    Settings s = Settings.load(null, Map.of());
    IllegalArgumentException bad =
        assertThrows(
            IllegalArgumentException.class,
            () -> ServingConfig.engine(s.with(Map.of("scheduler.max-num-seqs", "many"))));
    assertEquals(
        "configuration key scheduler.max-num-seqs must be an integer, got \"many\"",
        bad.getMessage());
    assertThrows(IllegalArgumentException.class, () -> s.with(Map.of("scheduler.nope", "1")));
  }
}
