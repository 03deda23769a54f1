package io.llavaserve.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Prints the cost of one sample on a LLaVA-sized vocabulary for a 64-sequence batch. Timings are
 * printed, not asserted, since the test machines are shared.
 */
class SamplerThroughputTest {

  private static final int VOCAB = 32064;
  private static final int BATCH = 64;
  private static final int STEPS = 8;

  @Test
  void printsMicrosecondsPerSample() {
    Random r = new Random(0);
    float[] logits = new float[BATCH * VOCAB]; // [batch, vocab]
    for (int i = 0; i < logits.length; i++) {
      logits[i] = (float) (3 * r.nextGaussian());
    }
    int[] prompt = new int[600];
    for (int i = 0; i < prompt.length; i++) {
      prompt[i] = r.nextInt(VOCAB);
    }
    report("greedy", SamplingParams.greedy(100), logits, prompt);
    report(
        "greedy, logprobs=5",
        SamplingParams.greedy(100).toBuilder().logprobs(5).build(),
        logits,
        prompt);
    report("temperature 0.8", SamplingParams.builder().temperature(0.8).build(), logits, prompt);
    report("top_k 50", SamplingParams.builder().temperature(0.8).topK(50).build(), logits, prompt);
    report(
        "top_p 0.9", SamplingParams.builder().temperature(0.8).topP(0.9).build(), logits, prompt);
    report(
        "top_p 0.9 + penalties",
        SamplingParams.builder()
            .temperature(0.8)
            .topP(0.9)
            .repetitionPenalty(1.1)
            .frequencyPenalty(0.3)
            .build(),
        logits,
        prompt);
  }

  private static void report(String name, SamplingParams params, float[] logits, int[] prompt) {
    Sampler[] samplers = new Sampler[BATCH];
    for (int b = 0; b < BATCH; b++) {
      samplers[b] = new Sampler(params, prompt);
    }
    long start = 0;
    for (int step = -2; step < STEPS; step++) { // two warm-up steps
      if (step == 0) {
        start = System.nanoTime();
      }
      for (int b = 0; b < BATCH; b++) {
        int id = samplers[b].sample(logits, b * VOCAB, VOCAB).tokenId();
        assertTrue(id >= 0 && id < VOCAB);
        samplers[b].accept(id);
      }
    }
    double micros = (System.nanoTime() - start) / 1e3 / (STEPS * BATCH);
    System.out.printf("sampling %-24s %8.1f us/sample (vocab %d)%n", name, micros, VOCAB);
  }
}
