package io.llavaserve.web.batchjobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponse;
import com.openai.models.batches.Batch;
import com.openai.models.batches.BatchCreateParams;
import com.openai.models.files.FileCreateParams;
import com.openai.models.files.FileObject;
import com.openai.models.files.FilePurpose;
import io.llavaserve.web.TestServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The official OpenAI Java SDK's file and batch calls, unmodified, against the server. */
class BatchSdkTest {

  @TempDir Path dir;

  @Test
  void sdkUploadsCreatesRetrievesCancelsAndDownloads() throws Exception {
    try (TestServer s = TestServer.on(dir).batches(dir.resolve("data"), 32).start()) {
      OpenAIClient client =
          OpenAIOkHttpClient.builder().baseUrl(s.url("/v1")).apiKey("unused").maxRetries(0).build();
      FileObject file =
          client
              .files()
              .create(
                  FileCreateParams.builder()
                      .file(Jobs.input(dir, "sdk.jsonl", 20, 2, 0))
                      .purpose(FilePurpose.BATCH)
                      .build());
      assertTrue(file.id().startsWith("file-"));
      assertEquals("sdk.jsonl", file.filename());
      Batch batch =
          client
              .batches()
              .create(
                  BatchCreateParams.builder()
                      .inputFileId(file.id())
                      .endpoint(BatchCreateParams.Endpoint.V1_CHAT_COMPLETIONS)
                      .completionWindow(BatchCreateParams.CompletionWindow._24H)
                      .build());
      long deadline = System.nanoTime() + 60_000_000_000L;
      while (!batch.status().equals(Batch.Status.COMPLETED) && System.nanoTime() < deadline) {
        Thread.sleep(50);
        batch = client.batches().retrieve(batch.id());
      }
      assertEquals(Batch.Status.COMPLETED, batch.status());
      assertEquals(20, batch.requestCounts().orElseThrow().completed());
      try (HttpResponse content = client.files().content(batch.outputFileId().orElseThrow())) {
        String text = new String(content.body().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(20, Jobs.byCustomId(text).size());
      }

      Batch big =
          client
              .batches()
              .create(
                  BatchCreateParams.builder()
                      .inputFileId(
                          client
                              .files()
                              .create(
                                  FileCreateParams.builder()
                                      .file(Jobs.input(dir, "sdk2.jsonl", 300, 24, 0))
                                      .purpose(FilePurpose.BATCH)
                                      .build())
                              .id())
                      .endpoint(BatchCreateParams.Endpoint.V1_CHAT_COMPLETIONS)
                      .completionWindow(BatchCreateParams.CompletionWindow._24H)
                      .build());
      Batch cancelled = client.batches().cancel(big.id());
      assertTrue(
          List.of(Batch.Status.CANCELLING, Batch.Status.CANCELLED).contains(cancelled.status()));
    }
  }
}
