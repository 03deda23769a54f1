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
import java.util.stream.Collectors;
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

  @Option(
      names = "--formats",
      split = ",",
      paramLabel = "F",
      description =
          "Weight formats measured one after another in this run, against the same probes:"
              + " float32, float16, bfloat16, int8, int4, or all (each sets --matmul-precision and"
              + " --quantization, so leave those out); ends with the formats side by side."
              + " Without it, the format those flags give.")
  List<String> formats;

  @Spec CommandSpec spec;

  /** A weight format {@code --formats} names: the settings it loads the model with. */
  record Format(String name, MatmulPrecision precision, Quantization quantization) {

    static final List<Format> ALL =
        List.of(
            new Format("float32", MatmulPrecision.FLOAT32, Quantization.NONE),
            new Format("float16", MatmulPrecision.FLOAT16, Quantization.NONE),
            new Format("bfloat16", MatmulPrecision.BFLOAT16, Quantization.NONE),
            new Format("int8", MatmulPrecision.AUTO, Quantization.INT8),
            new Format("int4", MatmulPrecision.AUTO, Quantization.INT4));

    /** The formats named, in the order given, each once; {@code all} for every one. */
    static List<Format> parse(List<String> names) {
      List<Format> list = new ArrayList<>();
      for (String raw : names) {
        String name = raw.trim().toLowerCase(java.util.Locale.ROOT);
        List<Format> named =
            name.equals("all")
                ? ALL
                : ALL.stream()
                    .filter(f -> f.name.equals(name))
                    .findFirst()
                    .map(List::of)
                    .orElseThrow(
                        () ->
                            new IllegalArgumentException(
                                "--formats: unknown format '"
                                    + raw
                                    + "'; one of float32, float16, bfloat16, int8, int4, all"));
        named.stream().filter(f -> !list.contains(f)).forEach(list::add);
      }
      return list;
    }

    /** The model settings this format sets. */
    java.util.Map<String, String> flags() {
      return Settings.flags(
          "model.matmul-precision",
          precision.name().toLowerCase(java.util.Locale.ROOT),
          "model.quantization",
          quantization.name().toLowerCase(java.util.Locale.ROOT));
    }
  }

  /** What the machine does on its own, measured once a run: the shares' denominators. */
  record Probes(
      MatmulProbe.Result peak128, MatmulProbe.Result peak32, double fmaPeak, double readPeak) {

    /** The memory's pace where the native read probe runs, else the 1-row matmul's. */
    double bandwidth(MatmulProbe.Result peak1) {
      return Double.isNaN(readPeak) ? peak1.weightGBps() : readPeak;
    }
  }

  /** One batch size's figures. */
  record BatchFigures(
      int batch,
      double prefillTokensPerSec,
      double prefillGflops,
      double decodeTokensPerSec,
      double decodeWeightGBps) {}

  /** One format's figures, for the table that puts the formats side by side. */
  record FormatFigures(
      String format, String weights, double weightMb, List<BatchFigures> batches) {}

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    List<Format> list = formats == null ? List.of() : Format.parse(formats);
    if (!list.isEmpty() && (model.matmulPrecision != null || model.quantization != null)) {
      throw new IllegalArgumentException(
          "--formats sets --matmul-precision and --quantization for each format; leave them out");
    }
    Probes probes = null;
    MatmulProbe.Result peak1 = null;
    int vocab = 0;
    List<FormatFigures> figures = new ArrayList<>();
    for (int i = 0; i < Math.max(1, list.size()); i++) {
      Format format = list.isEmpty() ? null : list.get(i);
      if (format != null) {
        out.printf("%s== %s ==%n", i == 0 ? "" : System.lineSeparator(), format.name());
      }
      try (LlavaModel m =
          format == null
              ? model.load()
              : LlavaModel.load(
                  model.resolve(), ServingConfig.model(model.settings().with(format.flags())))) {
        TextConfig t = m.config().text();
        TfModelRunner.Threads threads = m.options().threads();
        String weights =
            ServeCommand.weights(
                m.options().matmulPrecision(),
                m.runner().nativeMatMul(),
                m.runner().quantization(),
                m.runner().nativeQuantizedMatMul());
        out.printf(
            "model: hidden %d x %d layers, intermediate %d, heads %d/%d, vocab %d; %s; weights %.0f MB on the device, process resident %.0f MB after load; %d threads%n",
            t.hiddenSize(),
            t.numHiddenLayers(),
            t.intermediateSize(),
            t.numAttentionHeads(),
            t.numKeyValueHeads(),
            t.vocabSize(),
            weights,
            m.runner().weightBytes() / 1e6,
            ResidentMemory.bytes() / 1e6,
            threads.intraOp());
        if (probes == null) {
          peak1 =
              MatmulProbe.measure(1, t.hiddenSize(), outBeyondCaches(t.hiddenSize()), 15, threads);
          probes = probe(t, threads, peak1, out);
        }
        List<BatchFigures> batches = measure(m, probes, peak1, out);
        figures.add(
            new FormatFigures(
                format == null ? "" : format.name(),
                weights,
                m.runner().weightBytes() / 1e6,
                batches));
        vocab = m.runner().vocabSize();
      }
    }
    if (!list.isEmpty()) {
      out.println();
      out.print(sideBySide(figures, probes, peak1));
    }
    int maxBatch = Arrays.stream(batchSizes).max().orElse(1);
    out.println();
    out.printf("sampling, %d sequences per step, vocab %d:%n", maxBatch, vocab);
    for (SamplingCost.Figure f : SamplingCost.measure(vocab, maxBatch, 8)) {
      out.printf("  %-24s %8.1f us/token%n", f.name(), f.microsPerSample());
    }
    return 0;
  }

  /** TensorFlow's matmul peaks, the native FMA peak and the memory read probe, printed. */
  private static Probes probe(
      TextConfig t, TfModelRunner.Threads threads, MatmulProbe.Result peak1, PrintWriter out) {
    MatmulProbe.Result peak128 =
        MatmulProbe.measure(128, t.hiddenSize(), 4 * t.hiddenSize(), 9, threads);
    MatmulProbe.Result peak32 =
        MatmulProbe.measure(32, t.hiddenSize(), 4 * t.hiddenSize(), 9, threads);
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
    return new Probes(peak128, peak32, fmaPeak, readPeak);
  }

  /** The batch sizes' prefill and decode steps on one loaded model, printed as a table. */
  private List<BatchFigures> measure(
      LlavaModel m, Probes probes, MatmulProbe.Result peak1, PrintWriter out) {
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
    double weightBytesPerStep =
        weightBytesPerStep(t, m.options().matmulPrecision(), m.options().quantization());
    double bandwidth = probes.bandwidth(peak1);
    double fmaPeak = probes.fmaPeak();
    long layerFlopsPerToken = 2L * t.numHiddenLayers() * linearParams(t);
    long headFlops = 2L * t.hiddenSize() * t.vocabSize();
    SplittableRandom rnd = new SplittableRandom(1);
    List<String> prefillShares = new ArrayList<>();
    List<String> profiles = new ArrayList<>();
    List<BatchFigures> figures = new ArrayList<>();
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
          String.format(java.util.Locale.ROOT, "%d seqs %.0f%%", b, 100 * prefillGflops / fmaPeak));
      double decodeGflops = decodeFlops / stepSec / 1e9;
      MatmulProbe.Result decodePeak = b >= 32 ? probes.peak32() : null;
      out.printf(
          "%5d  %13.0f  %15.1f  %8.0f%%  %12.1f  %14.1f  %14.1f  %s  %12.1f%n",
          b,
          prefillTokens / prefillSec,
          prefillGflops,
          100 * prefillGflops / probes.peak128().gflops(),
          b / stepSec,
          stepSec * 1e3,
          decodeGflops,
          decodePeak != null
              ? String.format("%8.0f%%", 100 * decodeGflops / decodePeak.gflops())
              : String.format("%5.0f%% BW", 100 * weightBytesPerStep / stepSec / 1e9 / bandwidth),
          weightBytesPerStep / stepSec / 1e9);
      figures.add(
          new BatchFigures(
              b,
              prefillTokens / prefillSec,
              prefillGflops,
              b / stepSec,
              weightBytesPerStep / stepSec / 1e9));
    }
    out.println();
    out.println(
        "(decode 'BW': weight bytes streamed per step as a share of the "
            + (Double.isNaN(probes.readPeak()) ? "1-row matmul's" : "memory read probe's")
            + " GB/s; weights GB/s: the matmul weight bytes one decode step reads, per second)");
    if (!Double.isNaN(fmaPeak)) {
      StringBuilder shares = new StringBuilder();
      for (int i = 0; i < prefillShares.size(); i++) {
        shares.append(i == 0 ? "" : ", ").append(prefillShares.get(i));
      }
      out.println("prefill GFLOP/s as a share of the FMA peak: " + shares);
    }
    profiles.forEach(p -> out.print(System.lineSeparator() + p));
    return figures;
  }

  /**
   * The formats side by side: each batch size's prefill and decode tokens/s, the weight bytes the
   * smallest batch's decode streams a second as a share of the memory probe, and the largest
   * batch's prefill GFLOP/s as a share of the FMA peak (TensorFlow's 128-row matmul where the
   * native probe does not run), all against the probes measured once at the start of the run.
   */
  static String sideBySide(List<FormatFigures> figures, Probes probes, MatmulProbe.Result peak1) {
    java.util.Locale root = java.util.Locale.ROOT;
    List<BatchFigures> first = figures.get(0).batches();
    String sizes =
        first.stream().map(f -> Integer.toString(f.batch())).collect(Collectors.joining(" / "));
    int smallest = first.stream().mapToInt(BatchFigures::batch).min().orElse(1);
    int largest = first.stream().mapToInt(BatchFigures::batch).max().orElse(1);
    boolean fma = !Double.isNaN(probes.fmaPeak());
    double flopPeak = fma ? probes.fmaPeak() : probes.peak128().gflops();
    double bandwidth = probes.bandwidth(peak1);
    StringBuilder b = new StringBuilder();
    b.append(
        String.format(
            root,
            "formats side by side, one run (%s %.0f GFLOP/s, %s %.1f GB/s):%n",
            fma ? "FMA peak" : "TensorFlow's 128-row matmul",
            flopPeak,
            Double.isNaN(probes.readPeak()) ? "1-row matmul" : "memory read",
            bandwidth));
    String[] head = {
      "format",
      "weights MB",
      "prefill tok/s (" + sizes + " seqs)",
      "decode tok/s (" + sizes + " seqs)",
      "decode GB/s, " + smallest + " seq (of probe)",
      "prefill GFLOP/s, " + largest + " seqs (of peak)",
      "matmuls"
    };
    List<String[]> rows = new ArrayList<>();
    rows.add(head);
    for (FormatFigures f : figures) {
      BatchFigures low = f.batches().stream().filter(x -> x.batch() == smallest).findFirst().get();
      BatchFigures high = f.batches().stream().filter(x -> x.batch() == largest).findFirst().get();
      rows.add(
          new String[] {
            f.format(),
            String.format(root, "%.0f", f.weightMb()),
            f.batches().stream()
                .map(x -> String.format(root, "%.0f", x.prefillTokensPerSec()))
                .collect(Collectors.joining(" / ")),
            f.batches().stream()
                .map(x -> String.format(root, "%.1f", x.decodeTokensPerSec()))
                .collect(Collectors.joining(" / ")),
            String.format(
                root,
                "%.1f (%.0f%%)",
                low.decodeWeightGBps(),
                100 * low.decodeWeightGBps() / bandwidth),
            String.format(
                root, "%.1f (%.0f%%)", high.prefillGflops(), 100 * high.prefillGflops() / flopPeak),
            f.weights()
          });
    }
    int[] width = new int[head.length];
    for (String[] r : rows) {
      for (int i = 0; i < r.length; i++) {
        width[i] = Math.max(width[i], r[i].length());
      }
    }
    for (String[] r : rows) {
      StringBuilder line = new StringBuilder();
      for (int i = 0; i < r.length; i++) {
        line.append(i == 0 ? "" : "  ")
            .append(i == r.length - 1 ? r[i] : String.format("%-" + width[i] + "s", r[i]));
      }
      b.append(line.toString().stripTrailing()).append(System.lineSeparator());
    }
    return b.toString();
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
