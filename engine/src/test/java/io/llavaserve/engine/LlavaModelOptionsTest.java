package io.llavaserve.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.graph.Kernels;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.runner.KvCacheConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * AUTO matmul precision never narrows the checkpoint's weights; AUTO KV cache type follows how they
 * are stored.
 */
class LlavaModelOptionsTest {

  @TempDir Path dir;

  @ParameterizedTest(name = "{0} weights with {1} kernels -> {2} matmuls")
  @CsvSource({
    "F32, AUTO, FLOAT32",
    "F32, NATIVE, FLOAT32",
    "F16, GRAPH, FLOAT32",
    "BF16, GRAPH, FLOAT32"
  })
  void autoNeverRoundsTheWeights(DType stored, Kernels kernels, MatmulPrecision expected) {
    org.junit.jupiter.api.Assumptions.assumeTrue(
        kernels != Kernels.NATIVE || io.llavaserve.engine.graph.NativeKernels.available());
    assertEquals(expected, MatmulPrecision.AUTO.resolve(stored, kernels));
    // An explicit choice is kept whatever the checkpoint.
    assertEquals(MatmulPrecision.BFLOAT16, MatmulPrecision.BFLOAT16.resolve(stored, kernels));
    assertEquals(MatmulPrecision.FLOAT16, MatmulPrecision.FLOAT16.resolve(stored, kernels));
  }

  @org.junit.jupiter.api.Test
  void bfloat16WeightsStayBfloat16WhereTheNativeMatmulRunsThem() {
    // AMX tiles where the CPU has AMX, elsewhere the column-block kernel with AVX2 and FMA.
    boolean nativeBf16 =
        io.llavaserve.engine.graph.NativeKernels.available()
            && (io.llavaserve.engine.graph.NativeKernels.cpuHasAmxBf16()
                || io.llavaserve.engine.graph.NativeKernels.cpuHasF16cFma());
    assertEquals(
        nativeBf16 ? MatmulPrecision.BFLOAT16 : MatmulPrecision.FLOAT32,
        MatmulPrecision.AUTO.resolve(DType.BF16, Kernels.AUTO));
  }

  @ParameterizedTest(name = "{0} kernels")
  @CsvSource({"AUTO", "NATIVE"})
  void float16WeightsStayFloat16WhereTheNativeMatmulRunsThemWithF16c(Kernels kernels) {
    boolean f16 =
        io.llavaserve.engine.graph.NativeKernels.available()
            && io.llavaserve.engine.graph.NativeKernels.cpuHasF16cFma();
    org.junit.jupiter.api.Assumptions.assumeTrue(
        kernels != Kernels.NATIVE || io.llavaserve.engine.graph.NativeKernels.available());
    assertEquals(
        f16 ? MatmulPrecision.FLOAT16 : MatmulPrecision.FLOAT32,
        MatmulPrecision.AUTO.resolve(DType.F16, kernels));
  }

  @ParameterizedTest(name = "{0} weights -> {1} KV cache")
  @CsvSource({"F32, FLOAT32", "F16, FLOAT16", "BF16, FLOAT16"})
  void autoFollowsTheCheckpoint(DType stored, KvCacheConfig.Dtype kv) throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny().withDtype(stored));
    ModelOptions auto =
        ModelOptions.builder()
            .matmulPrecision(MatmulPrecision.AUTO)
            .kvCacheDtype(KvCacheConfig.Dtype.AUTO)
            .kvCacheBytes(8L << 20)
            .build();
    try (LlavaModel m = LlavaModel.load(dir, auto)) {
      assertEquals(
          MatmulPrecision.AUTO.resolve(stored, Kernels.AUTO), m.options().matmulPrecision());
      assertEquals(kv, m.options().kvCacheDtype());
      assertEquals(kv, m.runner().kvCache().dtype());
    }
    // Explicit choices are kept whatever the checkpoint.
    ModelOptions exact = ModelOptions.defaults().withKvCacheBytes(8L << 20);
    try (LlavaModel m = LlavaModel.load(dir, exact)) {
      assertEquals(MatmulPrecision.FLOAT32, m.options().matmulPrecision());
      assertEquals(KvCacheConfig.Dtype.FLOAT32, m.runner().kvCache().dtype());
    }
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource({"AUTO"})
  void aPoolIsNeverAuto(KvCacheConfig.Dtype dtype) {
    assertThrows(IllegalArgumentException.class, () -> new KvCacheConfig(16, 4, dtype));
  }
}
