package io.llavaserve.engine.graph;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The native FMA probe: a positive rate on every path, and wider vectors measure more. */
class FmaProbeTest {

  @BeforeAll
  static void nativeOpsWereBuilt() {
    NativeTestSupport.assumeNativeOpsBuilt();
  }

  @Test
  void everyPathMeasuresAndWiderVectorsDoMore() {
    double plain = FmaProbe.measure(1, 2_000_000, 0);
    double vector = FmaProbe.measure(1, 2_000_000, -1);
    assertTrue(plain > 0.1 && Double.isFinite(plain), "plain " + plain);
    assertTrue(Double.isFinite(vector), "vector " + vector);
    if (!NativeKernels.vectorPath().equals("plain")) {
      // 8 or 16 lanes an instruction against one: far more, whatever the machine's load
      assertTrue(vector > 2 * plain, "vector " + vector + " against plain " + plain);
    }
  }
}
