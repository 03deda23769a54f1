package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.tensorflow.exceptions.TFInvalidArgumentException;

/** The native read probe: a plausible rate on every path, and a bad size refused. */
class ReadProbeTest {

  @BeforeAll
  static void nativeOpsWereBuilt() {
    NativeTestSupport.assumeNativeOpsBuilt();
  }

  @ParameterizedTest(name = "path {0}")
  @ValueSource(ints = {0, 1, 2, -1})
  void everyPathMeasuresARate(int path) {
    for (int threads : new int[] {1, 2}) {
      double gbps = ReadProbe.measure(threads, 16, path);
      // 16 MiB three times: anything from a loaded laptop to a server's caches
      assertTrue(
          gbps > 0.2 && gbps < 10_000, "path " + path + ", " + threads + " threads: " + gbps);
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {0, -3})
  void aSizeBelowOneMegabyteIsRefused(int megabytes) {
    TFInvalidArgumentException e =
        assertThrows(TFInvalidArgumentException.class, () -> ReadProbe.measure(1, megabytes, -1));
    assertTrue(e.getMessage().contains("megabytes must be a scalar >= 1"), e.getMessage());
  }
}
