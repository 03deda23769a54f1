package io.llavaserve.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

class StopConditionTest {

  private static final int EOS = 2;
  private static final Optional<FinishReason> GO_ON = Optional.empty();
  private static final Optional<FinishReason> STOP = Optional.of(FinishReason.STOP);
  private static final Optional<FinishReason> LENGTH = Optional.of(FinishReason.LENGTH);

  private static StopCondition condition(SamplingParams.Builder params) {
    return new StopCondition(params.maxTokens(10).stopTokenIds(Set.of(7)).build(), EOS, 100);
  }

  @Test
  void eosAndStopTokenIdsStop() {
    StopCondition c = condition(SamplingParams.builder());
    assertEquals(GO_ON, c.check(5, 1, 11, false));
    assertEquals(STOP, c.check(EOS, 1, 11, false));
    assertEquals(STOP, c.check(7, 1, 11, false));
    assertTrue(c.isStopToken(EOS));
    assertFalse(c.isStopToken(5));
  }

  @Test
  void ignoreEosKeepsGoingButStillHonoursStopTokenIds() {
    StopCondition c = condition(SamplingParams.builder().ignoreEos(true));
    assertEquals(GO_ON, c.check(EOS, 1, 11, false));
    assertEquals(STOP, c.check(7, 1, 11, false));
    assertFalse(c.isStopToken(EOS));
  }

  @Test
  void stopStringStops() {
    assertEquals(STOP, condition(SamplingParams.builder()).check(5, 3, 13, true));
  }

  @Test
  void maxTokensAndContextLengthGiveLength() {
    StopCondition c = condition(SamplingParams.builder());
    assertEquals(GO_ON, c.check(5, 9, 19, false));
    assertEquals(LENGTH, c.check(5, 10, 20, false));
    assertEquals(LENGTH, c.check(5, 3, 100, false));
  }

  @Test
  void aStopOnTheLastAllowedTokenIsAStop() {
    StopCondition c = condition(SamplingParams.builder());
    assertEquals(STOP, c.check(EOS, 10, 20, false));
    assertEquals(STOP, c.check(5, 10, 20, true));
  }

  @Test
  void wireNamesAreLowerCase() {
    assertEquals("stop", FinishReason.STOP.wireName());
    assertEquals("length", FinishReason.LENGTH.wireName());
    assertEquals("abort", FinishReason.ABORT.wireName());
  }
}
