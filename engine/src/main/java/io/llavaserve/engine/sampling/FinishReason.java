package io.llavaserve.engine.sampling;

/** Why a sequence stopped generating, as reported in {@code finish_reason}. */
public enum FinishReason {
  /** EOS, a stop token id or a stop string. */
  STOP,
  /** {@code max_tokens} or the model's context length was reached. */
  LENGTH,
  /** The client went away or cancelled the request. */
  ABORT,
  /** An internal failure ended the request. */
  ERROR;

  /** The value of the OpenAI / vLLM {@code finish_reason} field. */
  public String wireName() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
