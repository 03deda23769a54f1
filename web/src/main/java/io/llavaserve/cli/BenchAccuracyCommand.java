package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.ModelOptions;
import io.llavaserve.engine.graph.MatmulPrecision;
import io.llavaserve.engine.quantization.Quantization;
import io.llavaserve.engine.runner.KvCacheConfig;
import io.llavaserve.engine.runner.ScheduledBatch;
import io.llavaserve.engine.runner.SequenceChunk;
import io.llavaserve.engine.runner.StepOutput;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * What a narrower setting costs in accuracy: the model as the flags load it (for example {@code
 * --quantization int4}) against the same checkpoint with float32 weights, matmuls and KV cache, on
 * the same random-token prompts, every prompt position's logits compared ({@link LogitAgreement}).
 */
@Command(
    name = "accuracy",
    description =
        "Compare the logits of the model as loaded (--quantization, --matmul-precision,"
            + " --kv-cache-dtype) with the same checkpoint in float32, over random prompts.")
final class BenchAccuracyCommand implements Callable<Integer> {

  /** KV pool for the comparison: a few prompts at a time, whatever model.kv-cache-mb says. */
  private static final long KV_BYTES = 64L << 20;

  @Mixin ModelOption model;

  @Option(names = "--prompts", defaultValue = "8", description = "Prompts compared.")
  int prompts;

  @Option(names = "--prompt-tokens", defaultValue = "128", description = "Tokens per prompt.")
  int promptTokens;

  @Option(names = "--seed", defaultValue = "7", description = "Seed of the prompts' tokens.")
  long seed;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    Path dir = model.resolve();
    ModelOptions options = model.options().withKvCacheBytes(KV_BYTES);
    ModelOptions reference =
        options.toBuilder()
            .matmulPrecision(MatmulPrecision.FLOAT32)
            .quantization(Quantization.NONE)
            .kvCacheDtype(KvCacheConfig.Dtype.FLOAT32)
            .build();
    LogitAgreement agreement = new LogitAgreement();
    try (LlavaModel exact = LlavaModel.load(dir, reference);
        LlavaModel tested = LlavaModel.load(dir, options)) {
      out.printf(
          "%s against float32 (weights, matmuls, KV cache): %d prompts of %d random tokens%n",
          ServeCommand.weights(
                  tested.options().matmulPrecision(),
                  tested.runner().nativeMatMul(),
                  tested.runner().quantization(),
                  tested.runner().nativeQuantizedMatMul())
              + ", "
              + tested.runner().kvCache().dtype().name().toLowerCase(java.util.Locale.ROOT)
              + " KV cache",
          prompts,
          promptTokens);
      int vocab = Math.min(exact.config().text().vocabSize(), 32000);
      SplittableRandom rnd = new SplittableRandom(seed);
      for (int p = 0; p < prompts; p++) {
        int[] ids = new int[promptTokens];
        for (int i = 0; i < ids.length; i++) {
          ids[i] = 3 + rnd.nextInt(vocab - 3);
        }
        float[][] want = logits(exact, ids);
        float[][] got = logits(tested, ids);
        for (int t = 0; t < want.length; t++) {
          agreement.add(want[t], got[t]);
        }
      }
    }
    out.printf(
        "positions %d: logit RMS error %.4f of the logits' spread (worst position %.4f), largest"
            + " error %.4f, top-1 agreement %.1f%%, mean KL divergence %.2e nats%n",
        agreement.positions(),
        agreement.meanRelativeRms(),
        agreement.worstRelativeRms(),
        agreement.maxAbsError(),
        100 * agreement.topOneAgreement(),
        agreement.meanKl());
    return 0;
  }

  /** Every position's logits of one prompt, prefilled in one step. */
  private static float[][] logits(LlavaModel m, int[] ids) {
    int blockSize = m.runner().kvCache().blockSize();
    int[] table = new int[(ids.length + blockSize - 1) / blockSize];
    for (int i = 0; i < table.length; i++) {
      table[i] = i;
    }
    StepOutput out =
        m.runner().execute(new ScheduledBatch(List.of(SequenceChunk.text(ids, 0, table)), true));
    float[][] rows = new float[out.rowCount()][];
    for (int i = 0; i < rows.length; i++) {
      rows[i] = out.row(i);
    }
    return rows;
  }
}
