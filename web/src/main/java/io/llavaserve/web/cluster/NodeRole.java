package io.llavaserve.web.cluster;

import java.util.Locale;

/** What a node of the cluster does. */
public enum NodeRole {
  /** The HTTP, SSE and WebSocket front end, without a model: requests go to engine nodes. */
  GATEWAY,
  /** A model and its engine, taking requests from gateways; no public API. */
  ENGINE,
  /** A model served over HTTP as a single node does, and offered to gateways too. */
  BOTH;

  /** The role a {@code --role} value or {@code cluster.role} names. */
  public static NodeRole parse(String name) {
    try {
      return valueOf(name.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "cluster.role must be gateway, engine or both, got " + name, e);
    }
  }

  public boolean servesModel() {
    return this != GATEWAY;
  }

  public boolean publicApi() {
    return this != ENGINE;
  }
}
