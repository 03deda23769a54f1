package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.junit.jupiter.api.Test;

class SoakStatsTest {

  private final SoakStats stats = new SoakStats();

  @Test
  void aRowHoldsOnlyItsIntervalAndTheTotalsHoldTheRun() {
    stats.record(SoakStats.Outcome.completed(10, 100, new double[] {5, 5, 5}));
    stats.record(SoakStats.Outcome.completed(20, 300, new double[] {10}));
    stats.record(
        SoakStats.Outcome.failed(SoakStats.ErrorKind.HTTP, "HTTP 503", 0), "sse: HTTP 503: busy");
    SoakStats.Row first = stats.roll(60);

    assertEquals(60, first.endSec());
    assertEquals(2, first.completed());
    assertEquals(30 / 60.0, first.tokensPerSec(), 1e-9);
    assertEquals(100, first.ttftP50());
    assertEquals(300, first.ttftP99());
    assertEquals(5, first.itlP50());
    assertEquals(10, first.itlP99());
    assertEquals(1L, first.errors().get(SoakStats.ErrorKind.HTTP));
    assertEquals(0L, first.errors().get(SoakStats.ErrorKind.MISMATCH));

    stats.record(SoakStats.Outcome.cut(SoakStats.Ending.CANCELLED, 3, 50, new double[] {1, 2}));
    stats.record(
        SoakStats.Outcome.cut(SoakStats.Ending.DISCONNECTED, 0, Double.NaN, new double[0]));
    stats.record(SoakStats.Outcome.completed(7, Double.NaN, new double[0])); // a plain answer
    stats.batchJob();
    SoakStats.Row second = stats.roll(90);

    assertEquals(1, second.completed());
    assertEquals(10 / 30.0, second.tokensPerSec(), 1e-9, "tokens of cut requests count too");
    assertEquals(1, second.cancelled());
    assertEquals(1, second.disconnected());
    assertEquals(1, second.batchJobs());
    assertEquals(50, second.ttftP50(), "only timed answers have a TTFT");
    assertEquals(2, second.itlP99());
    assertEquals(0L, second.errors().get(SoakStats.ErrorKind.HTTP));

    SoakStats.Totals t = stats.totals();
    assertEquals(3, t.completed());
    assertEquals(40, t.tokens());
    assertEquals(1, t.cancelled());
    assertEquals(1, t.disconnected());
    assertEquals(1, t.batchJobs());
    assertEquals(1, t.errorCount(), "cancels and disconnects are not errors");
    assertEquals(Map.of("http: HTTP 503", 1L), t.details());
    assertEquals("sse: HTTP 503: busy", t.examples().get("http: HTTP 503"));
    assertEquals(300, t.ttftP99());
  }

  @Test
  void anEmptyIntervalIsARowOfZeros() {
    SoakStats.Row r = stats.roll(60);
    assertEquals(0, r.completed());
    assertEquals(0, r.tokensPerSec());
    assertEquals(0, r.ttftP99());
    assertEquals(0, r.itlP50());
    r.errors().values().forEach(v -> assertEquals(0L, v));
  }

  @Test
  void errorsAreCountedByKindAndByDetailWithTheFirstExample() {
    stats.record(SoakStats.Outcome.failed(SoakStats.ErrorKind.MISMATCH, "lost tokens", 4), "first");
    stats.record(
        SoakStats.Outcome.failed(SoakStats.ErrorKind.MISMATCH, "lost tokens", 5), "second");
    stats.record(SoakStats.Outcome.failed(SoakStats.ErrorKind.TIMEOUT, "timeout", 0));
    stats.checked();
    stats.checked();
    SoakStats.Totals t = stats.totals();
    assertEquals(2L, t.errors().get(SoakStats.ErrorKind.MISMATCH));
    assertEquals(1L, t.errors().get(SoakStats.ErrorKind.TIMEOUT));
    assertEquals(Map.of("mismatch: lost tokens", 2L, "timeout: timeout", 1L), t.details());
    assertEquals("first", t.examples().get("mismatch: lost tokens"));
    assertEquals(2, t.checks());
    assertEquals(9, t.tokens());
  }

  @Test
  void onlyAFailedOutcomeHasAnErrorKind() {
    assertThrows(
        IllegalArgumentException.class,
        () ->
            new SoakStats.Outcome(
                SoakStats.Ending.COMPLETED, 1, 1, new double[0], SoakStats.ErrorKind.HTTP, "x"));
    assertThrows(
        IllegalArgumentException.class,
        () -> new SoakStats.Outcome(SoakStats.Ending.FAILED, 1, 1, new double[0], null, null));
  }

  @Test
  void aRowPrintsUnderTheHeaderAndUnknownServerFiguresAsDashes() {
    stats.record(SoakStats.Outcome.completed(10, 100, new double[] {5}));
    String row = SoakReport.row(stats.roll(61), new ServerSample(6.4e8, 9.1e7, 59, 0, 0, 0));
    assertEquals(SoakReport.HEADER_2.length(), row.length(), row);
    assertEquals(
        "    1:01  |       1      0.2 |   100.0   100.0 |     5.0     5.0 |     0     0     0"
            + "      0    0 |      0     0    0 |     640      91      59       0",
        row);
    String unknown = SoakReport.row(stats.roll(120), ServerSample.NONE);
    assertEquals(
        "       -       -       -       -", unknown.substring(unknown.lastIndexOf('|') + 1));
    assertEquals("1:02:03", SoakReport.clock(3723));
    assertEquals(2.5, SoakReport.rssGrowthPercent(400, 410), 1e-9);
  }
}
