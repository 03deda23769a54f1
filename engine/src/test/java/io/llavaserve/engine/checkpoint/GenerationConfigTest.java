package io.llavaserve.engine.checkpoint;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerationConfigTest {

  @TempDir Path dir;

  private GenerationConfig read(String json) throws Exception {
    Files.writeString(dir.resolve(GenerationConfig.FILE), json);
    return GenerationConfig.read(dir, 1000);
  }

  @Test
  void aListOfIdsKeepsItsOrder() throws Exception {
    GenerationConfig g = read("{\"bos_token_id\": 1, \"eos_token_id\": [7, 2, 7]}");

    assertEquals(List.of(7, 2), List.copyOf(g.eosTokenIds()));
  }

  @Test
  void oneIdIsASetOfOne() throws Exception {
    assertEquals(Set.of(2), read("{\"eos_token_id\": 2, \"pad_token_id\": 0}").eosTokenIds());
  }

  @Test
  void noFileOrNoFieldMeansNothingMore() throws Exception {
    assertTrue(GenerationConfig.read(dir, 1000).eosTokenIds().isEmpty());
    assertTrue(read("{\"temperature\": 0.7}").eosTokenIds().isEmpty());
    assertTrue(read("{\"eos_token_id\": null}").eosTokenIds().isEmpty());
  }

  @Test
  void idsOutsideTheVocabularyOrNotIdsAreRefusedNamingTheField() {
    for (String bad :
        List.of(
            "{\"eos_token_id\": 1000}",
            "{\"eos_token_id\": [2, -1]}",
            "{\"eos_token_id\": \"</s>\"}",
            "{\"eos_token_id\": [2.5]}")) {
      CheckpointException e = assertThrows(CheckpointException.class, () -> read(bad), bad);
      assertTrue(e.getMessage().contains("\"eos_token_id\""), e.getMessage());
      assertTrue(e.getMessage().contains("[0, 999]"), e.getMessage());
    }
  }

  @Test
  void notJsonIsRefusedNamingTheFile() {
    CheckpointException e = assertThrows(CheckpointException.class, () -> read("{eos"));
    assertTrue(e.getMessage().contains(GenerationConfig.FILE), e.getMessage());
  }
}
