package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.config.TextConfig;
import io.llavaserve.engine.graph.FmaProbe;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.graph.MatmulProbe;
import io.llavaserve.engine.graph.NativeKernels;
import io.llavaserve.engine.graph.OpProfile;
import io.llavaserve.engine.graph.ReadProbe;
import io.llavaserve.engine.graph.TfModelRunner;
import io.llavaserve.engine.quantization.Quantization;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ModelRunner;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.web.metrics.ResidentMemory;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Engine step throughput: prefill and decode with 1, 8 and 32 sequences in one step, the GFLOP/s
 * achieved, and TensorFlow's own matmul peak measured in the same run; then what sampling a token
 * costs on top of the step.
 */
@Command(
    name = "bench",
    description =
        "Measure prefill and decode throughput of the engine step (see also: bench serve,"
            + " bench http, bench structured, bench soak, bench accuracy, bench llamacpp, bench vision).",
    subcommands = {
      BenchServeCommand.class,
      BenchBatchCommand.class,
      BenchHttpCommand.class,
      BenchStructuredCommand.class,
      BenchSoakCommand.class,
      BenchAccuracyCommand.class,
      BenchLlamaCppCommand.class,
      BenchVisionCommand.class
    })
final class BenchCommand implements Callable<Integer> {

  @Mixin ModelOption model;

  @Option(
      names = "--prompt-tokens",
      defaultValue = "128",
      description = "Prompt length (default: ${DEFAULT-VALUE}).")
  int promptTokens;

  @Option(
      names = "--decode-steps",
      defaultValue = "32",
      description = "Decode steps timed per batch size.")
  int decodeSteps;

  @Option(names = "--batch-sizes", split = ",", defaultValue = "1,8,32")
  int[] batchSizes;

  @Option(
      names = "--op-profile",
      description =
          "After each batch size's timed prefills and decode steps, as many again traced with"
              + " TensorFlow's step statistics, and print per op type its calls and microseconds"
              + " per step: where a step's time goes. Tracing slows every op; read the counts and"
              + " shares, not the speed.")
  boolean opProfile;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    try (LlavaModel m = model.load()) {
      TextConfig t = m.config().text();
      ModelRunner runner = m.runner();
      KvCacheConfig kv = runner.kvCache();
      int maxBatch = Arrays.stream(batchSizes).max().orElse(1);
      int perSeqBlocks = (promptTokens + decodeSteps + 2 + kv.blockSize() - 1) / kv.blockSize() + 1;
      if ((long) perSeqBlocks * maxBatch > kv.numBlocks()) {
        throw new IllegalArgumentException(
            "the KV cache holds "
                + kv.numBlocks()
                + " blocks; this bench needs "
                + perSeqBlocks * maxBatch
                + " (raise --kv-cache-mb)");
      }
      TfModelRunner.Threads threads = model.threads();
      out.printf(
          "model: hidden %d x %d layers, intermediate %d, heads %d/%d, vocab %d; %s; weights %.0f MB on the device, process resident %.0f MB after load; %d threads%n",
          t.hiddenSize(),
          t.numHiddenLayers(),
          t.intermediateSize(),
          t.numAttentionHeads(),
          t.numKeyValueHeads(),
          t.vocabSize(),
          ServeCommand.weights(
              m.options().matmulPrecision(),
              m.runner().nativeMatMul(),
              m.runner().quantization(),
              m.runner().nativeQuantizedMatMul()),
          m.runner().weightBytes() / 1e6,
          ResidentMemory.bytes() / 1e6,
          threads.intraOp());
      double weightBytesPerStep =
          weightBytesPerStep(t, m.options().matmulPrecision(), m.options().quantization());

      MatmulProbe.Result peak128 =
          MatmulProbe.measure(128, t.hiddenSize(), 4 * t.hiddenSize(), 9, threads);
      MatmulProbe.Result peak32 =
          MatmulProbe.measure(32, t.hiddenSize(), 4 * t.hiddenSize(), 9, threads);
      MatmulProbe.Result peak1 =
          MatmulProbe.measure(1, t.hiddenSize(), outBeyondCaches(t.hiddenSize()), 15, threads);
      out.printf(
          "TF matmul peak: %.0f GFLOP/s at 128 rows, %.0f GFLOP/s at 32 rows, %.1f GB/s of weights at 1 row%n",
          peak128.gflops(), peak32.gflops(), peak1.weightGBps());
      double fmaPeak = FmaProbe.measure(threads.intraOp());
      if (!Double.isNaN(fmaPeak)) {
        out.printf(
            "FMA peak (native probe, %s, %d threads): %.0f GFLOP/s%n",
            NativeKernels.vectorPath(), threads.intraOp(), fmaPeak);
      }
      double readPeak = ReadProbe.measure(threads.intraOp());
      if (!Double.isNaN(readPeak)) {
        out.printf(
            "memory read (native probe, %s, %d threads, 512 MiB): %.1f GB/s%n",
            NativeKernels.vectorPath(), threads.intraOp(), readPeak);
      }
      // The decode share's bound: the memory's own pace where the native probe runs, else the
      // 1-row matmul's.
      double bandwidth = Double.isNaN(readPeak) ? peak1.weightGBps() : readPeak;

      long layerFlopsPerToken = 2L * t.numHiddenLayers() * linearParams(t);
      long headFlops = 2L * t.hiddenSize() * t.vocabSize();
      SplittableRandom rnd = new SplittableRandom(1);
      List<String> prefillShares = new ArrayList<>();
      List<String> profiles = new ArrayList<>();
      out.println();
      out.println(
          "batch  prefill tok/s  prefill GFLOP/s  (of peak)  decode tok/s  decode ms/step  decode GFLOP/s  (of peak)  weights GB/s");
      for (int b : batchSizes) {
        List<int[]> tables = new ArrayList<>();
        List<int[]> prompts = new ArrayList<>();
        for (int s = 0; s < b; s++) {
          int[] table = new int[perSeqBlocks];
          for (int i = 0; i < perSeqBlocks; i++) {
            table[i] = s * perSeqBlocks + i;
          }
          tables.add(table);
          int[] p = new int[promptTokens];
          for (int i = 0; i < p.length; i++) {
            p[i] = 3 + rnd.nextInt(Math.min(t.vocabSize(), 32000) - 3);
          }
          prompts.add(p);
        }
        // Prefill: b prompts in one step, repeated over the same blocks.
        List<SequenceChunk> prefill = new ArrayList<>();
        for (int s = 0; s < b; s++) {
          prefill.add(SequenceChunk.text(prompts.get(s), 0, tables.get(s)));
        }
        ScheduledBatch prefillBatch = ScheduledBatch.of(prefill);
        runner.execute(prefillBatch);
        int reps = b >= 32 ? 2 : b >= 8 ? 3 : 5;
        double[] pt = new double[reps];
        for (int r = 0; r < reps; r++) {
          long t0 = System.nanoTime();
          runner.execute(prefillBatch);
          pt[r] = (System.nanoTime() - t0) / 1e9;
        }
        Arrays.sort(pt);
        double prefillSec = pt[reps / 2];
        if (opProfile) {
          OpProfile profile = new OpProfile();
          m.runner().profile(profile);
          try {
            for (int r = 0; r < reps; r++) {
              runner.execute(prefillBatch);
            }
          } finally {
            m.runner().profile(null);
          }
          profiles.add(format(profile, "prefill", b));
        }
        long prefillTokens = (long) b * promptTokens;
        double prefillFlops =
            prefillTokens * layerFlopsPerToken
                + b * headFlops
                + attentionFlops(t, b, promptTokens, true);
        // Decode: b sequences, one token each per step.
        long t0 = System.nanoTime();
        decode(runner, b, tables, rnd);
        double decodeSec = (System.nanoTime() - t0) / 1e9;
        if (opProfile) {
          OpProfile profile = new OpProfile();
          m.runner().profile(profile);
          try {
            decode(runner, b, tables, rnd);
          } finally {
            m.runner().profile(null);
          }
          profiles.add(format(profile, "decode", b));
        }
        double stepSec = decodeSec / decodeSteps;
        double decodeFlops =
            b * (layerFlopsPerToken + headFlops)
                + attentionFlops(t, b, promptTokens + decodeSteps / 2, false);
        double prefillGflops = prefillFlops / prefillSec / 1e9;
        prefillShares.add(
            String.format(
                java.util.Locale.ROOT, "%d seqs %.0f%%", b, 100 * prefillGflops / fmaPeak));
        double decodeGflops = decodeFlops / stepSec / 1e9;
        MatmulProbe.Result decodePeak = b >= 32 ? peak32 : null;
        out.printf(
            "%5d  %13.0f  %15.1f  %8.0f%%  %12.1f  %14.1f  %14.1f  %s  %12.1f%n",
            b,
            prefillTokens / prefillSec,
            prefillGflops,
            100 * prefillGflops / peak128.gflops(),
            b / stepSec,
            stepSec * 1e3,
            decodeGflops,
            decodePeak != null
                ? String.format("%8.0f%%", 100 * decodeGflops / decodePeak.gflops())
                : String.format("%5.0f%% BW", 100 * weightBytesPerStep / stepSec / 1e9 / bandwidth),
            weightBytesPerStep / stepSec / 1e9);
      }
      out.println();
      out.println(
          "(decode 'BW': weight bytes streamed per step as a share of the "
              + (Double.isNaN(readPeak) ? "1-row matmul's" : "memory read probe's")
              + " GB/s; weights GB/s: the matmul weight bytes one decode step reads, per second)");
      if (!Double.isNaN(fmaPeak)) {
        StringBuilder shares = new StringBuilder();
        for (int i = 0; i < prefillShares.size(); i++) {
          shares.append(i == 0 ? "" : ", ").append(prefillShares.get(i));
        }
        out.println("prefill GFLOP/s as a share of the FMA peak: " + shares);
      }
      profiles.forEach(p -> out.print(System.lineSeparator() + p));
      out.println();
      out.printf("sampling, %d sequences per step, vocab %d:%n", maxBatch, runner.vocabSize());
      for (SamplingCost.Figure f : SamplingCost.measure(runner.vocabSize(), maxBatch, 8)) {
        out.printf("  %-24s %8.1f us/token%n", f.name(), f.microsPerSample());
      }
    }
    return 0;
  }

  /** Decode steps of b sequences, one token each, at the positions after their prompts. */
  private void decode(ModelRunner runner, int b, List<int[]> tables, SplittableRandom rnd) {
    for (int step = 0; step < decodeSteps; step++) {
      List<SequenceChunk> chunks = new ArrayList<>(b);
      for (int s = 0; s < b; s++) {
        chunks.add(
            SequenceChunk.text(
                new int[] {3 + rnd.nextInt(1000)}, promptTokens + step, tables.get(s)));
      }
      runner.execute(ScheduledBatch.of(chunks));
    }
  }

  /** Rows of a profile shown before the rest are summed into one. */
  static final int PROFILE_ROWS = 12;

  /**
   * A profile of {@code what} steps ("prefill" or "decode") as a table: the op types taking the
   * most time first, then the others.
   */
  static String format(OpProfile p, String what, int batch) {
    StringBuilder b = new StringBuilder();
    b.append(
        String.format(
            java.util.Locale.ROOT,
            "%s step ops, %d sequences, %d steps traced: %.0f ops a step, %.0f us of op time"
                + " in %.0f us from first start to last end%n",
            what,
            batch,
            p.steps(),
            p.opsPerStep(),
            p.opMicrosPerStep(),
            p.wallMicrosPerStep()));
    b.append(String.format("  %-32s %10s %10s %7s%n", "op", "calls/step", "us/step", "share"));
    List<OpProfile.Row> rows = p.rows();
    double total = p.opMicrosPerStep();
    double otherCalls = 0;
    double otherMicros = 0;
    for (int i = 0; i < rows.size(); i++) {
      OpProfile.Row r = rows.get(i);
      if (i < PROFILE_ROWS) {
        b.append(row(r.op(), r.callsPerStep(), r.microsPerStep(), total));
      } else {
        otherCalls += r.callsPerStep();
        otherMicros += r.microsPerStep();
      }
    }
    if (rows.size() > PROFILE_ROWS) {
      b.append(
          row(
              "(" + (rows.size() - PROFILE_ROWS) + " other op types)",
              otherCalls,
              otherMicros,
              total));
    }
    return b.toString();
  }

  private static String row(String op, double calls, double micros, double total) {
    return String.format(
        java.util.Locale.ROOT,
        "  %-32s %10.1f %10.1f %6.1f%%%n",
        op,
        calls,
        micros,
        total > 0 ? 100 * micros / total : 0);
  }

  /**
   * Output columns of the 1-row bandwidth probe: float32 weights of at least 256 MB, beyond any
   * CPU's last-level cache, so the probe streams from memory as a decode step's weights do (a probe
   * that half fits in the cache reads faster one run and slower the next).
   */
  static int outBeyondCaches(int in) {
    return (int) Math.max(8L * in, ((256L << 20) + 4L * in - 1) / (4L * in));
  }

  /** Parameters of the matmuls in one decoder layer. */
  static long linearParams(TextConfig t) {
    long d = t.hiddenSize();
    long qkv = d * (t.numAttentionHeads() + 2L * t.numKeyValueHeads()) * t.headDim();
    long o = (long) t.numAttentionHeads() * t.headDim() * d;
    long mlp = 3L * d * t.intermediateSize();
    return qkv + o + mlp;
  }

  /** QK^T and PV flops for b sequences; causal prefill of n tokens or one query over n keys. */
  static double attentionFlops(TextConfig t, int b, int n, boolean prefill) {
    double pairs = prefill ? n * (n + 1) / 2.0 : n;
    return 4.0 * b * t.numHiddenLayers() * t.numAttentionHeads() * t.headDim() * pairs;
  }

  /**
   * Bytes of matmul weights one decode step streams: 4 per element, 2 in bfloat16 or float16, 1.125
   * quantized to int8 (a float32 scale per 32), 0.625 to int4 (a float16 step and minimum per 32);
   * a head tied to the float32 embedding reads 4.
   */
  static double weightBytesPerStep(
      TextConfig t, MatmulPrecision precision, Quantization quantization) {
    double bytes =
        quantization == Quantization.NONE ? precision.weightBytes() : quantization.weightBytes();
    double head = (double) t.hiddenSize() * t.vocabSize() * (t.tieWordEmbeddings() ? 4.0 : bytes);
    return bytes * t.numHiddenLayers() * linearParams(t) + head;
  }
}
