package io.llavaserve.web.media;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.SocketAddress;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Objects;
import java.util.Optional;

/**
 * Fetches an image from an http(s) URL without letting the URL reach inside the network.
 *
 * <p>Each hop (the URL, then every redirect) is checked, resolved on a worker thread, every
 * resolved address checked by {@link AddressPolicy}, and the connection made to the checked address
 * itself with the original name as {@code Host} and TLS server name, so a DNS answer that changes
 * between check and connect (rebinding) cannot redirect it. The byte cap is checked on {@code
 * Content-Length} and again on every chunk; one timer bounds the whole fetch. Nothing blocks the
 * event loop.
 */
public final class MediaFetcher implements AutoCloseable {

  private static final String USER_AGENT = "llava-serve";

  private final Vertx vertx;
  private final MediaConfig config;
  private final HttpClient client;

  public MediaFetcher(Vertx vertx, MediaConfig config) {
    this.vertx = Objects.requireNonNull(vertx, "vertx");
    this.config = Objects.requireNonNull(config, "config");
    int connectMillis = (int) Math.min(Integer.MAX_VALUE, config.timeout().toMillis());
    this.client =
        vertx.createHttpClient(
            new HttpClientOptions()
                // each connection is to one checked address: never reuse it for another
                .setKeepAlive(false)
                .setConnectTimeout(connectMillis)
                .setVerifyHost(true)
                .setDecompressionSupported(false));
  }

  /**
   * Fetches {@code url}. The future fails with a {@link MediaFetchException}: 400 when fetching is
   * disabled or the URL, host, an address or a redirect is refused; 413 over {@code maxBytes}; 502
   * on an upstream failure; 504 past {@code timeout}.
   */
  public Future<byte[]> fetch(String url) {
    if (!config.fetchEnabled()) {
      return Future.failedFuture(
          MediaFetchException.refused(
              "image_url: this server does not fetch http(s) URLs; send the image inline as"
                  + " data:image/...;base64,..."));
    }
    MediaUrl first;
    try {
      first = MediaUrl.parse(url, config);
    } catch (MediaFetchException e) {
      return Future.failedFuture(e);
    }
    Context context = vertx.getOrCreateContext();
    Promise<byte[]> promise = Promise.promise();
    // one context for the timer, the DNS result and the HTTP callbacks of this fetch
    context.runOnContext(v -> new Fetch(promise).start(first));
    return promise.future();
  }

  @Override
  public void close() {
    client.close();
  }

  /** The state of one fetch: the hop in flight, the redirects so far, the deadline. */
  private final class Fetch {
    private final Promise<byte[]> promise;
    private HttpClientRequest current;
    private int redirects;
    private long timer;

    Fetch(Promise<byte[]> promise) {
      this.promise = promise;
    }

    void start(MediaUrl url) {
      timer =
          vertx.setTimer(
              config.timeout().toMillis(),
              id ->
                  fail(
                      new MediaFetchException(
                          504,
                          "image_url was not fetched within "
                              + config.timeout().toMillis()
                              + " ms")));
      promise.future().onComplete(ar -> vertx.cancelTimer(timer));
      hop(url);
    }

    private void hop(MediaUrl url) {
      vertx
          .executeBlocking(() -> InetAddress.getAllByName(url.host()), false)
          .onSuccess(addresses -> connect(url, addresses))
          .onFailure(
              e ->
                  fail(
                      e instanceof UnknownHostException
                          ? MediaFetchException.refused(
                              "image_url host '" + url.host() + "' could not be resolved")
                          : new MediaFetchException(
                              502, "image_url host '" + url.host() + "' lookup failed", e)));
    }

    private void connect(MediaUrl url, InetAddress[] addresses) {
      if (promise.future().isComplete()) {
        return;
      }
      // every address must pass: one private answer among public ones is an attack, not luck
      for (InetAddress address : addresses) {
        Optional<String> reason =
            AddressPolicy.blockedReason(address, config.allowPrivateAddresses());
        if (reason.isPresent()) {
          fail(
              MediaFetchException.refused(
                  "image_url host '"
                      + url.host()
                      + "' resolves to "
                      + address.getHostAddress()
                      + ", a "
                      + reason.get()
                      + "; this server does not fetch from it"));
          return;
        }
      }
      InetAddress target = preferIpv4(addresses);
      RequestOptions options =
          new RequestOptions()
              .setMethod(HttpMethod.GET)
              .setServer(SocketAddress.inetSocketAddress(url.port(), target.getHostAddress()))
              .setHost(url.host())
              .setPort(url.port())
              .setSsl(url.https())
              .setURI(url.requestUri())
              .setFollowRedirects(false)
              .putHeader(HttpHeaders.ACCEPT, "image/*")
              .putHeader(HttpHeaders.USER_AGENT, USER_AGENT);
      client
          .request(options)
          .compose(
              request -> {
                current = request;
                if (promise.future().isComplete()) {
                  request.reset();
                }
                return request.send();
              })
          .onSuccess(response -> answer(url, response))
          .onFailure(
              e ->
                  fail(
                      new MediaFetchException(
                          502,
                          "image_url could not be fetched from '"
                              + url.host()
                              + "': "
                              + e.getMessage(),
                          e)));
    }

    private void answer(MediaUrl url, HttpClientResponse response) {
      int status = response.statusCode();
      String location = response.getHeader(HttpHeaders.LOCATION);
      if (isRedirect(status) && location != null) {
        response.request().reset();
        if (++redirects > config.maxRedirects()) {
          fail(
              MediaFetchException.refused(
                  "image_url redirected more than " + config.maxRedirects() + " times"));
          return;
        }
        try {
          hop(url.redirect(location, config));
        } catch (MediaFetchException e) {
          fail(e);
        }
        return;
      }
      if (status < 200 || status > 299) {
        response.request().reset();
        fail(
            new MediaFetchException(
                status >= 400 && status < 500 ? 400 : 502,
                "image_url answered HTTP " + status + " from '" + url.host() + "'"));
        return;
      }
      String length = response.getHeader(HttpHeaders.CONTENT_LENGTH);
      if (length != null && parseLength(length) > config.maxBytes()) {
        response.request().reset();
        fail(tooLarge());
        return;
      }
      Buffer body = Buffer.buffer();
      response.handler(
          chunk -> {
            if (promise.future().isComplete()) {
              return;
            }
            if ((long) body.length() + chunk.length() > config.maxBytes()) {
              fail(tooLarge());
              return;
            }
            body.appendBuffer(chunk);
          });
      response.exceptionHandler(
          e -> fail(new MediaFetchException(502, "image_url body was cut off: " + e.getMessage())));
      response.endHandler(v -> promise.tryComplete(body.getBytes()));
    }

    /** Fails the fetch once and drops the connection in flight, if any. */
    private void fail(MediaFetchException e) {
      if (promise.tryFail(e) && current != null) {
        current.reset();
      }
    }

    private MediaFetchException tooLarge() {
      return new MediaFetchException(
          413, "image at image_url is larger than the limit of " + config.maxBytes() + " bytes");
    }
  }

  private static boolean isRedirect(int status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
  }

  private static long parseLength(String header) {
    try {
      return Long.parseLong(header.trim());
    } catch (NumberFormatException e) {
      return -1; // let the chunk check decide
    }
  }

  private static InetAddress preferIpv4(InetAddress[] addresses) {
    for (InetAddress a : addresses) {
      if (a instanceof Inet4Address) {
        return a;
      }
    }
    return addresses[0];
  }
}
