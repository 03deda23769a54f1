package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The sampling figures {@code bench} prints: every way measured, each a real cost. */
class SamplingCostTest {

  @Test
  void measuresEveryWayOfSamplingOnTheGivenVocabulary() {
    List<SamplingCost.Figure> figures = SamplingCost.measure(500, 4, 2);
    assertEquals(
        List.of(
            "greedy",
            "greedy, logprobs=5",
            "temperature 0.8",
            "top_k 50",
            "top_p 0.9",
            "top_p 0.9 + penalties"),
        figures.stream().map(SamplingCost.Figure::name).toList());
    for (SamplingCost.Figure f : figures) {
      assertTrue(f.microsPerSample() > 0 && Double.isFinite(f.microsPerSample()), f.toString());
    }
  }
}
