package io.llavaserve.engine.config;

/**
 * The decoder families a llava checkpoint's {@code text_config.model_type} may name. All three are
 * LLaMA's maths (RMSNorm, rotary positions, SwiGLU, grouped-query attention); they differ in what
 * their configs default to and in a few details the loader reads into {@link TextConfig}: Qwen2 has
 * biases on the query, key and value projections, Mistral a sliding attention window.
 */
public enum TextFamily {
  LLAMA("llama", "LlamaForCausalLM"),
  MISTRAL("mistral", "MistralForCausalLM"),
  QWEN2("qwen2", "Qwen2ForCausalLM");

  private final String modelType;
  private final String architecture;

  TextFamily(String modelType, String architecture) {
    this.modelType = modelType;
    this.architecture = architecture;
  }

  /** The {@code model_type} transformers writes for this family. */
  public String modelType() {
    return modelType;
  }

  /** The causal-LM class transformers names in {@code architectures}. */
  public String architecture() {
    return architecture;
  }

  /** The family of a {@code model_type}, or null when none of these is it. */
  public static TextFamily of(String modelType) {
    for (TextFamily f : values()) {
      if (f.modelType.equals(modelType)) {
        return f;
      }
    }
    return null;
  }
}
