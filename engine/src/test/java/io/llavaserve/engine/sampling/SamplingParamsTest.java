package io.llavaserve.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.OptionalLong;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class SamplingParamsTest {

  @Test
  void defaultsFollowVllm() {
    SamplingParams p = SamplingParams.defaults();
    assertEquals(1.0, p.temperature());
    assertEquals(1.0, p.topP());
    assertEquals(-1, p.topK());
    assertEquals(0.0, p.minP());
    assertEquals(1.0, p.repetitionPenalty());
    assertEquals(16, p.maxTokens());
    assertEquals(OptionalLong.empty(), p.seed());
    assertEquals(List.of(), p.stop());
    assertEquals(-1, p.logprobs());
    assertFalse(p.isGreedy());
  }

  @Test
  void greedyHasZeroTemperature() {
    SamplingParams p = SamplingParams.greedy(7);
    assertTrue(p.isGreedy());
    assertEquals(7, p.maxTokens());
    assertTrue(SamplingParams.builder().temperature(1e-6).build().isGreedy());
  }

  @Test
  void toBuilderRoundTrips() {
    SamplingParams p =
        SamplingParams.builder()
            .temperature(0.7)
            .topP(0.9)
            .topK(40)
            .minP(0.05)
            .repetitionPenalty(1.1)
            .presencePenalty(0.5)
            .frequencyPenalty(-0.5)
            .seed(42)
            .maxTokens(100)
            .stop("\n\n", "User:")
            .stopTokenIds(Set.of(2, 32007))
            .ignoreEos(true)
            .logprobs(5)
            .build();
    assertEquals(p, p.toBuilder().build());
    assertEquals(OptionalLong.of(42), p.seed());
  }

  @Test
  void collectionsAreCopied() {
    List<String> stop = new java.util.ArrayList<>(List.of("a"));
    SamplingParams p = SamplingParams.builder().stop(stop).build();
    stop.add("b");
    assertEquals(List.of("a"), p.stop());
  }

  @Test
  void topKZeroAndMinusOneAreOff() {
    assertFalse(SamplingParams.builder().topK(0).build().topKActive(100));
    assertFalse(SamplingParams.builder().topK(-1).build().topKActive(100));
    assertFalse(SamplingParams.builder().topK(100).build().topKActive(100));
    assertTrue(SamplingParams.builder().topK(99).build().topKActive(100));
  }

  static Stream<Arguments> invalid() {
    return Stream.of(
        bad("temperature", b -> b.temperature(-0.1)),
        bad("temperature", b -> b.temperature(2.5)),
        bad("temperature", b -> b.temperature(Double.NaN)),
        bad("top_p", b -> b.topP(0)),
        bad("top_p", b -> b.topP(1.01)),
        bad("top_k", b -> b.topK(-2)),
        bad("min_p", b -> b.minP(-0.01)),
        bad("min_p", b -> b.minP(1.5)),
        bad("repetition_penalty", b -> b.repetitionPenalty(0)),
        bad("repetition_penalty", b -> b.repetitionPenalty(Double.POSITIVE_INFINITY)),
        bad("presence_penalty", b -> b.presencePenalty(2.01)),
        bad("frequency_penalty", b -> b.frequencyPenalty(-2.01)),
        bad("max_tokens", b -> b.maxTokens(0)),
        bad("logprobs", b -> b.logprobs(21)),
        bad("logprobs", b -> b.logprobs(-2)),
        bad("stop", b -> b.stop("")),
        bad("stop", b -> b.stop(Arrays.asList("a", null))),
        bad("stop", b -> b.stop(Collections.nCopies(17, "x"))),
        bad("stop_token_ids", b -> b.stopTokenIds(Set.of(-1))));
  }

  private static Arguments bad(String field, UnaryOperator<SamplingParams.Builder> edit) {
    return Arguments.of(field, edit);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("invalid")
  void validationNamesTheField(String field, UnaryOperator<SamplingParams.Builder> edit) {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> edit.apply(SamplingParams.builder()).build());
    assertTrue(
        e.getMessage().startsWith(field + " ") || e.getMessage().startsWith(field + ":"),
        e.getMessage());
  }

  @Test
  void messageStatesTheLimit() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class, () -> SamplingParams.builder().temperature(3).build());
    assertEquals("temperature must be in [0, 2.0], got 3.0", e.getMessage());
  }

  @Test
  void boundariesAreAccepted() {
    SamplingParams.builder()
        .temperature(2)
        .topP(1)
        .topK(1)
        .minP(1)
        .presencePenalty(-2)
        .frequencyPenalty(2)
        .maxTokens(1)
        .logprobs(20)
        .stop(Collections.nCopies(16, "x"))
        .build();
  }
}
