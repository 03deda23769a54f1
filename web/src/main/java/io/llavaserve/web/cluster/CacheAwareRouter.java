package io.llavaserve.web.cluster;

import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Picks the engine for a request, as SGLang's router does: the engine that holds the request's
 * image or its longest prefix, unless the cluster is out of balance (that engine's load exceeds the
 * least-loaded engine's by more than {@code balanceAbsThreshold} and by more than {@code
 * balanceRelThreshold} times), else the least-loaded engine. Not cache-aware ({@code
 * cluster.routing.cache-aware=false}), it always picks the least-loaded engine.
 */
final class CacheAwareRouter {

  /** How a route was chosen, as the metrics count it. */
  enum How {
    /** To the engine holding the request's image or prefix. */
    CACHE,
    /** To the least-loaded engine: none holds it, or the holder is too loaded. */
    LOAD,
    /** To another engine after the first choice left or could not be reached. */
    FALLBACK
  }

  record Route(String node, How how) {}

  private final int balanceAbs;
  private final double balanceRel;
  private final boolean cacheAware;

  CacheAwareRouter(int balanceAbs, double balanceRel) {
    this(balanceAbs, balanceRel, true);
  }

  CacheAwareRouter(int balanceAbs, double balanceRel, boolean cacheAware) {
    this.balanceAbs = balanceAbs;
    this.balanceRel = balanceRel;
    this.cacheAware = cacheAware;
  }

  /** The route among {@code candidates}; null when there are none. */
  Route route(List<EngineTable.Candidate> candidates) {
    if (candidates.isEmpty()) {
      return null;
    }
    int minLoad = candidates.stream().mapToInt(EngineTable.Candidate::load).min().getAsInt();
    List<EngineTable.Candidate> least =
        candidates.stream().filter(c -> c.load() == minLoad).toList();
    // Among equally loaded engines any will do: a random one spreads a burst.
    EngineTable.Candidate leastLoaded =
        least.get(ThreadLocalRandom.current().nextInt(least.size()));
    EngineTable.Candidate holder =
        candidates.stream()
            .filter(c -> cacheAware && c.holds())
            .max(
                Comparator.comparingInt(EngineTable.Candidate::imageHits)
                    .thenComparingInt(EngineTable.Candidate::prefixBlocks)
                    .thenComparing(c -> -c.load()))
            .orElse(null);
    if (holder != null && !imbalanced(holder.load(), minLoad)) {
      return new Route(holder.node(), How.CACHE);
    }
    return new Route(leastLoaded.node(), How.LOAD);
  }

  private boolean imbalanced(int load, int minLoad) {
    return load - minLoad > balanceAbs && load > minLoad * balanceRel;
  }
}
