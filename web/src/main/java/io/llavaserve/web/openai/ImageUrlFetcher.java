package io.llavaserve.web.openai;

import io.vertx.core.Future;

/**
 * Fetches the bytes of an http(s) image URL named in a request. The implementation decides what
 * is allowed (hosts, addresses, sizes, time); a refusal fails the future with an {@link
 * io.llavaserve.web.http.ApiError} naming the reason.
 */
public interface ImageUrlFetcher {

  Future<byte[]> fetch(String url);

  /** The fetcher of a server with media fetching off: every URL is refused with a 400. */
  static ImageUrlFetcher disabled() {
    return url ->
        Future.failedFuture(
            io.llavaserve.web.http.ApiError.badRequest(
                "image_url",
                "image_url: http(s) URLs are disabled on this server (media.fetch-enabled=false)"));
  }
}
