package io.llavaserve.engine.graph;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.tensorflow.TensorFlow;

/**
 * The project's own TensorFlow ops, built from {@code engine/src/main/native} into {@code
 * libllava_ops.so} when the build machine has a C compiler, and registered with TensorFlow on first
 * use. Where the library is missing (no compiler at build time, another OS or architecture) or does
 * not load, {@link #available()} is false and the graph falls back to stock ops.
 */
public final class NativeKernels {

  /** Decode attention over the paged KV pool; see {@code llava_ops.c}. */
  static final String PAGED_ATTENTION = "LlavaPagedAttention";

  /** Causal prefill attention over the paged KV pool; see {@code prefill_attention.c}. */
  static final String PAGED_PREFILL_ATTENTION = "LlavaPagedPrefillAttention";

  /** Zeroes a KV pool variable in place at load, its pages advised as huge pages. */
  static final String POOL_ZERO = "LlavaPoolZero";

  /** A Linear layer over packed bfloat16 weights; see {@code bf16_matmul.c}. */
  static final String BF16_MATMUL = "LlavaBf16MatMul";

  /**
   * A Linear layer over bfloat16 weights in column blocks, widened by a shift in registers and
   * multiplied with float32 activations; see {@code bf16_column_matmul.c}.
   */
  static final String BF16_COLUMN_MATMUL = "LlavaBf16ColumnMatMul";

  /** A Linear layer over packed float16 weights, widened in registers; see {@code f16_matmul.c}. */
  static final String F16_MATMUL = "LlavaF16MatMul";

  /** A Linear layer over packed float32 weights; see {@code f32_matmul.c}. */
  static final String F32_MATMUL = "LlavaF32MatMul";

  /** A Linear layer over int8 Q8 blocks, dequantized in registers; see {@code q8_matmul.c}. */
  static final String Q8_MATMUL = "LlavaQ8MatMul";

  /** A Linear layer over int4 Q4 blocks, unpacked in registers; see {@code q4_matmul.c}. */
  static final String Q4_MATMUL = "LlavaQ4MatMul";

  /** The cores' float32 FMA throughput; see {@code probe_ops.c}. */
  static final String FMA_PROBE = "LlavaFmaProbe";

  /** The cores' memory read bandwidth; see {@code probe_ops.c}. */
  static final String READ_PROBE = "LlavaReadProbe";

  /** RMSNorm in one pass; see {@code fused_ops.c}. */
  static final String RMS_NORM = "LlavaRmsNorm";

  /** The residual add and the next RMSNorm in one op; see {@code fused_ops.c}. */
  static final String ADD_RMS_NORM = "LlavaAddRmsNorm";

  /** silu(gate) * up in one pass; see {@code fused_ops.c}. */
  static final String SILU_MUL = "LlavaSiluMul";

  /**
   * Q/K/V split by head with rotary embeddings, keys and values written into the KV pool in place;
   * see {@code fused_ops.c}.
   */
  static final String ROPE_WRITE = "LlavaRopeWrite";

  private static final String RESOURCE =
      "/io/llavaserve/engine/graph/native/linux-x86_64/libllava_ops.so";

  private static String unavailable;
  private static boolean tried;

  private NativeKernels() {}

  /** Whether the native ops are registered with TensorFlow (loading them on the first call). */
  public static synchronized boolean available() {
    if (!tried) {
      tried = true;
      unavailable = load();
    }
    return unavailable == null;
  }

  /** Why the native ops are not available, or null when they are. */
  public static synchronized String unavailableReason() {
    available();
    return unavailable;
  }

  /**
   * Whether this CPU has AMX bfloat16 tiles, on which the native bfloat16 matmul beats oneDNN's at
   * every batch size measured (its AVX512-BF16 path wins only for a few rows).
   */
  public static boolean cpuHasAmxBf16() {
    return cpuFlags().contains("amx_bf16");
  }

  /**
   * Whether this CPU widens float16 to float32 in vector registers (F16C) and has the AVX2 fused
   * multiply-add, which the native float16 matmul's vector path needs; without them it would run
   * its plain C path.
   */
  public static boolean cpuHasF16cFma() {
    List<String> flags = cpuFlags();
    return flags.contains("f16c") && flags.contains("fma") && flags.contains("avx2");
  }

  /**
   * The vector path the native float16, int8 and attention kernels take on this CPU, as they choose
   * it at run time: {@code avx512} (AVX-512F), {@code avx2} (AVX2 with FMA and F16C) or {@code
   * plain} (C loops).
   */
  public static String vectorPath() {
    List<String> flags = cpuFlags();
    if (flags.contains("avx512f")) {
      return "avx512";
    }
    return cpuHasF16cFma() ? "avx2" : "plain";
  }

  /**
   * The integer dot-product path the native int8 and int4 matmuls take for int8 activations on this
   * CPU, as they choose it at run time ({@code int8_dot.c}): {@code avx512_vnni} (AVX-512 F, BW and
   * VNNI), {@code avx_vnni} (AVX-VNNI with AVX2), {@code avx2} (AVX2 with FMA) or {@code plain}.
   */
  public static String int8Path() {
    List<String> flags = cpuFlags();
    boolean avx2 = flags.contains("avx2") && flags.contains("fma");
    if (flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512_vnni")) {
      return "avx512_vnni";
    }
    if (avx2 && flags.contains("avx_vnni")) {
      return "avx_vnni";
    }
    return avx2 ? "avx2" : "plain";
  }

  /**
   * Whether the native int8 and int4 matmuls read their weight blocks in place for int8 activations
   * in calls of up to 32 rows (decode steps): AVX-512 F, BW, VNNI and VBMI ({@code int8_dot.c}, for
   * {@code q8_matmul.c} and {@code q4_matmul.c}). Elsewhere such calls would repack every weight
   * they read.
   */
  public static boolean int8InPlace() {
    List<String> flags = cpuFlags();
    return flags.contains("avx512f")
        && flags.contains("avx512bw")
        && flags.contains("avx512_vnni")
        && flags.contains("avx512vbmi");
  }

  /**
   * Whether the native int4 matmul reads its blocks in place with AVX2 for int8 activations in
   * calls of up to 6 rows, without AVX-512 VBMI: where the integer path is AVX2 and the CPU has
   * F16C ({@code int8_dot.c}).
   */
  public static boolean int4InPlaceAvx2() {
    return "avx2".equals(int8Path()) && cpuHasF16cFma();
  }

  /** The flags of the first CPU in {@code /proc/cpuinfo}; none where it cannot be read. */
  private static List<String> cpuFlags() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (line.startsWith("flags")) {
          return Arrays.asList(line.split("\\s+"));
        }
      }
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
    return List.of();
  }

  private static String load() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
    if (!os.contains("linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
      return "built for linux-x86_64 only, this is " + os + "-" + arch;
    }
    try (InputStream in = NativeKernels.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        return "libllava_ops.so is not in this build (the build machine had no C compiler)";
      }
      Path file = Files.createTempFile("libllava_ops", ".so");
      try {
        Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        TensorFlow.loadLibrary(file.toString());
      } finally {
        // Once loaded, the library stays mapped without its file: removing it now leaves nothing
        // behind in the temporary folder, even for a process that is killed.
        Files.deleteIfExists(file);
      }
    } catch (IOException | RuntimeException | UnsatisfiedLinkError e) {
      return "libllava_ops.so did not load: " + e.getMessage();
    }
    // The registry read once: each read serializes and parses every op TensorFlow knows.
    java.util.Set<String> registered =
        TensorFlow.registeredOpList().getOpList().stream()
            .map(org.tensorflow.proto.OpDef::getName)
            .collect(java.util.stream.Collectors.toSet());
    for (String name :
        new String[] {
          PAGED_ATTENTION,
          PAGED_PREFILL_ATTENTION,
          BF16_MATMUL,
          BF16_COLUMN_MATMUL,
          F16_MATMUL,
          F32_MATMUL,
          Q8_MATMUL,
          Q4_MATMUL,
          RMS_NORM,
          ADD_RMS_NORM,
          SILU_MUL,
          ROPE_WRITE,
          FMA_PROBE,
          READ_PROBE
        }) {
      if (!registered.contains(name)) {
        return "libllava_ops.so loaded but did not register " + name;
      }
    }
    return null;
  }
}
