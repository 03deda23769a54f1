package io.llavaserve.engine.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.llavaserve.engine.config.LlavaConfig;
import io.llavaserve.engine.config.ProjectorKind;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * An opened LLaVA checkpoint directory: its config, its tensors under canonical llava-hf names
 * (whatever naming the files use), and its tokenizer and processor files.
 *
 * <p>{@link #open} checks everything the forward pass will read, so a wrong checkpoint fails here,
 * with the file and tensor named, rather than halfway through building the graph.
 */
public final class Checkpoint implements AutoCloseable {

  public static final String CONFIG = "config.json";
  public static final String TOKENIZER = "tokenizer.json";
  public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
  public static final String PREPROCESSOR_CONFIG = "preprocessor_config.json";
  public static final String CHAT_TEMPLATE = "chat_template.json";
  public static final String PROCESSOR_CONFIG = "processor_config.json";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Path directory;
  private final LlavaConfig config;
  private final List<SafetensorsFile> files;
  private final Map<String, WeightTensor> tensors;

  private Checkpoint(
      Path directory,
      LlavaConfig config,
      List<SafetensorsFile> files,
      Map<String, WeightTensor> tensors) {
    this.directory = directory;
    this.config = config;
    this.files = files;
    this.tensors = tensors;
  }

  /**
   * Opens the checkpoint in {@code dir}: reads config.json, finds the safetensors files (via {@code
   * model.safetensors.index.json} when present, else every {@code *.safetensors}), maps every
   * tensor, and checks that each one the model needs is there with the shape the config implies and
   * a supported dtype.
   */
  public static Checkpoint open(Path dir) throws CheckpointException {
    if (!Files.isDirectory(dir)) {
      throw new CheckpointException(dir + ": not a checkpoint directory");
    }
    LlavaConfigParser.Parsed parsed = LlavaConfigParser.read(dir.resolve(CONFIG));
    requireFile(dir.resolve(TOKENIZER));
    requireFile(dir.resolve(TOKENIZER_CONFIG));
    List<SafetensorsFile> files = new ArrayList<>();
    try {
      Path where = openFiles(dir, files);
      Map<String, Located> located = locate(files);
      LlavaConfig config = parsed.config();
      String linear2 = WeightShapes.PROJECTOR + "linear_2.weight";
      if (!parsed.projectorDeclared()
          && config.projector() == ProjectorKind.MLP2X_GELU
          && !located.containsKey(linear2)) {
        config = config.withProjector(ProjectorKind.LINEAR);
      }
      Map<String, WeightTensor> tensors = map(config, located, where);
      return new Checkpoint(dir, config, List.copyOf(files), tensors);
    } catch (CheckpointException | RuntimeException e) {
      closeAll(files, e);
      throw e;
    }
  }

  /** Opens the files that hold the tensors; returns the path to name when one is missing. */
  private static Path openFiles(Path dir, List<SafetensorsFile> files) throws CheckpointException {
    Path index = dir.resolve(SafetensorsWriter.INDEX_FILE);
    if (Files.exists(index)) {
      Map<String, String> weightMap = weightMap(index);
      for (String shard : new java.util.LinkedHashSet<>(weightMap.values())) {
        Path file = dir.resolve(shard);
        if (!Files.isRegularFile(file)) {
          throw CheckpointException.field(
              index, "weight_map", "names shard " + shard + ", which is missing");
        }
        files.add(SafetensorsFile.open(file));
      }
      for (SafetensorsFile f : files) {
        String shard = f.file().getFileName().toString();
        for (Map.Entry<String, String> e : weightMap.entrySet()) {
          if (e.getValue().equals(shard) && !f.contains(e.getKey())) {
            throw CheckpointException.tensor(
                f.file(), e.getKey(), "listed in " + index.getFileName() + " but not in the file");
          }
        }
      }
      return index;
    }
    List<Path> found;
    try (Stream<Path> s = Files.list(dir)) {
      found = s.filter(p -> p.getFileName().toString().endsWith(".safetensors")).sorted().toList();
    } catch (IOException e) {
      throw new CheckpointException(dir + ": cannot list: " + e, e);
    }
    if (found.isEmpty()) {
      String hint =
          Files.exists(dir.resolve("pytorch_model.bin"))
                  || Files.exists(dir.resolve("pytorch_model.bin.index.json"))
              ? " (only PyTorch .bin weights: convert them to safetensors first)"
              : "";
      throw new CheckpointException(dir + ": no *.safetensors files" + hint);
    }
    for (Path p : found) {
      files.add(SafetensorsFile.open(p));
    }
    return found.size() == 1 ? found.get(0) : dir;
  }

  private static Map<String, String> weightMap(Path index) throws CheckpointException {
    JsonNode root;
    try {
      root = JSON.readTree(index.toFile());
    } catch (IOException e) {
      throw new CheckpointException(index + ": not readable JSON: " + e.getMessage(), e);
    }
    JsonNode map = root == null ? null : root.get("weight_map");
    if (map == null || !map.isObject()) {
      throw CheckpointException.field(index, "weight_map", "missing or not an object");
    }
    Map<String, String> out = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual()) {
        throw CheckpointException.field(index, "weight_map." + e.getKey(), "expected a file name");
      }
      out.put(e.getKey(), e.getValue().textValue());
    }
    return out;
  }

  /** A canonical tensor's home: the file and the name it is stored under there. */
  private record Located(SafetensorsFile file, String stored) {}

  private static Map<String, Located> locate(List<SafetensorsFile> files)
      throws CheckpointException {
    Map<String, Located> located = new LinkedHashMap<>();
    for (SafetensorsFile f : files) {
      for (String stored : f.names()) {
        Optional<String> canonical = WeightNaming.canonical(stored);
        if (canonical.isEmpty()) {
          continue;
        }
        Located previous = located.put(canonical.get(), new Located(f, stored));
        if (previous != null) {
          throw CheckpointException.tensor(
              f.file(),
              stored,
              "duplicates "
                  + previous.stored()
                  + " in "
                  + previous.file().file()
                  + " (both are "
                  + canonical.get()
                  + ")");
        }
      }
    }
    return located;
  }

  /** Maps every loadable tensor, failing on a required one that is missing or wrong. */
  private static Map<String, WeightTensor> map(
      LlavaConfig config, Map<String, Located> located, Path where) throws CheckpointException {
    Map<String, long[]> required = WeightShapes.required(config);
    for (Map.Entry<String, long[]> r : required.entrySet()) {
      String name = r.getKey();
      Located at = located.get(name);
      if (at == null) {
        String why =
            name.equals(WeightShapes.LM_HEAD)
                ? "missing, and tie_word_embeddings is false so the embeddings cannot stand in"
                : "missing (the model needs it: shape " + Arrays.toString(r.getValue()) + ")";
        throw CheckpointException.tensor(where, name, why);
      }
      long[] actual = at.file().shape(at.stored());
      if (!Arrays.equals(actual, r.getValue())) {
        throw CheckpointException.tensor(
            at.file().file(),
            at.stored(),
            "shape "
                + Arrays.toString(actual)
                + ", expected "
                + Arrays.toString(r.getValue())
                + " from config.json");
      }
    }
    Map<String, WeightTensor> tensors = new LinkedHashMap<>();
    for (Map.Entry<String, Located> e : located.entrySet()) {
      Located at = e.getValue();
      boolean supported = DType.fromSafetensors(at.file().dtypeName(at.stored())).isPresent();
      if (!supported && !required.containsKey(e.getKey())) {
        continue; // e.g. an int64 position_ids buffer the model never reads
      }
      WeightTensor t = at.file().tensor(at.stored());
      tensors.put(
          e.getKey(), new WeightTensor(e.getKey(), t.file(), t.dtype(), t.shape(), t.data()));
    }
    if (config.text().tieWordEmbeddings()) {
      WeightTensor embed = tensors.get(WeightShapes.EMBED_TOKENS);
      tensors.put(
          WeightShapes.LM_HEAD,
          new WeightTensor(
              WeightShapes.LM_HEAD, embed.file(), embed.dtype(), embed.shape(), embed.data()));
    }
    return Collections.unmodifiableMap(tensors);
  }

  private static void requireFile(Path file) throws CheckpointException {
    if (!Files.isRegularFile(file)) {
      throw new CheckpointException(file + ": missing (the checkpoint needs it)");
    }
  }

  private static void closeAll(List<SafetensorsFile> files, Exception primary) {
    for (SafetensorsFile f : files) {
      try {
        f.close();
      } catch (IOException e) {
        primary.addSuppressed(e);
      }
    }
  }

  /** The config, with the projector kind settled by the weights when the file left it open. */
  public LlavaConfig config() {
    return config;
  }

  public Path directory() {
    return directory;
  }

  /**
   * The tensor stored under any naming as {@code canonicalName}; when embeddings are tied, {@code
   * language_model.lm_head.weight} is the embedding matrix.
   *
   * @throws NoSuchElementException naming the tensor and the directory when it is absent
   */
  public WeightTensor tensor(String canonicalName) {
    WeightTensor t = tensors.get(canonicalName);
    if (t == null) {
      throw new NoSuchElementException(
          directory + ": tensor \"" + canonicalName + "\" is not in this checkpoint");
    }
    return t;
  }

  public boolean has(String canonicalName) {
    return tensors.containsKey(canonicalName);
  }

  /** Canonical names of every tensor {@link #tensor} can return. */
  public Set<String> tensorNames() {
    return tensors.keySet();
  }

  public Path tokenizerJson() {
    return directory.resolve(TOKENIZER);
  }

  public Path tokenizerConfigJson() {
    return directory.resolve(TOKENIZER_CONFIG);
  }

  public Optional<Path> preprocessorConfigJson() {
    return optional(PREPROCESSOR_CONFIG);
  }

  /** LlavaOnevisionProcessor's settings (the processor's own token counting), when shipped. */
  public Optional<Path> processorConfigJson() {
    return optional(PROCESSOR_CONFIG);
  }

  /** Newer llava-hf checkpoints keep the chat template here rather than in tokenizer_config. */
  public Optional<Path> chatTemplateJson() {
    return optional(CHAT_TEMPLATE);
  }

  private Optional<Path> optional(String name) {
    Path p = directory.resolve(name);
    return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
  }

  /** Releases the files; tensors already handed out stay readable (their mappings persist). */
  @Override
  public void close() {
    List<IOException> failures = new ArrayList<>();
    for (SafetensorsFile f : files) {
      try {
        f.close();
      } catch (IOException e) {
        failures.add(e);
      }
    }
    if (!failures.isEmpty()) {
      throw new UncheckedIOException(failures.get(0));
    }
  }
}
