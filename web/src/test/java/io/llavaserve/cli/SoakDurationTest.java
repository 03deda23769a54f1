package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class SoakDurationTest {

  @Test
  void readsSecondsMinutesHoursMillisAndTheirSums() {
    assertEquals(Duration.ofSeconds(90), SoakDuration.parse("90s"));
    assertEquals(Duration.ofMinutes(10), SoakDuration.parse("10m"));
    assertEquals(Duration.ofHours(1), SoakDuration.parse("1h"));
    assertEquals(Duration.ofMinutes(90), SoakDuration.parse("1h30m"));
    assertEquals(Duration.ofMillis(500), SoakDuration.parse("500ms"));
    assertEquals(Duration.ofSeconds(45), SoakDuration.parse("45"));
    assertEquals(Duration.ofMinutes(2), SoakDuration.parse(" 2M "));
    assertEquals(Duration.ZERO, SoakDuration.parse("0s"));
  }

  @Test
  void refusesWhatIsNotADurationAndNamesTheForms() {
    for (String bad : new String[] {"", "m", "10 m", "1.5m", "-5s", "10d", "5m1", "ten"}) {
      IllegalArgumentException e =
          assertThrows(IllegalArgumentException.class, () -> SoakDuration.parse(bad), bad);
      assertTrue(e.getMessage().contains("90s, 10m, 1h"), e.getMessage());
    }
  }

  @Test
  void formatsBackInTheSameForms() {
    assertEquals("10m", SoakDuration.format(Duration.ofMinutes(10)));
    assertEquals("1m30s", SoakDuration.format(Duration.ofSeconds(90)));
    assertEquals("1h30m", SoakDuration.format(Duration.ofMinutes(90)));
    assertEquals("250ms", SoakDuration.format(Duration.ofMillis(250)));
    assertEquals("0s", SoakDuration.format(Duration.ZERO));
    for (String s : new String[] {"3m", "1h", "2h5m7s", "45s"}) {
      assertEquals(s, SoakDuration.format(SoakDuration.parse(s)));
    }
  }

  @Test
  void theSoakCommandTakesTheseFormsAndRefusesOthersOnItsCommandLine() {
    Cli.Run run = Cli.run("bench", "soak", "--duration", "ten minutes", "--url", "http://x");
    assertEquals(2, run.exit());
    assertTrue(run.err().contains("not a duration: 'ten minutes'"), run.err());
  }
}
