package io.llavaserve.engine.checkpoint;

import java.util.Optional;

/** Element types of the weights this server reads and writes, by their safetensors names. */
public enum DType {
  F32(4),
  F16(2),
  BF16(2);

  private final int byteSize;

  DType(int byteSize) {
    this.byteSize = byteSize;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }

  /** The type named {@code name} in a safetensors header, if it is one we support. */
  public static Optional<DType> fromSafetensors(String name) {
    for (DType t : values()) {
      if (t.name().equals(name)) {
        return Optional.of(t);
      }
    }
    return Optional.empty();
  }

  /** The {@code torch_dtype} a config.json gives for this type. */
  public String torchName() {
    return switch (this) {
      case F32 -> "float32";
      case F16 -> "float16";
      case BF16 -> "bfloat16";
    };
  }
}
