package io.llavaserve.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.checkpoint.Checkpoint;
import io.llavaserve.engine.tokenizer.Tokenizer;
import io.llavaserve.engine.tokenizer.TokenizerLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Prints token ids as a JSON array of id arrays, BOS as the tokenizer config says. */
@Command(name = "tokenize", description = "Tokenize text with a checkpoint's tokenizer.")
final class TokenizeCommand implements Callable<Integer> {

  @Mixin ModelOption model;
  @Spec CommandSpec spec;

  @ArgGroup(exclusive = true, multiplicity = "1")
  Input input;

  static final class Input {
    @Option(names = "--text", paramLabel = "STR", description = "One text.")
    String text;

    @Option(names = "--file", paramLabel = "FILE", description = "A JSON array of strings.")
    Path file;
  }

  @Override
  public Integer call() throws Exception {
    ObjectMapper json = new ObjectMapper();
    Path dir = model.resolve();
    Tokenizer tok;
    try (Checkpoint ckpt = Checkpoint.open(dir)) {
      tok = TokenizerLoader.load(ckpt.tokenizerJson(), ckpt.tokenizerConfigJson());
    }
    List<String> texts = new ArrayList<>();
    if (input.text != null) {
      texts.add(input.text);
    } else {
      String notStrings = input.file + ": expected a JSON array of strings";
      JsonNode root;
      try {
        root = json.readTree(input.file.toFile());
      } catch (JsonProcessingException e) {
        throw new IllegalArgumentException(notStrings + " (not valid JSON)");
      }
      if (root == null || !root.isArray()) {
        throw new IllegalArgumentException(notStrings);
      }
      for (JsonNode n : root) {
        if (!n.isTextual()) {
          throw new IllegalArgumentException(notStrings);
        }
        texts.add(n.textValue());
      }
    }
    List<int[]> ids = new ArrayList<>();
    for (String t : texts) {
      ids.add(tok.encode(t));
    }
    spec.commandLine().getOut().println(json.writeValueAsString(ids));
    return 0;
  }
}
