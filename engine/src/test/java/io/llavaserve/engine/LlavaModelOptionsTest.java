package io.llavaserve.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llavaserve.engine.checkpoint.DType;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.runner.KvCacheConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** AUTO matmul precision and KV cache type follow how the checkpoint's weights are stored. */
class LlavaModelOptionsTest {

  @TempDir Path dir;

  @ParameterizedTest(name = "{0} weights -> {1} matmuls, {2} KV cache")
  @CsvSource({"F32, FLOAT32, FLOAT32", "F16, BFLOAT16, FLOAT16", "BF16, BFLOAT16, FLOAT16"})
  void autoFollowsTheCheckpoint(DType stored, MatmulPrecision matmuls, KvCacheConfig.Dtype kv)
      throws Exception {
    TinyCheckpoint.write(dir, TinySpec.tiny().withDtype(stored));
    ModelOptions auto =
        ModelOptions.builder()
            .matmulPrecision(MatmulPrecision.AUTO)
            .kvCacheDtype(KvCacheConfig.Dtype.AUTO)
            .kvCacheBytes(8L << 20)
            .build();
    try (LlavaModel m = LlavaModel.load(dir, auto)) {
      assertEquals(matmuls, m.options().matmulPrecision());
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
