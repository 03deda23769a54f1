package io.llavaserve.batching.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llavaserve.batching.events.RequestRejectedException;
import io.llavaserve.batching.request.GenerationRequest;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.sampling.SamplingParams;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The admission check on its own: each refusal names its field, limit and value. */
class RequestValidatorTest {

  static final int IMAGE = Workload.IMAGE_TOKEN;
  static final ModelSpec SPEC = new ModelSpec(IMAGE, 8, 32, 2);
  final RequestValidator validator = new RequestValidator(SPEC, 1000, 8, 4);

  static GenerationRequest request(int[] ids, int images, int maxTokens) {
    List<PixelValues> pixels = java.util.Collections.nCopies(images, Workload.image(3));
    return GenerationRequest.interactive("r", ids, pixels, SamplingParams.greedy(maxTokens));
  }

  static RequestRejectedException rejected(RequestValidator v, GenerationRequest r) {
    return assertThrows(RequestRejectedException.class, () -> v.validate(r));
  }

  @Test
  void aPromptThatFitsIsExpandedImageRowsIncluded() {
    assertEquals(1 + 8 + 1, validator.validate(request(new int[] {1, IMAGE, 5}, 1, 22)).length());
    assertEquals(10, validator.promptPositions(new int[] {1, IMAGE, 5}));
  }

  @Test
  void expandRepeatsEachPlaceholderForItsRowsAndChecksNoLimit() {
    int[] ids = new int[40];
    ids[3] = IMAGE;
    ids[7] = IMAGE;
    List<PixelValues> two = java.util.Collections.nCopies(2, Workload.image(3));

    int[] tokens = validator.expand(ids, two).tokens();

    // 40 ids and two images of 8 rows: past the 32-position context, yet expanded.
    assertEquals(40 - 2 + 2 * 8, tokens.length);
    assertEquals(validator.promptPositions(ids, two), tokens.length);
    for (int i = 0; i < tokens.length; i++) {
      boolean image = (i >= 3 && i < 11) || (i >= 14 && i < 22);
      assertEquals(image, tokens[i] == IMAGE, "position " + i);
    }
    RequestRejectedException e =
        assertThrows(
            RequestRejectedException.class, () -> validator.expand(ids, two.subList(0, 1)));
    assertEquals(List.of("images", 2L, 1L), List.of(e.field(), e.limit(), e.value()));
  }

  @Test
  void aPromptThatLeavesNoRoomToGenerateIsRefusedAtTheContext() {
    int[] ids = new int[32];
    RequestRejectedException e = rejected(validator, request(ids, 0, 1));
    assertEquals("prompt", e.field());
    assertEquals(31, e.limit());
    assertEquals(32, e.value());
    assertTrue(e.getMessage().contains("context length of 32"), e.getMessage());
  }

  @Test
  void maxTokensMustFitTheContextAfterThePrompt() {
    RequestRejectedException e = rejected(validator, request(new int[] {1, IMAGE, 5}, 1, 23));
    assertEquals("max_tokens", e.field());
    assertEquals(22, e.limit());
    assertEquals(23, e.value());
  }

  @Test
  void imagesMustMatchThePlaceholders() {
    RequestRejectedException e = rejected(validator, request(new int[] {1, IMAGE, IMAGE}, 1, 2));
    assertEquals(List.of("images", 2L, 1L), List.of(e.field(), e.limit(), e.value()));
  }

  @Test
  void tokenIdsMustBeInTheVocabulary() {
    RequestRejectedException e = rejected(validator, request(new int[] {1, -3}, 0, 2));
    assertEquals(List.of("prompt", 999L, -3L), List.of(e.field(), e.limit(), e.value()));
  }

  @Test
  void aServerLimitNarrowsButNeverLoosens() {
    RequestValidator narrow = validator.withMaxPromptTokens(9, "limits.max-prompt-tokens");
    assertEquals(9, narrow.maxPromptTokens());
    RequestRejectedException e = rejected(narrow, request(new int[] {1, IMAGE, 5}, 1, 2));
    assertEquals(List.of("prompt", 9L, 10L), List.of(e.field(), e.limit(), e.value()));
    assertTrue(e.getMessage().contains("(limits.max-prompt-tokens)"), e.getMessage());
    assertSame(validator, validator.withMaxPromptTokens(1000, "limits.max-prompt-tokens"));
    assertEquals(31, validator.withMaxPromptTokens(1000, "x").maxPromptTokens());
    assertTrue(narrow.isFor(SPEC, 1000));
  }

  @Test
  void defaultMaxTokensFillsTheContextUpToTheCap() {
    assertEquals(5, validator.defaultMaxTokens(10, 5));
    assertEquals(22, validator.defaultMaxTokens(10, 512));
    assertEquals(1, validator.defaultMaxTokens(40, 512)); // refused later for its prompt
  }

  @Test
  void choicesMustFitTheKvPoolTogetherThePromptsFullBlocksCountedOnce() {
    // 10 positions + 6 tokens: 2 full prompt blocks shared, 2 more per choice, in a pool of 8.
    int[] ids = {1, IMAGE, 5};
    assertEquals(10, validator.validate(request(ids, 1, 6).withN(3)).length());
    RequestRejectedException e = rejected(validator, request(ids, 1, 6).withN(4));
    assertEquals("n", e.field());
    assertEquals(3, e.limit());
    assertEquals(4, e.value());
    assertTrue(e.getMessage().startsWith("n: 4 choices"), e.getMessage());
  }
}
