package io.llavaserve.engine.prompt;

import java.util.Objects;

/** One part of a chat message's content, as in OpenAI-style multimodal messages. */
public sealed interface ContentPart permits ContentPart.Text, ContentPart.Image {

  /** A piece of text. */
  record Text(String text) implements ContentPart {
    public Text {
      Objects.requireNonNull(text, "text");
    }
  }

  /** The place of one image; the pixels travel separately, in the order the parts appear. */
  record Image() implements ContentPart {}

  static ContentPart text(String text) {
    return new Text(text);
  }

  static ContentPart image() {
    return new Image();
  }
}
