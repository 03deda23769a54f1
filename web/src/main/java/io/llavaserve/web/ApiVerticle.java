package io.llavaserve.web;

import static io.llavaserve.web.openai.Endpoint.CHAT_COMPLETIONS;
import static io.llavaserve.web.openai.Endpoint.COMPLETIONS;

import io.llavaserve.web.batchjobs.BatchConfig;
import io.llavaserve.web.batchjobs.BatchRunner;
import io.llavaserve.web.batchjobs.BatchStore;
import io.llavaserve.web.batchjobs.BatchesHandler;
import io.llavaserve.web.batchjobs.FilesHandler;
import io.llavaserve.web.errors.ApiError;
import io.llavaserve.web.errors.ErrorResponses;
import io.llavaserve.web.http.ApiKeyAuth;
import io.llavaserve.web.http.ChatPageHandler;
import io.llavaserve.web.http.CompletionsHandler;
import io.llavaserve.web.http.HealthHandler;
import io.llavaserve.web.http.MetricsHandler;
import io.llavaserve.web.lifecycle.RequestLifecycle;
import io.llavaserve.web.metrics.ServerMetrics;
import io.llavaserve.web.openai.ImageUrlFetcher;
import io.llavaserve.web.openai.ModelsHandler;
import io.llavaserve.web.openai.ServedModel;
import io.llavaserve.web.websocket.WebSocketHandler;
import io.vertx.core.AbstractVerticle;
import io.vertx.core.Promise;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

/**
 * The HTTP front end: the route table, pointing at handler classes. The server socket belongs to
 * {@link LlavaServer}, which answers with this router once the model is loaded.
 */
final class ApiVerticle extends AbstractVerticle {

  private final ServerConfig config;
  private final ServedModel served;
  private final ServerState state;
  private final ImageUrlFetcher fetcher;
  private final ServerMetrics metrics;
  private final BatchStore batchStore;
  private volatile Router router;
  private volatile BatchRunner batchRunner;

  ApiVerticle(
      ServerConfig config,
      ServedModel served,
      ServerState state,
      ImageUrlFetcher fetcher,
      ServerMetrics metrics,
      BatchStore batchStore) {
    this.config = config;
    this.batchStore = batchStore;
    this.served = served;
    this.state = state;
    this.fetcher = fetcher;
    this.metrics = metrics;
  }

  @Override
  public void start(Promise<Void> started) {
    HealthHandler health = new HealthHandler(state);
    ModelsHandler models = new ModelsHandler(served);

    Router router = Router.router(vertx);
    router.get("/health").handler(health::alive);
    router.get("/ready").handler(health::ready);
    router.get("/metrics").handler(new MetricsHandler(metrics));

    ChatPageHandler chatPage = new ChatPageHandler();
    router.get("/").handler(chatPage);
    router.get("/static/*").handler(chatPage);

    router.route("/v1/*").handler(new ApiKeyAuth(config.apiKeys()));
    router.route("/v1/*").handler(health::requireReady);
    BatchConfig batch = config.batch();
    if (batchStore != null) {
      // Uploads stream to the data directory (same file system: stored by a rename).
      router
          .post("/v1/files")
          .handler(
              BodyHandler.create(batch.dataDir().resolve("uploads").toString())
                  .setBodyLimit(batch.maxFileBytes())
                  .setDeleteUploadedFilesOnEnd(true));
    }
    router.post("/v1/*").handler(BodyHandler.create(false).setBodyLimit(config.maxBodyBytes()));
    RequestLifecycle lifecycle =
        new RequestLifecycle(vertx, served, state, config.limits(), fetcher, metrics);
    if (batchStore != null) {
      batchRunner = new BatchRunner(batchStore, lifecycle, batch.maxInFlight());
      FilesHandler files = new FilesHandler(batchStore.files());
      BatchesHandler batches = new BatchesHandler(batchStore, batchRunner);
      router.post("/v1/files").handler(files::upload);
      router.get("/v1/files").handler(files::list);
      router.get("/v1/files/:id").handler(files::get);
      router.get("/v1/files/:id/content").handler(files::content);
      router.delete("/v1/files/:id").handler(files::delete);
      router.post("/v1/batches").handler(batches::create);
      router.get("/v1/batches").handler(batches::list);
      router.get("/v1/batches/:id").handler(batches::get);
      router.post("/v1/batches/:id/cancel").handler(batches::cancel);
    }
    router
        .post(CHAT_COMPLETIONS.path())
        .handler(new CompletionsHandler(lifecycle, CHAT_COMPLETIONS));
    router.post(COMPLETIONS.path()).handler(new CompletionsHandler(lifecycle, COMPLETIONS));
    router
        .get("/v1/ws")
        .handler(new WebSocketHandler(lifecycle, state, config.wsMaxRequestsPerSocket()));
    router.get("/v1/models").handler(models::list);

    router.errorHandler(
        404, ctx -> fail(ctx, ApiError.notFound(null, "not_found", "no route " + route(ctx))));
    router.errorHandler(
        405, ctx -> fail(ctx, ApiError.methodNotAllowed(route(ctx) + " is not allowed")));
    router.errorHandler(413, ctx -> fail(ctx, ApiError.tooLarge(null, tooLarge(ctx))));
    router.errorHandler(
        500,
        ctx ->
            ErrorResponses.send(
                ctx,
                ctx.failure() != null
                    ? ctx.failure()
                    : new IllegalStateException("unknown failure")));

    this.router = router;
    started.complete();
  }

  /** The routes, once started. */
  Router router() {
    return router;
  }

  private String tooLarge(RoutingContext ctx) {
    if (batchStore != null && ctx.request().path().equals("/v1/files")) {
      return "the file is larger than "
          + config.batch().maxFileBytes()
          + " bytes (batch.max-file-bytes)";
    }
    return "the request body is larger than "
        + config.maxBodyBytes()
        + " bytes (server.max-body-bytes)";
  }

  /** The batch-job runner, or null when batch jobs are off. */
  BatchRunner batchRunner() {
    return batchRunner;
  }

  private static String route(RoutingContext ctx) {
    return ctx.request().method() + " " + ctx.request().path();
  }

  private static void fail(RoutingContext ctx, ApiError e) {
    ErrorResponses.send(ctx.response(), e);
  }
}
