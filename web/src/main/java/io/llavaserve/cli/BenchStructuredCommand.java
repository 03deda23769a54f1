package io.llavaserve.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llavaserve.batching.engine.EngineConfig;
import io.llavaserve.batching.engine.LlavaEngine;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.sampling.SamplingParams;
import io.llavaserve.engine.sampling.constraint.Grammar;
import io.llavaserve.engine.sampling.constraint.GrammarMatcher;
import io.llavaserve.engine.sampling.constraint.GrammarMatchers;
import io.llavaserve.engine.sampling.constraint.JsonSchemaGrammar;
import io.llavaserve.engine.sampling.constraint.TokenMask;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * What constrained decoding costs: the engine's decode step with 1 and 32 concurrent requests
 * unconstrained, with a JSON schema and with json_object (sampled, so its states vary), in one run;
 * the token-mask work alone (masks computed by the trie walk vs served from the cache); and the
 * compile time of a large schema.
 */
@Command(
    name = "structured",
    description = "Benchmark constrained decoding (response_format) against free decoding.")
final class BenchStructuredCommand implements Callable<Integer> {

  private static final ObjectMapper JSON = new ObjectMapper();

  @Mixin ModelOption model;

  @Mixin EngineOptions engineFlags;

  @Option(names = "--concurrency", split = ",", defaultValue = "1,32")
  int[] concurrency;

  @Option(names = "--prompt-tokens", defaultValue = "32")
  int promptTokens;

  @Option(names = "--output-tokens", defaultValue = "48")
  int outputTokens;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    Settings settings = model.settings().with(engineFlags.flags());
    EngineConfig config =
        ServingConfig.forConcurrency(
            ServingConfig.engine(settings), Arrays.stream(concurrency).max().orElse(1));
    Grammar schema =
        JsonSchemaGrammar.compile(
            JSON.readTree(
                "{\"type\":\"object\",\"properties\":{\"title\":{\"type\":\"string\"},"
                    + "\"year\":{\"type\":\"integer\"}},\"required\":[\"title\",\"year\"]}"),
            "schema");
    Grammar anyObject = JsonSchemaGrammar.anyObject();
    try (ServingStack stack = ServingStack.inProcess()) {
      stack.load(model.resolve(), ServingConfig.model(settings)).startEngine(config);
      LlavaModel m = stack.model();
      LlavaEngine engine = stack.engine();
      int vocab = Math.min(32000, m.config().text().vocabSize());
      out.printf(
          "model: decoder %d x %d layers, vocab %d; %d-token prompts, up to %d-token answers%n%n",
          m.config().text().hiddenSize(),
          m.config().text().numHiddenLayers(),
          m.config().text().vocabSize(),
          promptTokens,
          outputTokens);
      SplittableRandom rnd = new SplittableRandom(7);
      wave(engine, requests(rnd, vocab, 1, null, true), null); // warm-up
      wave(engine, requests(rnd, vocab, 1, schema, true), null);
      out.println("concurrency  decoding                ITL p50 ms  ITL mean ms  tokens");
      for (int n : concurrency) {
        double[] free = wave(engine, requests(rnd, vocab, n, null, true), row(out, n, "free"));
        double[] s =
            wave(engine, requests(rnd, vocab, n, schema, true), row(out, n, "json_schema, greedy"));
        double[] o =
            wave(
                engine, requests(rnd, vocab, n, anyObject, false), row(out, n, "json_object, T=1"));
        out.printf(
            "%11d  added per step (ITL p50 / mean): json_schema %+.1f%% / %+.1f%%,"
                + " json_object %+.1f%% / %+.1f%%%n",
            n,
            100 * (s[0] / free[0] - 1),
            100 * (s[1] / free[1] - 1),
            100 * (o[0] / free[0] - 1),
            100 * (o[1] / free[1] - 1));
      }
      out.println();
      maskWork(m, anyObject, out);
      compileTime(m, out);
    }
    return 0;
  }

  private static String row(PrintWriter out, int n, String label) {
    return String.format("%11d  %-22s", n, label);
  }

  private List<GenerationRequest> requests(
      SplittableRandom rnd, int vocab, int n, Grammar grammar, boolean greedy) {
    List<GenerationRequest> reqs = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int[] ids = new int[promptTokens];
      ids[0] = 1;
      for (int k = 1; k < ids.length; k++) {
        ids[k] = 3 + rnd.nextInt(vocab - 3);
      }
      SamplingParams.Builder p =
          SamplingParams.builder().maxTokens(outputTokens).ignoreEos(grammar == null);
      p.temperature(greedy ? 0 : 1).seed(rnd.nextLong()).grammar(grammar);
      reqs.add(GenerationRequest.interactive("b" + n + "-" + i, ids, List.of(), p.build()));
    }
    return reqs;
  }

  /** Runs the wave; prints its row when labelled; returns the inter-token latency p50 and mean. */
  private double[] wave(LlavaEngine engine, List<GenerationRequest> reqs, String label) {
    long start = System.nanoTime();
    List<CompletableFuture<BenchStats.Trace>> pending = new ArrayList<>();
    for (GenerationRequest r : reqs) {
      pending.add(BenchStats.submit(engine, r));
    }
    List<BenchStats.Trace> traces = pending.stream().map(CompletableFuture::join).toList();
    BenchStats.Summary s = BenchStats.Summary.of(traces, (System.nanoTime() - start) / 1e9);
    if (s.failed() > 0) {
      throw new IllegalStateException(s.failed() + " requests failed: " + s.firstError());
    }
    double mean = BenchStats.mean(s.itlMs());
    double p50 = BenchStats.percentile(s.itlMs(), 50);
    if (label != null) {
      PrintWriter out = spec.commandLine().getOut();
      long tokens = Math.round(s.outputTokensPerSec() * s.wallSec());
      out.printf("%s  %10.2f  %11.2f  %6d%n", label, p50, mean, tokens);
      out.flush();
    }
    return new double[] {p50, mean};
  }

  /**
   * The mask work alone, on the model's tokenizer: 32 sequences of json_object stepping with random
   * allowed tokens, as the engine does (one shared automaton and mask cache).
   */
  private static void maskWork(LlavaModel m, Grammar grammar, PrintWriter out) {
    long t0 = System.nanoTime();
    GrammarMatchers matchers = new GrammarMatchers(m.tokenizer(), m.tokenizer().eosId());
    matchers.matcher(grammar);
    double trieMs = (System.nanoTime() - t0) / 1e6;
    SplittableRandom rnd = new SplittableRandom(3);
    GrammarMatcher[] seqs = new GrammarMatcher[32];
    for (int i = 0; i < seqs.length; i++) {
      seqs[i] = matchers.matcher(grammar);
    }
    int steps = 64;
    long masked = 0;
    long maskNanos = 0;
    int[] allowed = new int[m.tokenizer().vocabSize()];
    for (int step = 0; step < steps; step++) {
      for (GrammarMatcher g : seqs) {
        if (!g.canContinue()) {
          continue;
        }
        long a = System.nanoTime();
        TokenMask mask = g.allowed();
        maskNanos += System.nanoTime() - a;
        masked++;
        int n = 0;
        for (int id = 0; id < allowed.length; id++) {
          if (mask.allows(id) && id != m.tokenizer().eosId()) {
            allowed[n++] = id;
          }
        }
        if (n > 0) {
          g.accept(allowed[rnd.nextInt(n)]);
        }
      }
    }
    out.printf(
        "token masks, json_object, 32 sequences x %d random steps: %.1f us per mask on average"
            + " (%d masks; the tokenizer's trie built in %.0f ms)%n",
        steps, maskNanos / 1e3 / masked, masked, trieMs);
  }

  /** A large schema: 200 properties over nested objects, enums, arrays and refs. */
  private static void compileTime(LlavaModel m, PrintWriter out) throws Exception {
    ObjectNode schema = JSON.createObjectNode();
    ObjectNode defs = schema.putObject("$defs");
    ObjectNode address = defs.putObject("address").put("type", "object");
    address.putObject("properties").putObject("street").put("type", "string");
    address.putArray("required").add("street");
    schema.put("type", "object");
    ObjectNode props = schema.putObject("properties");
    for (int i = 0; i < 200; i++) {
      ObjectNode p = props.putObject("field_" + i);
      switch (i % 6) {
        case 0 -> p.put("type", "string");
        case 1 -> p.put("type", "integer");
        case 2 -> p.putArray("enum").add("alpha").add("beta").add("gamma").add("delta");
        case 3 -> p.put("type", "array").putObject("items").put("type", "number");
        case 4 -> p.put("$ref", "#/$defs/address");
        default -> p.putArray("type").add("boolean").add("null");
      }
    }
    JsonNode tree = schema;
    double[] ms = new double[5];
    Grammar g = null;
    for (int i = 0; i < ms.length; i++) {
      long t0 = System.nanoTime();
      g = JsonSchemaGrammar.compile(tree, "schema");
      ms[i] = (System.nanoTime() - t0) / 1e6;
    }
    Arrays.sort(ms);
    GrammarMatchers matchers = new GrammarMatchers(m.tokenizer(), m.tokenizer().eosId());
    matchers.matcher(JsonSchemaGrammar.anyObject()).allowed(); // the trie, built once
    long t0 = System.nanoTime();
    matchers.matcher(g).allowed();
    double firstMask = (System.nanoTime() - t0) / 1e6;
    out.printf(
        "large schema (200 properties, %d rules, %d elements): compile %.1f ms (median of 5),"
            + " first mask %.1f ms%n",
        g.numRules(), g.size(), ms[ms.length / 2], firstMask);
  }
}
