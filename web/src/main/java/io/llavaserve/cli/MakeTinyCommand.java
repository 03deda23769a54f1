package io.llavaserve.cli;

import io.llavaserve.engine.checkpoint.TinyCheckpoint;
import io.llavaserve.engine.checkpoint.TinySpec;
import io.llavaserve.engine.checkpoint.ToolTemplate;
import io.llavaserve.engine.config.TextFamily;
import io.llavaserve.engine.config.VisionFamily;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Writes a deterministic random checkpoint in the llava-hf layout. */
@Command(
    name = "make-tiny",
    description =
        "Write a small random llava checkpoint (tiny, bench, qwen2, mistral, qwen2-0.5b,"
            + " interleave-0.5b, siglip-qwen2, next or onevision preset).")
final class MakeTinyCommand implements Callable<Integer> {

  /** The presets, each under the name the command line uses. */
  enum Preset {
    TINY("tiny"),
    BENCH("bench"),
    QWEN2("qwen2"),
    MISTRAL("mistral"),
    QWEN2_HALF("qwen2-0.5b"),
    INTERLEAVE_HALF("interleave-0.5b"),
    SIGLIP_QWEN2("siglip-qwen2"),
    NEXT("next"),
    ONEVISION("onevision");

    final String label;

    Preset(String label) {
      this.label = label;
    }

    TinySpec spec() {
      return switch (this) {
        case TINY -> TinySpec.tiny();
        case BENCH -> TinySpec.bench();
        case QWEN2 ->
            TinySpec.tiny()
                .withTextFamily(TextFamily.QWEN2)
                .withTiedEmbeddings(true)
                .withRopeTheta(1e6);
        case MISTRAL -> TinySpec.tiny().withTextFamily(TextFamily.MISTRAL);
        case QWEN2_HALF -> TinySpec.qwen2Half();
        case INTERLEAVE_HALF -> TinySpec.interleaveHalf();
        case SIGLIP_QWEN2 -> TinySpec.siglipQwen2();
        case NEXT -> TinySpec.next();
        case ONEVISION -> TinySpec.onevision();
      };
    }
  }

  @Option(names = "--out", required = true, paramLabel = "DIR")
  Path out;

  @Option(names = "--seed", defaultValue = "0")
  long seed;

  @Option(
      names = "--preset",
      defaultValue = "tiny",
      converter = PresetConverter.class,
      description =
          "tiny | bench | qwen2 (tiny, Qwen2 decoder) | mistral (tiny, Mistral decoder with a"
              + " 1024-token window) | qwen2-0.5b (Qwen2-0.5B-shaped decoder, bench tower) |"
              + " interleave-0.5b (llava-interleave-qwen-0.5b's real shapes: SigLIP-so400m at 384"
              + " px and the Qwen2-0.5B decoder, float16, about 1.8 GB) |"
              + " siglip-qwen2 (tiny, SigLIP tower and Qwen2 decoder as llava-interleave) |"
              + " next (tiny, llava_next: llava-v1.6's tiling with 56 px tiles, image_newline) |"
              + " onevision (tiny, llava_onevision as llava-hf writes llava-onevision-qwen2: the"
              + " siglip-qwen2 model tiling at OneVision's 36 pinpoints of 60 px tiles,"
              + " anyres_max_9, image_newline, LlavaOnevisionImageProcessor, ChatML template)"
              + " (default: tiny).")
  Preset preset;

  @Option(
      names = "--vision",
      converter = VisionConverter.class,
      paramLabel = "FAMILY",
      description =
          "clip | siglip: the vision tower's family, replacing the preset's (SigLIP: features"
              + " from the last layer, every patch kept, a SiglipImageProcessor config).")
  VisionFamily vision;

  @Option(
      names = "--tool-template",
      converter = ToolTemplateConverter.class,
      paramLabel = "NAME",
      description =
          "llama3.1 | mistral-v0.3 | mistral-v11 | llama3.2: carry a tool-calling chat template"
              + " instead of the preset's (Llama 3.1 Instruct's and Mistral 7B Instruct v0.3's own;"
              + " mistral-v11 in the [TOOL_CALLS]name[ARGS]{...} format of Mistral's v11"
              + " tokenizers; llama3.2 in Llama 3.2's pythonic format), with the special tokens it"
              + " writes added to the tokenizer (Llama's <|start_header_id|>, <|eot_id|> as EOS,"
              + " <|python_tag|>...; Mistral's [INST], [TOOL_CALLS], [AVAILABLE_TOOLS]..., and"
              + " [ARGS], [CALL_ID] for v11), so the server reads its calls in that format.")
  ToolTemplate toolTemplate;

  @Spec CommandSpec command;

  @Override
  public Integer call() throws Exception {
    TinySpec spec = preset.spec().withSeed(seed);
    if (vision != null) {
      spec = spec.withVisionFamily(vision);
    }
    long start = System.nanoTime();
    TinyCheckpoint.write(out, spec);
    if (toolTemplate != null) {
      toolTemplate.applyTo(out);
    }
    command
        .commandLine()
        .getErr()
        .printf(
            "wrote %s checkpoint (%s, %s tower%s) to %s in %.1f s%n",
            preset.label,
            spec.toConfig().modelType(),
            spec.visionFamily().modelType(),
            toolTemplate == null ? "" : ", " + toolTemplate.label() + " tool template",
            out,
            (System.nanoTime() - start) / 1e9);
    return 0;
  }

  /** A preset by its command-line name. */
  static final class PresetConverter implements picocli.CommandLine.ITypeConverter<Preset> {
    @Override
    public Preset convert(String value) {
      for (Preset p : Preset.values()) {
        if (p.label.equals(value)) {
          return p;
        }
      }
      throw new picocli.CommandLine.TypeConversionException(
          "expected one of tiny, bench, qwen2, mistral, qwen2-0.5b, siglip-qwen2, next,"
              + " onevision, got "
              + value);
    }
  }

  /** A tool template by its command-line name. */
  static final class ToolTemplateConverter
      implements picocli.CommandLine.ITypeConverter<ToolTemplate> {
    @Override
    public ToolTemplate convert(String value) {
      try {
        return ToolTemplate.ofLabel(value);
      } catch (IllegalArgumentException e) {
        throw new picocli.CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  /** A tower family by its command-line name. */
  static final class VisionConverter implements picocli.CommandLine.ITypeConverter<VisionFamily> {
    @Override
    public VisionFamily convert(String value) {
      return switch (value) {
        case "clip" -> VisionFamily.CLIP;
        case "siglip" -> VisionFamily.SIGLIP;
        default ->
            throw new picocli.CommandLine.TypeConversionException(
                "expected clip or siglip, got " + value);
      };
    }
  }
}
