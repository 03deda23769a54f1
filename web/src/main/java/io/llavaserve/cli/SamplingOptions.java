package io.llavaserve.cli;

import io.llavaserve.engine.sampling.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Sampling flags, mapped onto {@link SamplingParams}. */
final class SamplingOptions {

  @Option(
      names = "--max-tokens",
      defaultValue = "128",
      description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
  int maxTokens;

  @Option(
      names = "--temperature",
      defaultValue = "0",
      description = "0 is greedy (default: ${DEFAULT-VALUE}).")
  double temperature;

  @Option(
      names = "--top-p",
      defaultValue = "1",
      description = "Nucleus sampling mass (default: ${DEFAULT-VALUE}).")
  double topP;

  @Option(
      names = "--top-k",
      defaultValue = "-1",
      description = "Keep the k most likely tokens; -1 is off.")
  int topK;

  @Option(
      names = "--min-p",
      defaultValue = "0",
      description = "Drop tokens below min-p times the top probability.")
  double minP;

  @Option(names = "--repetition-penalty", defaultValue = "1")
  double repetitionPenalty;

  @Option(names = "--presence-penalty", defaultValue = "0")
  double presencePenalty;

  @Option(names = "--frequency-penalty", defaultValue = "0")
  double frequencyPenalty;

  @Option(names = "--seed", description = "Makes sampling reproducible.")
  Long seed;

  @Option(names = "--stop", description = "Stop string (repeatable); it is not printed.")
  List<String> stop = new ArrayList<>();

  @Option(names = "--stop-token-id", description = "Token id that ends generation (repeatable).")
  List<Integer> stopTokenIds = new ArrayList<>();

  @Option(names = "--ignore-eos", description = "Keep going past the end-of-sequence token.")
  boolean ignoreEos;

  @Option(
      names = "--logprobs",
      defaultValue = "-1",
      description = "Report this many alternatives per token (0 = only the chosen one).")
  int logprobs;

  SamplingParams toParams() {
    SamplingParams.Builder b =
        SamplingParams.builder()
            .maxTokens(maxTokens)
            .temperature(temperature)
            .topP(topP)
            .topK(topK)
            .minP(minP)
            .repetitionPenalty(repetitionPenalty)
            .presencePenalty(presencePenalty)
            .frequencyPenalty(frequencyPenalty)
            .stop(stop)
            .stopTokenIds(new java.util.HashSet<>(stopTokenIds))
            .ignoreEos(ignoreEos)
            .logprobs(logprobs);
    if (seed != null) {
      b.seed(seed);
    }
    return b.build();
  }
}
