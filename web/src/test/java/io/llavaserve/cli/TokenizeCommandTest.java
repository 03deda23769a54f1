package io.llavaserve.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizeCommandTest {

  @TempDir static Path dir;
  private static String model;
  private static String qwen2Model;

  @BeforeAll
  static void checkpoint() throws Exception {
    TinyCheckpoint.write(dir.resolve("model"), TinySpec.tiny());
    model = dir.resolve("model").toString();
    TinyCheckpoint.write(dir.resolve("qwen2"), TinySpec.tiny());
    writeByteLevelTokenizer(dir.resolve("qwen2"));
    qwen2Model = dir.resolve("qwen2").toString();
  }

  /**
   * Replaces a checkpoint's tokenizer with a byte-level one in Qwen2's format: the 256 byte symbols
   * (GPT-2's alphabet) with their byte as id, merges "h i" (256) and "Ġ hi" (257), then {@code
   * <|endoftext|>} 258, {@code <|im_start|>} 259, {@code <|im_end|>} 260, {@code <image>} 261.
   */
  private static void writeByteLevelTokenizer(Path folder) throws Exception {
    ObjectMapper json = new ObjectMapper();
    ObjectNode root = json.createObjectNode();
    ArrayNode added = root.putArray("added_tokens");
    String[] specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"};
    for (int i = 0; i < specials.length; i++) {
      added
          .addObject()
          .put("id", 258 + i)
          .put("content", specials[i])
          .put("special", true)
          .put("normalized", false);
    }
    root.putObject("normalizer").put("type", "NFC");
    ObjectNode pre = root.putObject("pre_tokenizer").put("type", "Sequence");
    ArrayNode steps = pre.putArray("pretokenizers");
    ObjectNode split = steps.addObject().put("type", "Split").put("behavior", "Isolated");
    split
        .putObject("pattern")
        .put(
            "Regex",
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
                + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+");
    steps
        .addObject()
        .put("type", "ByteLevel")
        .put("add_prefix_space", false)
        .put("use_regex", false);
    root.putObject("post_processor").put("type", "ByteLevel");
    root.putObject("decoder").put("type", "ByteLevel");
    ObjectNode bpe = root.putObject("model").put("type", "BPE");
    ObjectNode vocab = bpe.putObject("vocab");
    int next = 256;
    for (int b = 0; b < 256; b++) {
      boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      vocab.put(String.valueOf((char) (printable ? b : next++)), b);
    }
    vocab.put("hi", 256);
    vocab.put("\u0120hi", 257);
    bpe.putArray("merges").add("h i").add("\u0120 hi");
    json.writeValue(folder.resolve("tokenizer.json").toFile(), root);
    json.writeValue(
        folder.resolve("tokenizer_config.json").toFile(),
        json.createObjectNode().putNull("bos_token").put("eos_token", "<|im_end|>"));
  }

  @Test
  void aQwen2StyleByteLevelTokenizerGivesItsIdsWithoutBos() {
    Cli.Run run =
        Cli.run("tokenize", "--model", qwen2Model, "--text", "<|im_start|>hi hi<image>\n");

    assertEquals(0, run.exit(), run.err());
    assertEquals("[[259,256,257,261,10]]", run.out().strip());
  }

  @Test
  void textGivesTheLlamaIdsWithBosAndTheImageToken() {
    Cli.Run run = Cli.run("tokenize", "--model", model, "--text", "USER: <image>\nWhat");

    assertEquals(0, run.exit(), run.err());
    assertEquals("[[1,3148,1001,29901,29871,32000,29871,13,5618]]", run.out().strip());
  }

  @Test
  void fileWithTwoStringsGivesTwoArrays() throws Exception {
    // "What" at the start of a text is "▁What" (1724); after a newline it is "What" (5618).
    Path file = Files.writeString(dir.resolve("two.json"), "[\"What\", \"USER: hi\"]");

    Cli.Run run = Cli.run("tokenize", "--model", model, "--file", file.toString());

    assertEquals(0, run.exit(), run.err());
    assertEquals("[[1,1724],[1,3148,1001,29901,7251]]", run.out().strip());
  }

  @Test
  void fileThatIsNotAnArrayOfStringsFailsNamingTheFile() throws Exception {
    String[] contents = {
      "{\"text\": \"hi\"}", "[\"a\", 3]", "\"just a string\"", "[\"unterminated"
    };
    for (int i = 0; i < contents.length; i++) {
      Path file = Files.writeString(dir.resolve("bad" + i + ".json"), contents[i]);

      Cli.Run run = Cli.run("tokenize", "--model", model, "--file", file.toString());

      assertNotEquals(0, run.exit(), contents[i]);
      String line = run.errorLine();
      assertTrue(line.contains(file.toString()), line);
      assertTrue(line.contains("expected a JSON array of strings"), line);
      assertEquals("", run.out());
    }
  }

  @Test
  void textAndFileTogetherAreRejected() {
    Cli.Run run = Cli.run("tokenize", "--model", model, "--text", "a", "--file", "b.json");

    assertNotEquals(0, run.exit());
    assertTrue(run.err().contains("mutually exclusive"), run.err());
  }
}
