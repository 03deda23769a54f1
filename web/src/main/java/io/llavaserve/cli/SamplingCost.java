package io.llavaserve.cli;

import io.llavaserve.engine.sampling.Sampler;
import io.llavaserve.engine.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * What sampling costs per token, apart from the model step: each step's logits are sampled in Java,
 * one row per sequence, so {@code bench} prints this beside the step figures. Random logits of the
 * model's vocabulary and a 600-token prompt (for the penalties), every sequence sampled every step.
 */
final class SamplingCost {

  /** One way of sampling and what one token costs with it. */
  record Figure(String name, double microsPerSample) {}

  private static final int PROMPT_TOKENS = 600;
  private static final int WARMUP_STEPS = 2;

  /**
   * Samples drawn before the clock starts and the fewest timed, whatever the batch: with one
   * sequence a step, a few steps would time the JIT's first, interpreted calls (about a millisecond
   * a token over 32,064 logits) rather than the compiled code a running server spends.
   */
  static final int WARMUP_SAMPLES = 2_000;

  static final int MIN_TIMED_SAMPLES = 256;

  private SamplingCost() {}

  /** The cost of greedy, logprobs, temperature, top-k, top-p and penalties, in that order. */
  static List<Figure> measure(int vocab, int batch, int steps) {
    SplittableRandom r = new SplittableRandom(0);
    float[] logits = new float[batch * vocab]; // [batch, vocab]
    for (int i = 0; i < logits.length; i++) {
      logits[i] = (float) (3 * r.nextGaussian());
    }
    int[] prompt = new int[PROMPT_TOKENS];
    for (int i = 0; i < prompt.length; i++) {
      prompt[i] = r.nextInt(vocab);
    }
    SamplingParams warm = SamplingParams.builder().temperature(0.8).build();
    List<Figure> out = new ArrayList<>();
    out.add(time("greedy", SamplingParams.greedy(100), logits, prompt, vocab, batch, steps));
    out.add(
        time(
            "greedy, logprobs=5",
            SamplingParams.greedy(100).toBuilder().logprobs(5).build(),
            logits,
            prompt,
            vocab,
            batch,
            steps));
    out.add(time("temperature 0.8", warm, logits, prompt, vocab, batch, steps));
    out.add(
        time("top_k 50", warm.toBuilder().topK(50).build(), logits, prompt, vocab, batch, steps));
    out.add(
        time("top_p 0.9", warm.toBuilder().topP(0.9).build(), logits, prompt, vocab, batch, steps));
    out.add(
        time(
            "top_p 0.9 + penalties",
            warm.toBuilder().topP(0.9).repetitionPenalty(1.1).frequencyPenalty(0.3).build(),
            logits,
            prompt,
            vocab,
            batch,
            steps));
    return out;
  }

  private static Figure time(
      String name,
      SamplingParams params,
      float[] logits,
      int[] prompt,
      int vocab,
      int batch,
      int steps) {
    Sampler[] samplers = new Sampler[batch];
    for (int b = 0; b < batch; b++) {
      samplers[b] = new Sampler(params, prompt);
    }
    int warmup = Math.max(WARMUP_STEPS, (WARMUP_SAMPLES + batch - 1) / batch);
    int timed = Math.max(steps, (MIN_TIMED_SAMPLES + batch - 1) / batch);
    long start = 0;
    for (int step = -warmup; step < timed; step++) {
      if (step == 0) {
        start = System.nanoTime();
      }
      for (int b = 0; b < batch; b++) {
        int id = samplers[b].sample(logits, b * vocab, vocab).tokenId();
        if (id < 0 || id >= vocab) {
          throw new IllegalStateException(name + " sampled token " + id + " of " + vocab);
        }
        samplers[b].accept(id);
      }
    }
    return new Figure(name, (System.nanoTime() - start) / 1e3 / ((long) timed * batch));
  }
}
