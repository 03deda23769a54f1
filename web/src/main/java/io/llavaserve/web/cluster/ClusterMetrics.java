package io.llavaserve.web.cluster;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A gateway's cluster meters: routing choices ({@code llava:cluster_routed_total{how}}), the time
 * each takes ({@code llava:cluster_routing_seconds}: a request's cache keys computed from its body
 * and its engine chosen), engines up ({@code llava:cluster_engines_up}) and each engine's load
 * ({@code llava:cluster_engine_load{engine,model}}: running + waiting, and {@code
 * llava:cluster_engine_kv_usage}).
 */
final class ClusterMetrics {

  private final MeterRegistry registry;
  private final EngineTable table;
  private final Map<CacheAwareRouter.How, Counter> routed =
      new EnumMap<>(CacheAwareRouter.How.class);
  private final Map<String, List<Meter>> perEngine = new HashMap<>();
  private final Timer routing;

  ClusterMetrics(MeterRegistry registry, EngineTable table) {
    this.registry = registry;
    this.table = table;
    for (CacheAwareRouter.How how : CacheAwareRouter.How.values()) {
      routed.put(
          how,
          Counter.builder("llava:cluster_routed")
              .description("Requests routed by the gateway, by how the engine was chosen")
              .tag("how", how.name().toLowerCase(Locale.ROOT))
              .register(registry));
    }
    routing =
        Timer.builder("llava:cluster_routing")
            .description(
                "Time a gateway takes to choose a request's engine: its cache keys, then the choice")
            .register(registry);
    Gauge.builder("llava:cluster_engines_up", table, EngineTable::size)
        .description("Engines this gateway has heard from within cluster.engine-timeout-ms")
        .strongReference(true)
        .register(registry);
  }

  void routed(CacheAwareRouter.How how) {
    routed.get(how).increment();
  }

  /** A routing decision took {@code nanos}. */
  void routingTook(long nanos) {
    routing.record(nanos, TimeUnit.NANOSECONDS);
  }

  /** Count of requests routed {@code how}, for tests and logs. */
  double routedCount(CacheAwareRouter.How how) {
    return routed.get(how).count();
  }

  synchronized void engineUp(String node, String model) {
    if (perEngine.containsKey(node)) {
      return;
    }
    List<Meter> meters = new ArrayList<>();
    meters.add(
        Gauge.builder("llava:cluster_engine_load", () -> load(node, false))
            .description("Requests running and waiting on an engine, as it last reported")
            .tag("engine", node)
            .tag("model", model)
            .strongReference(true)
            .register(registry));
    meters.add(
        Gauge.builder("llava:cluster_engine_kv_usage", () -> load(node, true))
            .description("KV cache usage of an engine, 1 = full, as it last reported")
            .tag("engine", node)
            .tag("model", model)
            .strongReference(true)
            .register(registry));
    perEngine.put(node, meters);
  }

  synchronized void engineDown(String node) {
    List<Meter> meters = perEngine.remove(node);
    if (meters != null) {
      meters.forEach(registry::remove);
    }
  }

  private double load(String node, boolean kv) {
    EngineLoad l = table.load(node);
    if (l == null) {
      return Double.NaN;
    }
    return kv ? l.kvUsage() : l.load();
  }
}
