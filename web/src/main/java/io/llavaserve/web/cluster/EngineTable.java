package io.llavaserve.web.cluster;

import io.llavaserve.batching.engine.EngineStats;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A gateway's view of the engines: each one's last published load and cache summary, when it was
 * last heard from, and the requests this gateway has running there. Safe on any thread.
 */
final class EngineTable {

  /** One engine as routing sees it. */
  record Candidate(String node, int load, int imageHits, int prefixBlocks) {
    boolean holds() {
      return imageHits > 0 || prefixBlocks > 0;
    }
  }

  private static final class Engine {
    EngineLoad load;
    long lastSeenNanos;
    Set<Long> published = Set.of(); // the engine's own summary
    final CacheSummary sent = new CacheSummary(CacheSummary.DEFAULT_CAPACITY); // what we sent it
    int inFlight;

    boolean holds(long key) {
      return published.contains(key) || sent.contains(key);
    }
  }

  private final Map<String, Engine> engines = new HashMap<>();

  /** Records a heartbeat; true when the engine is new to this gateway. */
  synchronized boolean update(EngineLoad load, long nowNanos) {
    Engine e = engines.get(load.node());
    boolean added = e == null;
    if (added) {
      e = new Engine();
      engines.put(load.node(), e);
    }
    if (load.summary() != null) {
      Set<Long> keys = new HashSet<>(load.summary().length * 2);
      for (long k : load.summary()) {
        keys.add(k);
      }
      e.published = keys;
    }
    e.load = load.withoutSummary();
    e.lastSeenNanos = nowNanos;
    return added;
  }

  /** Removes the engines not heard from within {@code timeoutNanos}; their ids. */
  synchronized List<String> expire(long nowNanos, long timeoutNanos) {
    List<String> gone = new ArrayList<>();
    engines
        .entrySet()
        .removeIf(
            en -> {
              if (nowNanos - en.getValue().lastSeenNanos > timeoutNanos) {
                gone.add(en.getKey());
                return true;
              }
              return false;
            });
    return gone;
  }

  /** Removes an engine; true when it was there. */
  synchronized boolean remove(String node) {
    return engines.remove(node) != null;
  }

  /**
   * The engines serving {@code model}, but those in {@code excluded}, with what each holds of
   * {@code keys}.
   */
  synchronized List<Candidate> candidates(String model, CacheKeys keys, Set<String> excluded) {
    List<Candidate> out = new ArrayList<>();
    engines.forEach(
        (node, e) -> {
          if (!e.load.model().equals(model) || !e.load.accepting() || excluded.contains(node)) {
            return;
          }
          int images = 0;
          for (long d : keys.images()) {
            if (e.holds(d)) {
              images++;
            }
          }
          int prefix = 0;
          for (int i = keys.prefix().length - 1; i >= 0; i--) {
            if (e.holds(keys.prefix()[i])) {
              prefix = i + 1;
              break;
            }
          }
          out.add(new Candidate(node, Math.max(e.load.load(), e.inFlight), images, prefix));
        });
    return out;
  }

  /**
   * A request went to {@code node}: its keys count as held there until the engine says otherwise.
   */
  synchronized void sent(String node, CacheKeys keys) {
    Engine e = engines.get(node);
    if (e != null) {
      e.sent.add(keys);
      e.inFlight++;
    }
  }

  /** A request this gateway sent to {@code node} ended. */
  synchronized void ended(String node) {
    Engine e = engines.get(node);
    if (e != null && e.inFlight > 0) {
      e.inFlight--;
    }
  }

  /**
   * Model ids served in the cluster by engines taking requests, each with the context length its
   * engines report.
   */
  synchronized Map<String, Integer> models() {
    Map<String, Integer> models = new TreeMap<>();
    engines.values().stream()
        .filter(e -> e.load.accepting())
        .forEach(e -> models.put(e.load.model(), e.load.maxModelLen()));
    return models;
  }

  /**
   * How the engines of {@code model} write tool calls (those taking requests first); the default
   * when none is known.
   */
  synchronized ToolCallSyntax toolCalls(String model) {
    return engines.values().stream()
        .map(e -> e.load)
        .filter(l -> l.model().equals(model))
        .sorted(java.util.Comparator.comparing(l -> !l.accepting()))
        .map(EngineLoad::toolCalls)
        .findFirst()
        .orElse(ToolCallSyntax.DEFAULT);
  }

  synchronized int size() {
    return engines.size();
  }

  /** An engine's last load; null when it is not (or no longer) in the table. */
  synchronized EngineLoad load(String node) {
    Engine e = engines.get(node);
    return e == null ? null : e.load;
  }

  /** The engines' figures summed: the gateway's own engine gauges. */
  synchronized EngineStats totals() {
    int running = 0, waiting = 0, used = 0, total = 0;
    for (Engine e : engines.values()) {
      running += e.load.running();
      waiting += e.load.waiting();
      used += e.load.kvBlocksUsed();
      total += e.load.kvBlocksTotal();
    }
    return new EngineStats(running, waiting, used, total, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  }
}
