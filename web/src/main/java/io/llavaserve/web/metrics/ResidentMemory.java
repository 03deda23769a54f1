package io.llavaserve.web.metrics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process's resident set size, as the kernel counts it: the {@code VmRSS} line of {@code
 * /proc/self/status}. The JVM reports its heap and the native memory it tracks, but TensorFlow's
 * allocations and thread stacks show only here, so a soak run watches this figure for leaks.
 */
public final class ResidentMemory {

  private static final Path STATUS = Path.of("/proc/self/status");

  private ResidentMemory() {}

  /** Resident bytes of this process; NaN where {@code /proc} is not there (not Linux). */
  public static double bytes() {
    try {
      return parseStatus(Files.readString(STATUS));
    } catch (IOException | RuntimeException e) {
      return Double.NaN;
    }
  }

  /** The {@code VmRSS: 123456 kB} line of a {@code /proc/<pid>/status} text, in bytes; or NaN. */
  static double parseStatus(String status) {
    for (String line : status.split("\n")) {
      if (line.startsWith("VmRSS:")) {
        String[] parts = line.substring(6).trim().split("\\s+");
        long value = Long.parseLong(parts[0]);
        return parts.length > 1 && parts[1].equalsIgnoreCase("kB") ? value * 1024.0 : value;
      }
    }
    return Double.NaN;
  }
}
