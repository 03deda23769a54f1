package io.llavaserve.engine.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerLoaderTest {

  @TempDir Path dir;

  @Test
  void aByteLevelFileLoadsAsByteLevelBpeAndAMetaspaceFileAsLlama() throws Exception {
    Path qwen = Qwen2Fixtures.dir(Qwen2Fixtures.QWEN2);
    Tokenizer byteLevel =
        TokenizerLoader.load(qwen.resolve("tokenizer.json"), qwen.resolve("tokenizer_config.json"));
    assertInstanceOf(ByteLevelBpeTokenizer.class, byteLevel);

    LlamaTokenizer.writeBundledLlamaFiles(dir);
    Tokenizer llama =
        TokenizerLoader.load(dir.resolve("tokenizer.json"), dir.resolve("tokenizer_config.json"));
    assertInstanceOf(LlamaTokenizer.class, llama);
    assertArrayEquals(
        LlamaTokenizer.bundledLlama().encode("USER: <image>\nHi"),
        llama.encode("USER: <image>\nHi"));
  }

  @Test
  void aMissingConfigLeavesEosUnsetAndStillLoads() throws Exception {
    Path qwen = Qwen2Fixtures.dir(Qwen2Fixtures.QWEN2);
    Tokenizer tok = TokenizerLoader.load(qwen.resolve("tokenizer.json"), dir.resolve("none.json"));
    assertTrue(tok.eosId() == -1 && tok.bosId() == -1);
  }

  @Test
  void aModelThatIsNotBpeIsRefusedNamingModelType() throws Exception {
    ByteLevelFiles f = new ByteLevelFiles();
    ((ObjectNode) f.root.get("model")).put("type", "WordPiece");
    assertRefused(f, "model.type is 'WordPiece'");
  }

  @Test
  void aPreTokenizerNeitherPathServesIsRefusedNamingIt() throws Exception {
    ByteLevelFiles f = new ByteLevelFiles();
    f.root.set("pre_tokenizer", ByteLevelFiles.JSON.createObjectNode().put("type", "Whitespace"));
    assertRefused(f, "pre_tokenizer.type is 'Whitespace'");

    ByteLevelFiles g = new ByteLevelFiles();
    ((ObjectNode) g.root.at("/pre_tokenizer/pretokenizers/0")).put("type", "Digits");
    assertRefused(g, "pre_tokenizer.pretokenizers[0].type 'Digits'");
  }

  @Test
  void aByteLevelVocabularyWithoutAllByteSymbolsIsRefused() throws Exception {
    ByteLevelFiles f = new ByteLevelFiles();
    ((ObjectNode) f.root.at("/model/vocab")).remove("Ġ");
    assertRefused(f, "model.vocab has no symbol for byte 0x20");
  }

  @Test
  void anUnknownPostProcessorOrBadRegexIsRefusedNamingTheField() throws Exception {
    ByteLevelFiles f = new ByteLevelFiles();
    f.root.set("post_processor", ByteLevelFiles.JSON.createObjectNode().put("type", "Frobnicate"));
    assertRefused(f, "post_processor.type 'Frobnicate'");

    ByteLevelFiles g = new ByteLevelFiles();
    ((ObjectNode) g.root.at("/pre_tokenizer/pretokenizers/0/pattern")).put("Regex", "(unclosed");
    assertRefused(g, "pre_tokenizer.pretokenizers[0].pattern.Regex");
  }

  private void assertRefused(ByteLevelFiles f, String message) throws Exception {
    Path json = dir.resolve("tokenizer.json");
    Files.writeString(json, ByteLevelFiles.JSON.writeValueAsString(f.root));
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> TokenizerLoader.load(json, null));
    assertTrue(e.getMessage().contains(message), e.getMessage());
    assertTrue(e.getMessage().contains(json.toString()), e.getMessage());
  }
}
