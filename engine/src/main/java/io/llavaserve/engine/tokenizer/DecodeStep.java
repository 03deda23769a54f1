package io.llavaserve.engine.tokenizer;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * One step of a {@code tokenizer.json} decoder, in two forms: {@link #decodeChain} maps a whole
 * list of token strings the way Hugging Face's {@code Decoder::decode_chain} does, and {@link
 * #stage} makes a streaming version that sees the tokens one at a time. Both must give the same
 * text; the streaming form may hold text back until it knows what to emit.
 */
sealed interface DecodeStep
    permits DecodeStep.Replace,
        DecodeStep.ByteFallback,
        DecodeStep.Fuse,
        DecodeStep.Strip,
        DecodeStep.Metaspace,
        DecodeStep.ByteLevel,
        DecodeStep.JoinWithSpace {

  List<String> decodeChain(List<String> tokens);

  /**
   * A streaming stage for this step.
   *
   * @param fused whether a Fuse step came earlier, so that everything this stage sees is fragments
   *     of one single token
   */
  Stage stage(boolean fused);

  /** Streaming state of one step for one decode. */
  interface Stage {
    void accept(String token, Consumer<String> out);

    default void finish(Consumer<String> out) {}
  }

  /** Replaces a literal string in every token ("▁" to " " for LLaMA). */
  record Replace(String pattern, String content) implements DecodeStep {
    @Override
    public List<String> decodeChain(List<String> tokens) {
      return tokens.stream().map(t -> t.replace(pattern, content)).toList();
    }

    @Override
    public Stage stage(boolean fused) {
      return (token, out) -> out.accept(token.replace(pattern, content));
    }
  }

  /**
   * Turns runs of {@code <0xXX>} tokens into the UTF-8 text they spell; a run that is not valid
   * UTF-8 becomes one U+FFFD per byte, as in HF.
   */
  record ByteFallback() implements DecodeStep {
    @Override
    public List<String> decodeChain(List<String> tokens) {
      List<String> out = new ArrayList<>();
      ByteRun run = new ByteRun();
      for (String token : tokens) {
        int b = byteValue(token);
        if (b >= 0) {
          run.add(b);
        } else {
          run.drainTo(out::add);
          out.add(token);
        }
      }
      run.drainTo(out::add);
      return out;
    }

    @Override
    public Stage stage(boolean fused) {
      // A valid prefix of a run can still turn into U+FFFDs when a bad byte follows, so the
      // whole run is held until a non-byte token (or the end) closes it.
      ByteRun run = new ByteRun();
      return new Stage() {
        @Override
        public void accept(String token, Consumer<String> out) {
          int b = byteValue(token);
          if (b >= 0) {
            run.add(b);
          } else {
            run.drainTo(out);
            out.accept(token);
          }
        }

        @Override
        public void finish(Consumer<String> out) {
          run.drainTo(out);
        }
      };
    }

    /** The byte a {@code <0xXX>} token stands for, or -1 for any other token. */
    static int byteValue(String token) {
      if (token.length() != 6 || !token.startsWith("<0x") || token.charAt(5) != '>') {
        return -1;
      }
      int hi = Character.digit(token.charAt(3), 16);
      int lo = Character.digit(token.charAt(4), 16);
      return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }
  }

  /** Joins all tokens into one. */
  record Fuse() implements DecodeStep {
    @Override
    public List<String> decodeChain(List<String> tokens) {
      return List.of(String.join("", tokens));
    }

    @Override
    public Stage stage(boolean fused) {
      return (token, out) -> out.accept(token);
    }
  }

  /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters. */
  record Strip(int content, int start, int stop) implements DecodeStep {
    @Override
    public List<String> decodeChain(List<String> tokens) {
      return tokens.stream().map(this::strip).toList();
    }

    private String strip(String token) {
      int[] cps = token.codePoints().toArray();
      int startCut = 0;
      while (startCut < Math.min(start, cps.length) && cps[startCut] == content) {
        startCut++;
      }
      int stopCut = cps.length;
      while (cps.length - stopCut < stop && stopCut > startCut && cps[stopCut - 1] == content) {
        stopCut--;
      }
      return new String(cps, startCut, stopCut - startCut);
    }

    @Override
    public Stage stage(boolean fused) {
      if (!fused) {
        return (token, out) -> out.accept(strip(token));
      }
      return new Stage() {
        int strippedAtStart;
        boolean pastStart;
        final StringBuilder tail = new StringBuilder(); // trailing content chars held back

        @Override
        public void accept(String token, Consumer<String> out) {
          StringBuilder emit = new StringBuilder();
          token
              .codePoints()
              .forEach(
                  cp -> {
                    if (!pastStart && cp == content && strippedAtStart < start) {
                      strippedAtStart++;
                      return;
                    }
                    pastStart = true;
                    if (stop > 0 && cp == content) {
                      tail.appendCodePoint(cp);
                    } else {
                      emit.append(tail).appendCodePoint(cp);
                      tail.setLength(0);
                    }
                  });
          out.accept(emit.toString());
        }

        @Override
        public void finish(Consumer<String> out) {
          int keep = Math.max(0, tail.codePointCount(0, tail.length()) - stop);
          out.accept(tail.substring(0, tail.offsetByCodePoints(0, keep)));
        }
      };
    }
  }

  /**
   * The Metaspace decoder: "▁" becomes " ", except in the very first token, where every "▁" is
   * dropped (unless the prepend scheme is "never").
   */
  record Metaspace(String replacement, boolean dropInFirst) implements DecodeStep {
    @Override
    public List<String> decodeChain(List<String> tokens) {
      List<String> out = new ArrayList<>(tokens.size());
      for (int i = 0; i < tokens.size(); i++) {
        out.add(map(tokens.get(i), i == 0));
      }
      return out;
    }

    private String map(String token, boolean first) {
      return token.replace(replacement, first && dropInFirst ? "" : " ");
    }

    @Override
    public Stage stage(boolean fused) {
      return new Stage() {
        boolean first = true;

        @Override
        public void accept(String token, Consumer<String> out) {
          // After a Fuse everything is part of token 0.
          out.accept(map(token, first));
          first = fused;
        }
      };
    }
  }

  /**
   * The ByteLevel decoder of GPT-2-style vocabularies: every token back to its bytes (see {@link
   * ByteLevelAlphabet#bytesOf}), all of them joined and read as UTF-8, invalid bytes becoming
   * U+FFFD as in {@link Utf8Lossy}. The streaming stage holds back only a trailing sequence that is
   * still incomplete, so it never emits half a character.
   */
  record ByteLevel() implements DecodeStep {
    @Override
    public List<String> decodeChain(List<String> tokens) {
      Bytes all = new Bytes();
      tokens.forEach(t -> all.add(ByteLevelAlphabet.bytesOf(t)));
      StringBuilder out = new StringBuilder();
      Utf8Lossy.decode(all.bytes, all.size, true, out);
      return List.of(out.toString());
    }

    @Override
    public Stage stage(boolean fused) {
      Bytes pending = new Bytes();
      return new Stage() {
        @Override
        public void accept(String token, Consumer<String> out) {
          pending.add(ByteLevelAlphabet.bytesOf(token));
          StringBuilder text = new StringBuilder();
          pending.dropFirst(Utf8Lossy.decode(pending.bytes, pending.size, false, text));
          out.accept(text.toString());
        }

        @Override
        public void finish(Consumer<String> out) {
          StringBuilder text = new StringBuilder();
          Utf8Lossy.decode(pending.bytes, pending.size, true, text);
          pending.dropFirst(pending.size);
          out.accept(text.toString());
        }
      };
    }

    /** A growable byte buffer. */
    private static final class Bytes {
      byte[] bytes = new byte[16];
      int size;

      void add(byte[] more) {
        if (size + more.length > bytes.length) {
          bytes = java.util.Arrays.copyOf(bytes, Math.max(bytes.length * 2, size + more.length));
        }
        System.arraycopy(more, 0, bytes, size, more.length);
        size += more.length;
      }

      void dropFirst(int n) {
        System.arraycopy(bytes, n, bytes, 0, size - n);
        size -= n;
      }
    }
  }

  /** What HF does when a file has no decoder at all: join the tokens with spaces. */
  record JoinWithSpace() implements DecodeStep {
    @Override
    public List<String> decodeChain(List<String> tokens) {
      return List.of(String.join(" ", tokens));
    }

    @Override
    public Stage stage(boolean fused) {
      return new Stage() {
        boolean first = true;

        @Override
        public void accept(String token, Consumer<String> out) {
          out.accept(first || fused ? token : " " + token);
          first = false;
        }
      };
    }
  }

  /** Bytes of a run of byte-fallback tokens. */
  final class ByteRun {
    private byte[] bytes = new byte[8];
    private int size;

    void add(int b) {
      if (size == bytes.length) {
        bytes = java.util.Arrays.copyOf(bytes, size * 2);
      }
      bytes[size++] = (byte) b;
    }

    void drainTo(Consumer<String> out) {
      if (size == 0) {
        return;
      }
      try {
        CharBuffer chars =
            StandardCharsets.UTF_8
                .newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT)
                .decode(ByteBuffer.wrap(bytes, 0, size));
        out.accept(chars.toString());
      } catch (CharacterCodingException e) {
        for (int i = 0; i < size; i++) {
          out.accept("\uFFFD");
        }
      }
      size = 0;
    }
  }
}
