package io.llavaserve.cli;

import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The engine flags, one mixin for every command that runs the serving core ({@code serve} and the
 * {@code bench} subcommands that batch). Each is the top layer of its key in the {@link Settings}.
 */
final class EngineOptions {

  @Option(
      names = "--max-num-seqs",
      paramLabel = "N",
      description = "Sequences per step (scheduler.max-num-seqs).")
  Integer maxNumSeqs;

  @Option(
      names = "--max-num-batched-tokens",
      paramLabel = "N",
      description = "Tokens per step (scheduler.max-num-batched-tokens).")
  Integer maxNumBatchedTokens;

  @Option(
      names = "--max-waiting-requests",
      paramLabel = "N",
      description = "Queue limit before 429 (scheduler.max-waiting-requests).")
  Integer maxWaitingRequests;

  /** The flags given, each as the key it overrides. */
  Map<String, String> flags() {
    return Settings.flags(
        "scheduler.max-num-seqs", maxNumSeqs,
        "scheduler.max-num-batched-tokens", maxNumBatchedTokens,
        "scheduler.max-waiting-requests", maxWaitingRequests);
  }
}
