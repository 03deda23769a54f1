package io.llavaserve.web.cluster;

import io.llavaserve.engine.prompt.ToolCallFormat;
import io.llavaserve.engine.prompt.ToolCallIds;
import io.llavaserve.engine.prompt.ToolCallSyntax;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

/**
 * What an engine node publishes, at least once per heartbeat and at once on a change.
 *
 * @param node the engine node's cluster id
 * @param model the model id it serves
 * @param maxModelLen its context length, for {@code /v1/models}
 * @param accepting false while the node stops: its running requests finish, new ones go elsewhere
 * @param running sequences running
 * @param waiting sequences waiting for admission
 * @param kvBlocksUsed KV blocks in use
 * @param kvBlocksTotal KV blocks in the pool
 * @param summaryVersion the version of its cache summary
 * @param summary the summary's keys, or null when unchanged since the last publish of this version
 * @param toolCalls how its model writes tool calls (format and ids), which a gateway reads answers
 *     with
 */
record EngineLoad(
    String node,
    String model,
    int maxModelLen,
    boolean accepting,
    int running,
    int waiting,
    int kvBlocksUsed,
    int kvBlocksTotal,
    long summaryVersion,
    long[] summary,
    ToolCallSyntax toolCalls) {

  public EngineLoad {
    toolCalls = toolCalls == null ? ToolCallSyntax.DEFAULT : toolCalls;
  }

  /** A load whose model writes tool calls in the default format. */
  EngineLoad(
      String node,
      String model,
      int maxModelLen,
      boolean accepting,
      int running,
      int waiting,
      int kvBlocksUsed,
      int kvBlocksTotal,
      long summaryVersion,
      long[] summary) {
    this(
        node,
        model,
        maxModelLen,
        accepting,
        running,
        waiting,
        kvBlocksUsed,
        kvBlocksTotal,
        summaryVersion,
        summary,
        ToolCallSyntax.DEFAULT);
  }

  /** Requests on the engine: what routing compares (SGLang's load). */
  int load() {
    return running + waiting;
  }

  double kvUsage() {
    return kvBlocksTotal == 0 ? 0 : (double) kvBlocksUsed / kvBlocksTotal;
  }

  int freeBlocks() {
    return kvBlocksTotal - kvBlocksUsed;
  }

  /** The same figures without the summary's keys. */
  EngineLoad withoutSummary() {
    return new EngineLoad(
        node,
        model,
        maxModelLen,
        accepting,
        running,
        waiting,
        kvBlocksUsed,
        kvBlocksTotal,
        summaryVersion,
        null,
        toolCalls);
  }

  JsonObject toJson() {
    JsonObject j =
        new JsonObject()
            .put("node", node)
            .put("model", model)
            .put("max_model_len", maxModelLen)
            .put("accepting", accepting)
            .put("running", running)
            .put("waiting", waiting)
            .put("kv_blocks_used", kvBlocksUsed)
            .put("kv_blocks_total", kvBlocksTotal)
            .put("kv_usage", kvUsage())
            .put("free_blocks", freeBlocks())
            .put("summary_version", summaryVersion)
            .put("tool_call_parser", toolCalls.format().parserName())
            .put("tool_call_format", toolCalls.format().wireName())
            .put("tool_call_ids", toolCalls.ids().wireName());
    if (summary != null) {
      JsonArray keys = new JsonArray();
      for (long k : summary) {
        keys.add(k);
      }
      j.put("summary", keys);
    }
    return j;
  }

  static EngineLoad fromJson(JsonObject j) {
    JsonArray keys = j.getJsonArray("summary");
    long[] summary = null;
    if (keys != null) {
      summary = new long[keys.size()];
      for (int i = 0; i < summary.length; i++) {
        summary[i] = keys.getLong(i);
      }
    }
    return new EngineLoad(
        j.getString("node"),
        j.getString("model"),
        j.getInteger("max_model_len"),
        j.getBoolean("accepting", true),
        j.getInteger("running"),
        j.getInteger("waiting"),
        j.getInteger("kv_blocks_used"),
        j.getInteger("kv_blocks_total"),
        j.getLong("summary_version"),
        summary,
        new ToolCallSyntax(
            ToolCallFormat.ofWireName(j.getString("tool_call_format", ""))
                .or(() -> ToolCallFormat.ofParser(j.getString("tool_call_parser", "")))
                .orElse(ToolCallFormat.HERMES),
            ToolCallIds.ofWireName(j.getString("tool_call_ids", "")).orElse(ToolCallIds.OPENAI)));
  }
}
