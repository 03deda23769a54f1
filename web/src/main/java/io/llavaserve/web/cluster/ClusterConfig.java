package io.llavaserve.web.cluster;

import java.util.List;

/**
 * How a node joins the cluster and routes in it; read once at start ({@code cluster.*} keys).
 *
 * @param enabled whether this node joins a cluster at all ({@code serve --cluster})
 * @param host this node's cluster address (Hazelcast's member address and the event bus's)
 * @param port Hazelcast's member port; the event bus takes a free port on the same host
 * @param members {@code host:port} of members to join by TCP; empty: this node starts a cluster
 * @param multicast discover members by multicast too (off: nothing leaves the listed members)
 * @param role what this node does
 * @param balanceAbsThreshold a cache-aware choice yields to the least-loaded engine when its load
 *     (running + waiting) exceeds that engine's by more than this ...
 * @param balanceRelThreshold ... and is more than this many times that engine's (SGLang's router)
 * @param cacheAware route to the engine holding a request's image or prefix; false: always to the
 *     least-loaded engine (the baseline cache-aware routing is measured against)
 * @param heartbeatMillis how often an engine publishes its load (and at once on a change)
 * @param engineTimeoutMillis an engine not heard from for this long is taken as gone
 */
public record ClusterConfig(
    boolean enabled,
    String host,
    int port,
    List<String> members,
    boolean multicast,
    NodeRole role,
    int balanceAbsThreshold,
    double balanceRelThreshold,
    boolean cacheAware,
    int heartbeatMillis,
    int engineTimeoutMillis) {

  public ClusterConfig {
    members =
        members == null
            ? List.of()
            : members.stream().map(String::trim).filter(m -> !m.isEmpty()).toList();
    for (String m : members) {
      int colon = m.lastIndexOf(':');
      if (colon <= 0 || !m.substring(colon + 1).matches("\\d{1,5}")) {
        throw new IllegalArgumentException("cluster.members must list host:port, got " + m);
      }
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("cluster.port must be in [0, 65535], got " + port);
    }
    if (host == null || host.isBlank()) {
      throw new IllegalArgumentException("cluster.host must not be empty");
    }
    if (role == null) {
      role = NodeRole.BOTH;
    }
    if (balanceAbsThreshold < 0) {
      throw new IllegalArgumentException(
          "cluster.routing.balance-abs-threshold must be >= 0, got " + balanceAbsThreshold);
    }
    if (!(balanceRelThreshold >= 1.0)) {
      throw new IllegalArgumentException(
          "cluster.routing.balance-rel-threshold must be >= 1, got " + balanceRelThreshold);
    }
    if (heartbeatMillis < 10) {
      throw new IllegalArgumentException(
          "cluster.heartbeat-ms must be >= 10, got " + heartbeatMillis);
    }
    if (engineTimeoutMillis < 2 * heartbeatMillis) {
      throw new IllegalArgumentException(
          "cluster.engine-timeout-ms must be at least twice cluster.heartbeat-ms, got "
              + engineTimeoutMillis);
    }
  }

  /** A single node: no cluster (the defaults of {@code conf/llava-serve.properties}). */
  public static ClusterConfig off() {
    return new ClusterConfig(
        false, "127.0.0.1", 5701, List.of(), false, NodeRole.BOTH, 32, 1.0001, true, 1000, 3000);
  }

  /** A node of a cluster on loopback. */
  public static ClusterConfig loopback(int port, NodeRole role, List<String> members) {
    return new ClusterConfig(
        true, "127.0.0.1", port, members, false, role, 32, 1.0001, true, 1000, 3000);
  }

  /** This configuration with cache-aware routing on or off. */
  public ClusterConfig withCacheAware(boolean on) {
    return new ClusterConfig(
        enabled,
        host,
        port,
        members,
        multicast,
        role,
        balanceAbsThreshold,
        balanceRelThreshold,
        on,
        heartbeatMillis,
        engineTimeoutMillis);
  }

  public ClusterConfig withTimings(int heartbeat, int engineTimeout) {
    return new ClusterConfig(
        enabled,
        host,
        port,
        members,
        multicast,
        role,
        balanceAbsThreshold,
        balanceRelThreshold,
        cacheAware,
        heartbeat,
        engineTimeout);
  }
}
