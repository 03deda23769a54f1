package io.llavaserve.engine.gguf;

import io.llavaserve.engine.checkpoint.HalfFloats;
import java.nio.ByteBuffer;

/**
 * The GGUF tensor types this server writes, with ggml's ids and block layouts: {@code F32}, {@code
 * F16}, {@code BF16} (the upper half of each float32, rounded to nearest even), {@code Q8_0}
 * (blocks of 32: a float16 scale {@code d = max|x| / 127}, then 32 signed bytes {@code round(x /
 * d)}) and {@code Q4_0} (blocks of 32: a float16 scale {@code d = m / -8}, where {@code m} is the
 * value of largest magnitude, then 16 bytes: element {@code j} in the low nibble of byte {@code j},
 * element {@code 16 + j} in its high nibble, each {@code min(15, x / d + 8.5)} truncated), as
 * ggml's reference quantizers compute them.
 */
public enum GgufType {
  F32(0, 1, 4),
  F16(1, 1, 2),
  BF16(30, 1, 2),
  Q4_0(2, 32, 18),
  Q8_0(8, 32, 34);

  /** ggml's {@code ggml_type} id. */
  public final int id;

  /** Elements per block. */
  public final int blockSize;

  /** Bytes per block. */
  public final int blockBytes;

  GgufType(int id, int blockSize, int blockBytes) {
    this.id = id;
    this.blockSize = blockSize;
    this.blockBytes = blockBytes;
  }

  /** Bytes of a row of {@code n} elements ({@code n} a multiple of the block size). */
  public long rowBytes(long n) {
    if (n % blockSize != 0) {
      throw new IllegalArgumentException(
          name() + " rows need a multiple of " + blockSize + " elements, not " + n);
    }
    return n / blockSize * blockBytes;
  }

  /** Parses {@code f32}, {@code f16}, {@code bf16}, {@code q8_0}, {@code q4_0} (any case). */
  public static GgufType parse(String s) {
    for (GgufType t : values()) {
      if (t.name().equalsIgnoreCase(s)) {
        return t;
      }
    }
    throw new IllegalArgumentException(
        "unknown GGUF type '" + s + "' (f32, f16, bf16, q8_0, q4_0)");
  }

  /**
   * Writes {@code src[off .. off + n)} ({@code n} a multiple of the block size) into {@code out}.
   */
  public void encode(float[] src, int off, int n, ByteBuffer out) {
    switch (this) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          out.putFloat(src[off + i]);
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          out.putShort(HalfFloats.floatToF16(src[off + i]));
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          out.putShort(HalfFloats.floatToBf16(src[off + i]));
        }
      }
      case Q8_0 -> {
        for (int b = off; b < off + n; b += 32) {
          float amax = 0;
          for (int j = 0; j < 32; j++) {
            amax = Math.max(amax, Math.abs(src[b + j]));
          }
          float d = amax / 127f;
          float id = d != 0 ? 1f / d : 0f;
          out.putShort(HalfFloats.floatToF16(d));
          for (int j = 0; j < 32; j++) {
            out.put((byte) Math.round(src[b + j] * id));
          }
        }
      }
      case Q4_0 -> {
        for (int b = off; b < off + n; b += 32) {
          float amax = 0;
          float max = 0;
          for (int j = 0; j < 32; j++) {
            float v = src[b + j];
            if (Math.abs(v) > amax) {
              amax = Math.abs(v);
              max = v;
            }
          }
          float d = max / -8f;
          float id = d != 0 ? 1f / d : 0f;
          out.putShort(HalfFloats.floatToF16(d));
          for (int j = 0; j < 16; j++) {
            int lo = Math.min(15, (int) (src[b + j] * id + 8.5f));
            int hi = Math.min(15, (int) (src[b + 16 + j] * id + 8.5f));
            out.put((byte) (lo | (hi << 4)));
          }
        }
      }
    }
  }

  /**
   * Reads {@code n} elements back from {@code in} into {@code dst[off ..]}: the dequantized values.
   */
  public void decode(ByteBuffer in, float[] dst, int off, int n) {
    switch (this) {
      case F32 -> {
        for (int i = 0; i < n; i++) {
          dst[off + i] = in.getFloat();
        }
      }
      case F16 -> {
        for (int i = 0; i < n; i++) {
          dst[off + i] = HalfFloats.f16ToFloat(in.getShort());
        }
      }
      case BF16 -> {
        for (int i = 0; i < n; i++) {
          dst[off + i] = HalfFloats.bf16ToFloat(in.getShort());
        }
      }
      case Q8_0 -> {
        for (int b = off; b < off + n; b += 32) {
          float d = HalfFloats.f16ToFloat(in.getShort());
          for (int j = 0; j < 32; j++) {
            dst[b + j] = in.get() * d;
          }
        }
      }
      case Q4_0 -> {
        for (int b = off; b < off + n; b += 32) {
          float d = HalfFloats.f16ToFloat(in.getShort());
          for (int j = 0; j < 16; j++) {
            int q = in.get() & 0xff;
            dst[b + j] = ((q & 0xf) - 8) * d;
            dst[b + 16 + j] = ((q >>> 4) - 8) * d;
          }
        }
      }
    }
  }
}
