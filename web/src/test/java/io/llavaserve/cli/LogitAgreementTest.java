package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LogitAgreementTest {

  @Test
  void theSameLogitsAgreeEverywhere() {
    LogitAgreement a = new LogitAgreement();
    float[] logits = {1f, 3f, -2f, 0.5f};
    a.add(logits, logits.clone());
    assertEquals(1, a.positions());
    assertEquals(0.0, a.meanRelativeRms());
    assertEquals(0.0, a.maxAbsError());
    assertEquals(1.0, a.topOneAgreement());
    assertEquals(0.0, a.meanKl(), 1e-12);
  }

  @Test
  void errorsAreMeasuredAgainstTheReferencesSpreadAndTheTopTokenIsCompared() {
    LogitAgreement a = new LogitAgreement();
    // Reference {0, 2}: standard deviation 1. Model {1, 1}: RMS error 1, a tie won by token 0.
    a.add(new float[] {0f, 2f}, new float[] {1f, 1f});
    a.add(new float[] {0f, 2f}, new float[] {0f, 2f});
    assertEquals(2, a.positions());
    assertEquals(0.5, a.meanRelativeRms(), 1e-12);
    assertEquals(1.0, a.worstRelativeRms(), 1e-12);
    assertEquals(1.0, a.maxAbsError(), 1e-12);
    assertEquals(0.5, a.topOneAgreement());
    // KL(p || uniform) for p = softmax(0, 2), halved over the two positions.
    double p1 = Math.exp(2) / (1 + Math.exp(2));
    double kl = (1 - p1) * Math.log((1 - p1) / 0.5) + p1 * Math.log(p1 / 0.5);
    assertEquals(kl / 2, a.meanKl(), 1e-12);
    assertTrue(a.meanKl() > 0);
  }

  @Test
  void logitsOfAnotherVocabularyAreRefused() {
    assertThrows(
        IllegalArgumentException.class,
        () -> new LogitAgreement().add(new float[] {1f}, new float[] {1f, 2f}));
  }
}
