package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.quantization.Quantization;
import org.junit.jupiter.api.Test;

class ServeCommandTest {

  @Test
  void theBannerNamesTheMatmulsAndAQuantizationFirst() {
    assertEquals(
        "float16 matmuls (native)",
        ServeCommand.weights(MatmulPrecision.FLOAT16, true, Quantization.NONE, false));
    assertEquals(
        "int8 language-model weights (Q8_0 blocks, native), float16 matmuls (native) elsewhere",
        ServeCommand.weights(MatmulPrecision.FLOAT16, true, Quantization.INT8, true));
    assertEquals(
        "int8 language-model weights (Q8_0 blocks, dequantized by stock ops), float32 matmuls"
            + " elsewhere",
        ServeCommand.weights(MatmulPrecision.FLOAT32, false, Quantization.INT8, false));
    assertEquals(
        "int4 language-model weights (Q4_1 blocks, native), float16 matmuls (native) elsewhere",
        ServeCommand.weights(MatmulPrecision.FLOAT16, true, Quantization.INT4, true));
  }
}
