package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ServerSampleTest {

  private static final String METRICS =
      """
      # HELP process_resident_memory_bytes Resident set size
      # TYPE process_resident_memory_bytes gauge
      process_resident_memory_bytes 6.4E8
      jvm_memory_used_bytes{area="heap",id="G1 Eden Space"} 3.0E7
      jvm_memory_used_bytes{area="heap",id="G1 Old Gen"} 6.0E7
      jvm_memory_used_bytes{area="nonheap",id="Metaspace"} 5.0E7
      jvm_threads_live_threads 59.0
      jvm_threads_live_threads_extra 1000.0
      llava:kv_blocks_used{model_name="tiny"} 12.0
      llava:kv_blocks_total{model_name="tiny"} 512.0
      vllm:num_requests_running{model_name="tiny"} 3.0
      vllm:num_requests_waiting{model_name="tiny"} 0.0
      """;

  @Test
  void readsTheFiguresASoakRunReports() {
    ServerSample s = ServerSample.parse(METRICS);
    assertEquals(6.4e8, s.rssBytes());
    assertEquals(9.0e7, s.heapUsedBytes(), "heap pools summed, non-heap left out");
    assertEquals(59, s.liveThreads(), "a longer name is another series");
    assertEquals(12, s.kvBlocksUsed());
    assertEquals(3, s.running());
    assertEquals(0, s.waiting());
    assertFalse(s.idle());
  }

  @Test
  void aFigureTheServerDoesNotExportIsNaNAndNeverIdle() {
    ServerSample s = ServerSample.parse("jvm_threads_live_threads 12.0\n");
    assertTrue(Double.isNaN(s.rssBytes()));
    assertTrue(Double.isNaN(s.kvBlocksUsed()));
    assertFalse(s.idle());
    assertTrue(
        ServerSample.parse(
                "llava:kv_blocks_used{m=\"a\"} 0.0\nvllm:num_requests_running{m=\"a\"} 0.0\n"
                    + "vllm:num_requests_waiting{m=\"a\"} 0.0\n")
            .idle());
  }
}
