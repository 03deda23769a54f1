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
import io.llavaserve.web.http.KeyQuotas;
import io.llavaserve.web.http.MetricsHandler;
import io.llavaserve.web.lifecycle.RequestLifecycle;
import io.llavaserve.web.metrics.ServerMetrics;
import io.llavaserve.web.openai.ServedModel;
import io.llavaserve.web.openai.Tokenization;
import io.llavaserve.web.openai.TokenizeHandler;
import io.llavaserve.web.websocket.WebSocketHandler;
import io.vertx.core.AbstractVerticle;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import io.vertx.ext.web.handler.CorsHandler;
import java.util.concurrent.TimeUnit;

/**
 * One HTTP front end on one event loop: it owns its server socket (Vert.x shares one listening port
 * among all instances and hands each connection to one of them, round robin) and its route table.
 * {@link LlavaServer} deploys one instance per event loop; the engine, the metrics, the batch jobs
 * and the server state are shared by all, the router and its handlers are this instance's.
 *
 * <p>Until the model is loaded it answers {@code /health} 200 and everything else 503; {@link
 * #serve} swaps in the API on this instance's own event loop.
 */
final class ApiVerticle extends AbstractVerticle {

  /**
   * What every instance shares once the model is loaded (or, at a cluster gateway, once it has
   * joined).
   *
   * @param served the model of this process; null at a gateway
   * @param lifecycle what every transport submits to
   * @param models {@code GET /v1/models}
   * @param tokenization {@code /tokenize} and {@code /detokenize}
   * @param publicApi false on an engine-only node: health, readiness and metrics alone
   */
  record Api(
      ServedModel served,
      RequestLifecycle lifecycle,
      Handler<RoutingContext> models,
      Tokenization tokenization,
      ServerMetrics metrics,
      BatchStore batchStore,
      BatchRunner batchRunner,
      KeyQuotas quotas,
      boolean publicApi) {}

  private final ServerConfig config;
  private final ServerState state;
  private final int port;
  private volatile Router router;
  private volatile HttpServer server;

  /** Connections beyond the limit, answered 503 (this instance's event loop only). */
  private final java.util.Set<HttpConnection> refused = new java.util.HashSet<>();

  /** Connections whose first request has not arrived yet, with their deadline timers. */
  private final java.util.Map<HttpConnection, Long> waiting = new java.util.HashMap<>();

  /**
   * @param port the port to listen on; negative: a free port shared by every instance given the
   *     same negative number (Vert.x's spelling of a shared port 0)
   */
  ApiVerticle(ServerConfig config, ServerState state, int port) {
    this.config = config;
    this.state = state;
    this.port = port;
  }

  @Override
  public void start(Promise<Void> started) {
    HealthHandler health = new HealthHandler(state);
    Router loading = Router.router(vertx);
    loading.get("/health").handler(health::alive);
    loading.get("/ready").handler(health::ready);
    loading.route().handler(health::requireReady);
    router = loading;
    // A WebSocket message is a request body: the same cap applies to it.
    int maxMessage = (int) Math.min(Integer.MAX_VALUE, config.maxBodyBytes());
    HttpLimits limits = config.http();
    HttpServer http =
        vertx.createHttpServer(
            new HttpServerOptions()
                .setMaxWebSocketFrameSize(maxMessage)
                .setMaxWebSocketMessageSize(maxMessage)
                .setMaxHeaderSize(limits.maxHeaderBytes())
                .setMaxInitialLineLength(limits.maxRequestLineBytes())
                .setIdleTimeout(limits.idleTimeoutSeconds())
                .setIdleTimeoutUnit(TimeUnit.SECONDS));
    http.connectionHandler(this::opened);
    http.requestHandler(this::handle)
        .listen(port, config.host())
        .onSuccess(
            bound -> {
              server = bound;
              started.complete();
            })
        .onFailure(started::fail);
  }

  /**
   * Counts the connection, marks it refused when it is one too many, and gives its first request
   * {@link HttpLimits#requestTimeoutSeconds()} to arrive.
   */
  private void opened(HttpConnection connection) {
    boolean over = state.connectionOpened() > config.http().maxConnections();
    if (over) {
      refused.add(connection);
    }
    long timeout = config.http().requestTimeoutSeconds() * 1000L;
    if (timeout > 0) {
      waiting.put(connection, vertx.setTimer(timeout, id -> tooSlow(connection)));
    }
    connection.closeHandler(
        v -> {
          state.connectionClosed();
          refused.remove(connection);
          Long timer = waiting.remove(connection);
          if (timer != null) {
            vertx.cancelTimer(timer);
          }
        });
  }

  /** A request whose headers arrived: over the connection limit, 503; else routed. */
  private void handle(HttpServerRequest request) {
    HttpConnection connection = request.connection();
    Long timer = waiting.remove(connection);
    if (timer != null) {
      vertx.cancelTimer(timer);
    }
    if (refused.contains(connection)) {
      ApiError e =
          ApiError.unavailable(
              "the server holds "
                  + config.http().maxConnections()
                  + " connections, its limit (server.max-connections); retry later");
      request
          .response()
          .setStatusCode(e.status())
          .putHeader("Content-Type", "application/json")
          .putHeader("Connection", "close")
          .putHeader("Retry-After", "1")
          .end(e.toJson().encode())
          .onComplete(v -> connection.close());
      return;
    }
    long timeout = config.http().requestTimeoutSeconds() * 1000L;
    if (timeout > 0) {
      // The body must follow within the same bound; an answer still streaming is not cut.
      vertx.setTimer(
          timeout,
          id -> {
            if (!request.isEnded() && !request.response().headWritten()) {
              tooSlow(connection);
            }
          });
    }
    router.handle(request);
  }

  /** A client that did not send its request in time loses the connection. */
  private void tooSlow(HttpConnection connection) {
    waiting.remove(connection);
    connection.close();
  }

  /** Vert.x's CORS handler for {@code origins} ("*" = any), with the API's methods and headers. */
  private static CorsHandler cors(java.util.List<String> origins) {
    CorsHandler cors =
        origins.contains("*") ? CorsHandler.create() : CorsHandler.create().addOrigins(origins);
    return cors.allowedMethods(
            java.util.Set.of(
                HttpMethod.GET, HttpMethod.POST, HttpMethod.DELETE, HttpMethod.OPTIONS))
        .allowedHeaders(java.util.Set.of("Content-Type", "Authorization", "X-Request-Id"))
        .exposedHeaders(java.util.Set.of("X-Request-Id", "Retry-After"));
  }

  /** The port this instance listens on, once started. */
  int actualPort() {
    return server.actualPort();
  }

  /** Serves the API from now on; runs on this instance's event loop. */
  Future<Void> serve(Api api) {
    Promise<Void> done = Promise.promise();
    context.runOnContext(
        v -> {
          try {
            router = apiRouter(api);
            done.complete();
          } catch (RuntimeException e) {
            done.fail(e);
          }
        });
    return done.future();
  }

  private Router apiRouter(Api api) {
    HealthHandler health =
        api.served() == null
            ? new HealthHandler(state)
            : new HealthHandler(
                state, api.served().engine()::stepRunningNanos, config.engineStallSeconds());

    Router router = Router.router(vertx);
    router
        .route()
        .handler(
            ctx -> {
              ErrorResponses.requestId(ctx); // every response carries its X-Request-Id
              ctx.next();
            });
    router.get("/health").handler(health::alive);
    router.get("/ready").handler(health::ready);
    router.get("/metrics").handler(new MetricsHandler(api.metrics()));
    if (!api.publicApi()) {
      return router; // an engine node: gateways reach it over the event bus
    }

    ChatPageHandler chatPage = new ChatPageHandler();
    router.get("/").handler(chatPage);
    router.get("/static/*").handler(chatPage);

    if (!config.corsAllowedOrigins().isEmpty()) {
      // Before the key check: a browser's preflight carries no key.
      router.route().handler(cors(config.corsAllowedOrigins()));
    }
    ApiKeyAuth auth = new ApiKeyAuth(config.apiKeys(), api.quotas());
    router.route("/v1/*").handler(auth);
    router.route("/v1/*").handler(health::requireReady);
    TokenizeHandler tokenizer = new TokenizeHandler(api.tokenization());
    for (String path : java.util.List.of("/tokenize", "/detokenize")) {
      router.route(path).handler(auth);
      router.route(path).handler(health::requireReady);
      router.post(path).handler(BodyHandler.create(false).setBodyLimit(config.maxBodyBytes()));
    }
    router.post("/tokenize").handler(tokenizer::tokenize);
    router.post("/detokenize").handler(tokenizer::detokenize);
    BatchConfig batch = config.batch();
    BatchStore batchStore = api.batchStore();
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
    RequestLifecycle lifecycle = api.lifecycle();
    if (batchStore != null) {
      FilesHandler files = new FilesHandler(batchStore.files());
      BatchesHandler batches = new BatchesHandler(batchStore, api.batchRunner());
      router.post("/v1/files").handler(files::upload).failureHandler(files::uploadFailed);
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
    router.get("/v1/models").handler(api.models());

    router.errorHandler(
        404, ctx -> fail(ctx, ApiError.notFound(null, "not_found", "no route " + route(ctx))));
    router.errorHandler(
        405, ctx -> fail(ctx, ApiError.methodNotAllowed(route(ctx) + " is not allowed")));
    router.errorHandler(413, ctx -> fail(ctx, ApiError.tooLarge(null, tooLarge(ctx, batchStore))));
    router.errorHandler(
        500,
        ctx ->
            ErrorResponses.send(
                ctx,
                ctx.failure() != null
                    ? ctx.failure()
                    : new IllegalStateException("unknown failure")));
    return router;
  }

  private String tooLarge(RoutingContext ctx, BatchStore batchStore) {
    if (batchStore != null && ctx.request().path().equals("/v1/files")) {
      return "the file is larger than "
          + config.batch().maxFileBytes()
          + " bytes (batch.max-file-bytes)";
    }
    return "the request body is larger than "
        + config.maxBodyBytes()
        + " bytes (server.max-body-bytes)";
  }

  private static String route(RoutingContext ctx) {
    return ctx.request().method() + " " + ctx.request().path();
  }

  private static void fail(RoutingContext ctx, ApiError e) {
    ErrorResponses.send(ctx.response(), e);
  }
}
