package io.llavaserve.engine.sampling;

/**
 * A token and its log-probability under the model's raw distribution.
 *
 * @param tokenId vocabulary id
 * @param logprob natural-log probability, at most 0
 */
public record TokenLogprob(int tokenId, float logprob) {}
