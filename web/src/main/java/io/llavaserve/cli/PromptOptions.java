package io.llavaserve.cli;

import io.llavaserve.engine.LlavaModel;
import io.llavaserve.engine.image.ImageException;
import io.llavaserve.engine.image.PixelValues;
import io.llavaserve.engine.prompt.ChatMessage;
import io.llavaserve.engine.prompt.ContentPart;
import io.llavaserve.engine.prompt.PromptBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** A prompt given on the command line: text, images, and whether to apply the chat template. */
final class PromptOptions {

  @Option(
      names = "--image",
      paramLabel = "FILE",
      description = "Image file (repeatable, in prompt order).")
  List<Path> images = new ArrayList<>();

  @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "The question.")
  String prompt;

  @Option(names = "--system", paramLabel = "TEXT", description = "Optional system message.")
  String system;

  @Option(
      names = "--raw",
      description =
          "Use the prompt text as it is, with no chat template; <image> marks each image.")
  boolean raw;

  /** Prompt ids with one image token per image. */
  PromptBuilder.Prompt build(LlavaModel model) {
    if (raw) {
      return model.rawPrompt(prompt);
    }
    List<ChatMessage> messages = new ArrayList<>();
    if (system != null) {
      messages.add(ChatMessage.text("system", system));
    }
    List<ContentPart> parts = new ArrayList<>();
    for (int i = 0; i < images.size(); i++) {
      parts.add(new ContentPart.Image());
    }
    parts.add(new ContentPart.Text(prompt));
    messages.add(new ChatMessage("user", parts));
    return model.chatPrompt(messages);
  }

  List<PixelValues> pixels(LlavaModel model) throws IOException, ImageException {
    List<PixelValues> out = new ArrayList<>();
    for (Path p : images) {
      try {
        out.add(model.preprocess(Files.readAllBytes(p), images.size()));
      } catch (NoSuchFileException e) {
        throw new IllegalArgumentException(p + ": no such file");
      } catch (ImageException e) {
        throw new ImageException(e.reason(), p + ": " + e.getMessage());
      }
    }
    return out;
  }
}
